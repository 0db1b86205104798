/**
 * `ocidelta cache ls` and `ocidelta cache prune [--max-size SIZE]`: inspect and trim the app
 * pipeline's cache (pulled blobs, computed deltas; release records are kept).
 */
import { resolve } from 'node:path';
import type { CAC } from 'cac';
import { AppCache, type CacheEntry } from '../app/cache.js';
import { defaultCacheDir } from '../app/options.js';
import { type CliIO, type CommandDef, ExitCode } from '../command.js';
import { writeJson } from '../kit/registry-options.js';
import { formatIecBytes, parseByteSize } from '../kit/size.js';

function cacheDirOf(o: Record<string, unknown>, io: CliIO): string {
  return resolve(io.cwd, typeof o.cacheDir === 'string' ? o.cacheDir : defaultCacheDir(io.env));
}

function total(entries: CacheEntry[]): number {
  return entries.reduce((n, e) => n + e.size, 0);
}

export const cacheLsCommand: CommandDef = {
  path: ['cache', 'ls'],
  summary: 'List the cache: pulled blobs, computed deltas, recorded releases',
  define(cli: CAC, io: CliIO) {
    cli
      .command('', 'List cached items')
      .option(
        '--cache-dir <dir>',
        'Cache directory (env OCIDELTA_CACHE_DIR or MENDER_HELPER_CACHE_DIR, else $XDG_CACHE_HOME/ocidelta)',
      )
      .option('--json', 'Print JSON')
      .action(async (o: Record<string, unknown>) => {
        const cache = await AppCache.open(cacheDirOf(o, io));
        const entries = await cache.list();
        if (o.json) {
          writeJson(io, { dir: cache.dir, total: total(entries), entries });
          return ExitCode.Ok;
        }
        io.stdout.write(`cache ${cache.dir}\n`);
        for (const kind of ['release', 'delta', 'blob'] as const) {
          const list = entries.filter((e) => e.kind === kind);
          io.stdout.write(`\n${kind}s: ${list.length} (${formatIecBytes(total(list))})\n`);
          for (const e of list.sort((a, b) => b.mtimeMs - a.mtimeMs)) {
            io.stdout.write(`  ${formatIecBytes(e.size).padStart(10)}  ${e.label}\n`);
          }
        }
        io.stdout.write(`\ntotal: ${formatIecBytes(total(entries))}\n`);
        return ExitCode.Ok;
      });
  },
};

export const cachePruneCommand: CommandDef = {
  path: ['cache', 'prune'],
  summary: 'Remove cached blobs and deltas (least recently used first) down to --max-size',
  define(cli: CAC, io: CliIO) {
    cli
      .command('', 'Prune the cache')
      .option(
        '--cache-dir <dir>',
        'Cache directory (env OCIDELTA_CACHE_DIR or MENDER_HELPER_CACHE_DIR, else $XDG_CACHE_HOME/ocidelta)',
      )
      .option(
        '--max-size <size>',
        'Keep at most this much (e.g. 500M, 10G); default: remove all blobs and deltas',
      )
      .action(async (o: Record<string, unknown>) => {
        const maxSize = o.maxSize === undefined ? undefined : parseByteSize(String(o.maxSize), '--max-size');
        const cache = await AppCache.open(cacheDirOf(o, io));
        const { removed, kept } = await cache.prune({ maxSize });
        io.stdout.write(
          `removed ${removed.length} item(s), ${formatIecBytes(total(removed))}; ${formatIecBytes(kept)} of blobs and deltas kept\n`,
        );
        return ExitCode.Ok;
      });
  },
};
