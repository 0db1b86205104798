/**
 * `ocidelta push (DIR | FILE | oci:DIR[:NAME] | oci-archive:FILE[:NAME] | docker-archive:FILE[:NAME])
 * REF`: push an OCI layout directory, oci-archive or docker-archive to a registry (blobs first,
 * skipping those present; manifests after their children).
 */
import { resolve } from 'node:path';
import { parseImageRef } from '@ocidelta/core';
import { pushLayout } from '@ocidelta/registry';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { TRANSFER_PHASES, withProgress } from '../kit/progress.js';
import {
  intOption,
  type RegistryCliOptions,
  stringOption,
  withClient,
  withRegistryOptions,
  writeResult,
} from '../kit/registry-options.js';

interface PushCliOptions extends RegistryCliOptions {
  platform?: string;
  select?: string;
  concurrency?: number;
  mountFrom?: string;
}

export const pushCommand: CommandDef = {
  path: ['push'],
  summary: 'Push an OCI layout directory or image archive to a registry',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<source> <ref>', 'Push SOURCE (layout dir, oci-archive or docker-archive) to REF')
        .option(
          '--select <name>',
          'Entry of the layout/archive to push (ref name or digest; default the only one)',
        )
        .option('-p, --platform <os/arch[/variant]>', 'From an index, push only this platform')
        .option('--mount-from <repo>', 'Mount missing blobs from this repository of the same registry')
        .option('--concurrency <n>', 'Parallel blob uploads (default 4)')
        .option('-q, --quiet', 'No progress output'),
      { json: true },
    ).action(async (source: string, ref: string, opts: PushCliOptions) => {
      // skopeo's forms too: oci:DIR[:NAME], oci-archive:FILE[:NAME], docker-archive:FILE[:NAME].
      const loc = parseImageRef(source, io.cwd);
      const named = loc.transport !== 'docker' && loc.transport !== 'path' ? loc : undefined;
      const select = stringOption(opts.select, '--select') ?? named?.name;
      const platform = stringOption(opts.platform, '--platform');
      const mountFrom = stringOption(opts.mountFrom, '--mount-from');
      const result = await withClient(opts, io, [ref], (client) =>
        withProgress(io, opts, { title: 'push', phaseNames: TRANSFER_PHASES }, (onProgress) =>
          pushLayout(client, named ? named.path : resolve(io.cwd, source), ref, {
            ...(select !== undefined
              ? {
                  select:
                    select.includes(':') && select.startsWith('sha') ? { digest: select } : { ref: select },
                }
              : {}),
            ...(platform !== undefined ? { platform } : {}),
            ...(mountFrom !== undefined ? { mountFrom } : {}),
            concurrency: intOption(opts.concurrency, '--concurrency'),
            onProgress,
            ...(io.signal ? { signal: io.signal } : {}),
          }),
        ),
      );
      writeResult(io, opts, result);
      return ExitCode.Ok;
    });
  },
};
