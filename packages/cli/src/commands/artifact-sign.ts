/**
 * `ocidelta artifact sign ARTIFACT -k KEY [-o OUT] [-f]`: sign an existing artifact (flags of
 * `mender-artifact sign`): in place without -o; an already signed artifact needs -f.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { OciDeltaError, signArtifact } from '@ocidelta/core';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { stringOption } from '../registry-options.js';

export const artifactSignCommand: CommandDef = {
  path: ['artifact', 'sign'],
  summary: 'Sign an existing Mender artifact (mender-artifact sign)',
  define(cli, io) {
    cli
      .command('<artifact>', 'Sign ARTIFACT (checked first: format and checksums)')
      .option('-k, --key <file>', 'PEM private key, RSA or ECDSA P-256 (required)')
      .option('-o, --output-path <file>', 'Write the signed artifact here (default: in place)')
      .option('-f, --force', 'Sign again an artifact that is already signed')
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
