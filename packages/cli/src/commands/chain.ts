/**
 * `ocidelta chain DIR --prefix REGISTRY/NAMESPACE [--select GLOB] [--dry-run] [--publish]
 * [--json]`: build a tree of images that build on each other (docker-pkg's layout) in
 * dependency order; see chain/ for the tree, the graph and the states.
 */
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { makeWorkDir, OciDeltaError, OciLayout, parseImageRef } from '@ocidelta/core';
import { orderChain, selectChain } from '../chain/graph.js';
import { type ChainEntry, chainRef, planChain, runChain } from '../chain/run.js';
import { readChainTree, treeParentName } from '../chain/tree.js';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  intOption,
  type RegistryCliOptions,
  stringOption,
  wholeNumberOption,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';

interface ChainCliOptions extends RegistryCliOptions {
  prefix?: string;
  select?: string | string[];
  dryRun?: boolean;
  publish?: boolean;
  jobs?: number | string;
  mtime?: number | string;
}

function describe(e: ChainEntry): string {
  const extra = [
    e.parents.length ? `parents: ${e.parents.join(', ')}` : '',
    e.reason === 'parent' ? 'rebuilt: a parent is rebuilt' : '',
    e.blockedBy ? `blocked by ${e.blockedBy}` : '',
    e.error ?? '',
  ].filter(Boolean);
  return `${e.state.padEnd(9)} ${e.name.padEnd(16)} ${e.ref}${extra.length ? `  (${extra.join('; ')})` : ''}`;
}

export const chainCommand: CommandDef = {
  path: ['chain'],
  summary: 'Build a tree of images that build on each other, parents first, and publish them',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<dir>', 'Build the images of DIR (subdirectories with an image.yaml)')
        .option('--prefix <registry/namespace>', 'Where images live: PREFIX/NAME:TAG (required)')
        .option('--select <glob>', 'Only images whose name matches (repeatable; their parents come along)')
        .option('--dry-run', 'Print the plan (states after a HEAD of every image) and stop')
        .option('--publish', 'Push each image once built and verified (else build and verify only)')
        .option('--jobs <n>', 'Independent images built at once (default 2)')
        .option('--mtime <seconds>', 'Timestamp of every entry (default SOURCE_DATE_EPOCH, else 0)'),
      { json: true },
    ).action(async (dirArg: string, opts: ChainCliOptions) => {
      const prefix = stringOption(opts.prefix, '--prefix');
      if (prefix === undefined) {
        throw new OciDeltaError('ERR_INVALID_OPTIONS', 'chain needs --prefix REGISTRY/NAMESPACE', {
          option: '--prefix',
        });
      }
      if (opts.dryRun && opts.publish) {
        throw new OciDeltaError('ERR_INVALID_OPTIONS', '--dry-run and --publish exclude each other', {});
      }
      const jobs = intOption(opts.jobs, '--jobs');
      const mtime = wholeNumberOption(opts.mtime, '--mtime', 'seconds since the epoch');
      const globs = (opts.select === undefined ? [] : [opts.select].flat()).flatMap((g) =>
        String(g)
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
      const dir = resolve(io.cwd, dirArg);
      const ordered = selectChain(orderChain(await readChainTree(dir)), globs);
      const registryRefs = [
        chainRef(prefix, { name: 'x', tag: 'x' }).toString(),
        ...ordered.flatMap((i) =>
          i.spec.images.flatMap((s) => {
            if (typeof s.parent !== 'string' || treeParentName(s.parent) !== undefined) return [];
            const loc = parseImageRef(s.parent, i.dir);
            return loc.transport === 'docker' ? [loc.ref] : [];
          }),
        ),
      ];
      return withClient(opts, io, registryRefs, async (client) => {
        const plan = await planChain(client, ordered, prefix, io.signal);
        let result = plan;
        if (!opts.dryRun) {
          const work = await makeWorkDir(tmpdir(), 'chain');
          try {
            result = await runChain(client, ordered, plan, {
              prefix,
              publish: opts.publish === true,
              ...(jobs !== undefined ? { jobs } : {}),
              store: await OciLayout.create(resolve(work.path, 'store')),
              ...(mtime !== undefined ? { mtime } : {}),
              env: io.env,
              ...(io.signal ? { signal: io.signal } : {}),
              onState: (e) => {
                if (!opts.json) io.stderr.write(`${describe(e)}\n`);
              },
            });
          } finally {
            await work.remove();
          }
        }
        if (opts.json) {
          writeJson(io, { order: result });
        } else {
          for (const e of result) io.stdout.write(`${describe(e)}\n`);
        }
        const bad = result.filter((e) => e.state === 'error' || e.blockedBy !== undefined);
        return bad.length > 0 ? ExitCode.Input : ExitCode.Ok;
      });
    });
  },
};
