/**
 * `ocidelta store ls REPO` and `ocidelta store prune REPO --older-than D`: the build-farm store
 * (deep deltas and release records kept as OCI artifacts in a registry repository; see
 * docs/app.md, "Build farms").
 */
import { OciDeltaError } from '@ocidelta/core';
import { ArtifactStore, type StoreEntry } from '../app/store.js';
import type { CliIO, CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  type RegistryCliOptions,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';
import { formatIecBytes } from '../kit/size.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30d`, `12h`, `90m`, `2w`: a duration in ms. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/.exec(text);
  if (!m) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `--older-than must be a duration like 30d, 12h or 90m, not "${text}"`,
      {
        option: '--older-than',
      },
    );
  }
  return Number(m[1]) * UNITS[m[2]!]!;
}

function print(io: CliIO, entries: StoreEntry[]): void {
  for (const e of entries) {
    io.stdout.write(
      `${e.kind.padEnd(7)}  ${formatIecBytes(e.size).padStart(10)}  ${(e.createdAt ?? '-').padEnd(24)}  ${e.tag}  ${e.label}\n`,
    );
  }
}

export const storeLsCommand: CommandDef = {
  path: ['store', 'ls'],
  summary: 'List the deltas and release records of a build-farm store',
  define(cli, io) {
    withRegistryOptions(cli.command('<repo>', 'List the store REPO (registry/repository)'), {
      json: true,
    }).action(async (repo: string, opts: RegistryCliOptions) =>
      withClient(opts, io, [repo], async (client) => {
        const entries = await new ArtifactStore(client, repo).list();
        if (opts.json) writeJson(io, { store: repo, entries });
        else print(io, entries);
        return ExitCode.Ok;
      }),
    );
  },
};

export const storePruneCommand: CommandDef = {
  path: ['store', 'prune'],
  summary: 'Delete store entries older than a duration (the registry must allow deletes)',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<repo>', 'Prune the store REPO')
        .option('--older-than <duration>', 'Delete entries created before this long ago (e.g. 30d, 12h)'),
      { json: true },
    ).action(async (repo: string, opts: RegistryCliOptions & { olderThan?: string }) => {
      if (typeof opts.olderThan !== 'string') {
        throw new OciDeltaError('ERR_INVALID_OPTIONS', '--older-than is required (e.g. --older-than 30d)', {
          option: '--older-than',
        });
      }
      const cutoff = Date.now() - parseDuration(opts.olderThan);
      return withClient(opts, io, [repo], async (client) => {
        const removed = await new ArtifactStore(client, repo).prune(cutoff);
        if (opts.json) writeJson(io, { store: repo, removed });
        else {
          print(io, removed);
          io.stdout.write(
            `removed ${removed.length} entr${removed.length === 1 ? 'y' : 'ies'}; run the registry's garbage collection to free their blobs\n`,
          );
        }
        return ExitCode.Ok;
      });
    });
  },
};
