/**
 * `ocidelta copy SRC DEST`: copy an image or a whole index between repositories or registries
 * (blobs mounted within one registry, streamed between registries; digests unchanged).
 */
import { copyImage } from '@ocidelta/registry';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { TRANSFER_PHASES, withProgress } from '../kit/progress.js';
import {
  intOption,
  type SideCliOptions,
  sideOptions,
  stringOption,
  withClient,
  withRegistryOptions,
  withSideOptions,
  writeResult,
} from '../kit/registry-options.js';

interface CopyCliOptions extends SideCliOptions {
  platform?: string;
  concurrency?: number;
}

export const copyCommand: CommandDef = {
  path: ['copy'],
  summary: 'Copy an image or index from one registry reference to another',
  define(cli, io) {
    withRegistryOptions(
      withSideOptions(cli.command('<src> <dest>', 'Copy SRC to DEST'))
        .option('-p, --platform <os/arch[/variant]>', 'From an index, copy only this platform (default: all)')
        .option('--concurrency <n>', 'Parallel blob transfers (default 4)')
        .option('-q, --quiet', 'No progress output'),
      { json: true },
    ).action(async (src: string, dest: string, opts: CopyCliOptions) => {
      const platform = stringOption(opts.platform, '--platform');
      const result = await withClient(sideOptions(opts, 'src'), io, [src, dest], (client) =>
        withClient(sideOptions(opts, 'dest'), io, [src, dest], (destClient) =>
          withProgress(io, opts, { title: 'copy', phaseNames: TRANSFER_PHASES }, (onProgress) =>
            copyImage(client, src, dest, {
              destClient,
              ...(platform !== undefined ? { platform } : {}),
              concurrency: intOption(opts.concurrency, '--concurrency'),
              onProgress,
              ...(io.signal ? { signal: io.signal } : {}),
            }),
          ),
        ),
      );
      writeResult(io, opts, result);
      return ExitCode.Ok;
    });
  },
};
