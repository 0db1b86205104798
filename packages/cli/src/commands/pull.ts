/**
 * `ocidelta pull REF (--oci DIR | --oci-archive FILE | --docker-archive FILE)`: pull an image
 * (or an index: one platform, or all with --all-platforms) from a registry, like
 * `skopeo copy docker://REF oci:DIR`.
 */
import { resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import { pullImage } from '@ocidelta/registry';
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

interface PullCliOptions extends RegistryCliOptions {
  oci?: string;
  ociArchive?: string;
  dockerArchive?: string;
  platform?: string;
  allPlatforms?: boolean;
  concurrency?: number;
  name?: string;
}

export const pullCommand: CommandDef = {
  path: ['pull'],
  summary: 'Pull an image or index from a registry into an OCI layout or archive',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<ref>', 'Pull REF from its registry')
        .option('--oci <dir>', 'Write into an OCI image layout directory')
        .option('--oci-archive <file>', 'Write an oci-archive (tar of an OCI layout)')
        .option('--docker-archive <file>', 'Write a docker-archive (`docker load` input)')
        .option(
          '-p, --platform <os/arch[/variant]>',
          'From an index, pull this platform (default: this machine)',
        )
        .option('--all-platforms', 'From an index, pull every platform and keep the index')
        .option('--name <name>', 'Name in the destination (default: the tag)')
        .option('--concurrency <n>', 'Parallel layer downloads (default 4)')
        .option('-q, --quiet', 'No progress output'),
      { json: true },
    ).action(async (ref: string, opts: PullCliOptions) => {
      const oci = stringOption(opts.oci, '--oci');
      const ociArchive = stringOption(opts.ociArchive, '--oci-archive');
      const dockerArchive = stringOption(opts.dockerArchive, '--docker-archive');
      if ([oci, ociArchive, dockerArchive].filter((x) => x !== undefined).length !== 1) {
        throw new OciDeltaError(
          'ERR_INVALID_OPTIONS',
          'give exactly one of --oci, --oci-archive, --docker-archive',
          {},
        );
      }
      const platform = stringOption(opts.platform, '--platform');
      if (platform !== undefined && opts.allPlatforms) {
        throw new OciDeltaError(
          'ERR_INVALID_OPTIONS',
          '--platform and --all-platforms exclude each other',
          {},
        );
      }
      const result = await withClient(opts, io, [ref], (client) =>
        withProgress(io, opts, { title: 'pull', phaseNames: TRANSFER_PHASES }, (onProgress) =>
          pullImage(client, ref, {
            ...(oci !== undefined ? { oci: resolve(io.cwd, oci) } : {}),
            ...(ociArchive !== undefined ? { ociArchive: resolve(io.cwd, ociArchive) } : {}),
            ...(dockerArchive !== undefined ? { dockerArchive: resolve(io.cwd, dockerArchive) } : {}),
            ...(platform !== undefined ? { platform } : {}),
            allPlatforms: opts.allPlatforms === true,
            concurrency: intOption(opts.concurrency, '--concurrency'),
            name: stringOption(opts.name, '--name'),
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
