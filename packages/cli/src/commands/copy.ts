/**
 * `ocidelta copy SRC DEST`: copy an image or a whole index between repositories or registries
 * (blobs mounted within one registry, streamed between registries; digests unchanged).
 */
import { copyImage } from '@ocidelta/registry';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  createClient,
  intOption,
  progressReporter,
  type RegistryCliOptions,
  stringOption,
  withRegistryOptions,
  writeJson,
} from '../registry-options.js';

interface CopyCliOptions extends RegistryCliOptions {
  platform?: string;
  concurrency?: number;
}

export const copyCommand: CommandDef = {
  path: ['copy'],
  summary: 'Copy an image or index from one registry reference to another',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<src> <dest>', 'Copy SRC to DEST')
        .option('--platform <os/arch[/variant]>', 'From an index, copy only this platform (default: all)')
        .option('--concurrency <n>', 'Parallel blob transfers (default 4)')
        .option('-q, --quiet', 'No progress output'),
      { json: true },
    ).action(async (src: string, dest: string, opts: CopyCliOptions) => {
      const platform = stringOption(opts.platform, '--platform');
      const client = createClient(opts, io, [src, dest]);
      try {
        const result = await copyImage(client, src, dest, {
          ...(platform !== undefined ? { platform } : {}),
          concurrency: intOption(opts.concurrency, '--concurrency'),
          onProgress: progressReporter(io, opts),
        });
        if (opts.json) writeJson(io, result);
        else io.stdout.write(`${result.digest}\n`);
        return ExitCode.Ok;
      } finally {
        await client.close();
      }
    });
  },
};
