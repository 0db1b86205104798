/**
 * `ocidelta status REF... [--file refs.txt]`: which images are published. HEADs every
 * reference (bounded concurrency, nothing pulled) and prints present/missing, digest, media
 * type and platforms; `--require-all` exits 2 when any is missing.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { OciDeltaError, parseReference } from '@ocidelta/core';
import { imageStatus, parseRefsFile } from '@ocidelta/registry';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  intOption,
  type RegistryCliOptions,
  stringOption,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';

interface StatusCliOptions extends RegistryCliOptions {
  file?: string;
  requireAll?: boolean;
  concurrency?: number;
}

export const statusCommand: CommandDef = {
  path: ['status'],
  summary: 'Report which image references exist in their registries (HEAD only)',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('[...refs]', 'Check REFs (and those listed in --file)')
        .option('--file <file>', 'Read references from a file, one per line (# comments allowed)')
        .option('--require-all', 'Exit 2 when any reference is missing')
        .option('--concurrency <n>', 'Requests in flight at once (default 8)'),
      { json: true },
    ).action(async (args: string[], opts: StatusCliOptions) => {
      const refs = [...args];
      const file = stringOption(opts.file, '--file');
      if (file !== undefined) {
        const path = resolve(io.cwd, file);
        let text: string;
        try {
          text = await readFile(path, 'utf8');
        } catch (err) {
          throw new OciDeltaError('ERR_INPUT', `cannot read --file ${path}`, { path }, { cause: err });
        }
        refs.push(...parseRefsFile(text));
      }
      if (refs.length === 0) {
        throw new OciDeltaError('ERR_INVALID_OPTIONS', 'give at least one reference or --file', {});
      }
      // Unparsable references are reported per line, not fatal; --insecure covers the others.
      const valid = refs
        .map((r) => r.replace(/^docker:\/\//, ''))
        .filter((r) => {
          try {
            parseReference(r);
            return true;
          } catch {
            return false;
          }
        });
      return withClient(opts, io, valid, async (client) => {
        const status = await imageStatus(client, refs, {
          concurrency: intOption(opts.concurrency, '--concurrency'),
        });
        if (opts.json) writeJson(io, status);
        else {
          for (const s of status) {
            const state = s.present ? 'present' : s.error ? 'unknown' : 'missing';
            const details = s.present
              ? `${s.digest} ${s.mediaType}${s.platforms?.length ? ` ${s.platforms.join(',')}` : ''}`
              : (s.error ?? '');
            io.stdout.write(`${state.padEnd(8)} ${s.ref}${details ? `  ${details}` : ''}\n`);
          }
        }
        const missing = status.filter((s) => !s.present).length;
        if (opts.requireAll && missing > 0) {
          io.stderr.write(`ocidelta: ${missing} of ${status.length} references are not present\n`);
          return ExitCode.Input;
        }
        return ExitCode.Ok;
      });
    });
  },
};
