/**
 * `ocidelta index merge SRC DEST`: merge the platforms of SRC into the index at DEST (or
 * `--to REF`): SRC's platforms win, DEST keeps the ones SRC lacks; `--platforms` takes only
 * those from SRC. `--dry-run` prints the merged index without pushing.
 */
import { mergeIndex } from '@ocidelta/registry';
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
  writeJson,
} from '../kit/registry-options.js';

interface MergeCliOptions extends SideCliOptions {
  to?: string;
  platforms?: string;
  dryRun?: boolean;
  concurrency?: number;
}

export const indexMergeCommand: CommandDef = {
  path: ['index', 'merge'],
  summary: 'Merge the platform manifests of one index into another and push the result',
  define(cli, io) {
    withRegistryOptions(
      withSideOptions(
        cli.command('<src> <dest>', 'Merge SRC into DEST (DEST may not exist yet)'),
        'SRC',
        'DEST and --to',
      )
        .option('--to <ref>', 'Push the merged index here instead of DEST')
        .option(
          '--platforms <list>',
          'Take only these platforms from SRC (comma-separated: amd64,arm64 or linux/arm/v7)',
        )
        .option('--dry-run', 'Print the merged index; copy and push nothing')
        .option('--concurrency <n>', 'Parallel blob transfers (default 4)')
        .option('-q, --quiet', 'No progress output'),
      { json: true },
    ).action(async (src: string, dest: string, opts: MergeCliOptions) => {
      const to = stringOption(opts.to, '--to');
      const platforms = stringOption(opts.platforms, '--platforms')
        ?.split(',')
        .map((p) => p.trim())
        .filter((p) => p !== '');
      const refs = [src, dest, ...(to ? [to] : [])];
      const result = await withClient(sideOptions(opts, 'src'), io, refs, (client) =>
        withClient(sideOptions(opts, 'dest'), io, refs, (destClient) =>
          withProgress(io, opts, { title: 'merge', phaseNames: TRANSFER_PHASES }, (onProgress) =>
            mergeIndex(client, src, dest, {
              destClient,
              ...(to !== undefined ? { to } : {}),
              ...(platforms !== undefined ? { platforms } : {}),
              dryRun: opts.dryRun === true,
              concurrency: intOption(opts.concurrency, '--concurrency'),
              onProgress,
              onWarning: (w) => io.stderr.write(`warning: ${w}\n`),
              ...(io.signal ? { signal: io.signal } : {}),
            }),
          ),
        ),
      );
      if (opts.json) {
        const { bytes: _bytes, ...rest } = result;
        writeJson(io, rest);
      } else if (opts.dryRun) {
        writeJson(io, result.index);
      } else {
        for (const e of result.entries) io.stderr.write(`${e.platform.padEnd(20)} ${e.digest} (${e.from})\n`);
        io.stdout.write(`${result.digest}\n`);
      }
      return ExitCode.Ok;
    });
  },
};
