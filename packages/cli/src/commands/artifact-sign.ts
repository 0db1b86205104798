/**
 * `ocidelta artifact sign ARTIFACT -k KEY [-o OUT] [--force]`: sign an existing artifact (flags of
 * `mender-artifact sign`): in place without -o; an already signed artifact needs --force.
 * `ocidelta mender-artifact sign` takes mender-artifact's `-f` too.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import { signArtifact } from '@ocidelta/core/mender';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { stringOption } from '../kit/registry-options.js';

/** `sign` under `path`; `-f` (mender-artifact's --force) only where mender-artifact's letters are kept. */
function signCommand(path: string[], summary: string, forceFlag: string): CommandDef {
  return {
    path,
    summary,
    define(cli, io) {
      cli
        .command('<artifact>', 'Sign ARTIFACT (checked first: format and checksums)')
        .option('-k, --key <file>', 'PEM private key, RSA or ECDSA P-256 (required)')
        .option('-o, --output-path <file>', 'Write the signed artifact here (default: in place)')
        .option(forceFlag, 'Sign again an artifact that is already signed')
        .action(async (artifact: string, opts: { key?: string; outputPath?: string; force?: boolean }) => {
          const keyFile = stringOption(opts.key, '--key');
          if (keyFile === undefined)
            throw new OciDeltaError('ERR_INVALID_OPTIONS', 'artifact sign needs -k KEY', { option: '--key' });
          const key = await readFile(resolve(io.cwd, keyFile), 'utf8').catch((err: unknown) => {
            throw new OciDeltaError('ERR_INPUT', `--key ${keyFile}: ${(err as Error).message}`, {
              path: keyFile,
            });
          });
          const input = resolve(io.cwd, artifact);
          const out = stringOption(opts.outputPath, '--output-path');
          const result = await signArtifact(input, out === undefined ? input : resolve(io.cwd, out), key, {
            force: opts.force === true,
            ...(io.signal ? { signal: io.signal } : {}),
          });
          io.stdout.write(`signed ${result.path}${result.replaced ? ' (signature replaced)' : ''}\n`);
          return ExitCode.Ok;
        });
    },
  };
}

/** In ocidelta `-f` names a file to ship, so force is `--force` only. */
export const artifactSignCommand = signCommand(
  ['artifact', 'sign'],
  'Sign an existing Mender artifact (mender-artifact sign; --force by long name)',
  '--force',
);

/** mender-artifact's `sign` command line as it is (`-f` = --force). */
export const menderArtifactSignCommand = signCommand(
  ['mender-artifact', 'sign'],
  'mender-artifact sign, flag for flag (-f force)',
  '-f, --force',
);
