/** The artifact file a command reads (`artifact inspect`, `validate`), verified with `--key` when given. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import { type ArtifactInfo, readArtifact } from '@ocidelta/core/mender';
import type { CliIO } from '../command.js';
import { parseArgs } from './args.js';
import { parseByteSize } from './size.js';

/** Read the artifact named by the positional argument, verifying with `--key` when given. */
export async function readArtifactFromArgs(
  argv: readonly string[],
  io: CliIO,
  withJson: boolean,
): Promise<{ info: ArtifactInfo; json: boolean }> {
  const a = parseArgs(argv, [
    { long: 'key', short: 'k', kind: 'string' },
    { long: 'max-header-size', kind: 'string' },
    ...(withJson ? [{ long: 'json', kind: 'bool' as const }] : []),
  ]);
  if (a.positionals.length !== 1) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', 'expected exactly one artifact file argument', {});
  }
  const file = resolve(io.cwd, a.positionals[0]!);
  const options: { publicKey?: string; maxHeaderSize?: number } = {};
  if (a.strings['max-header-size'] !== undefined) {
    options.maxHeaderSize = parseByteSize(a.strings['max-header-size'], '--max-header-size');
  }
  if (a.strings.key !== undefined) {
    const keyFile = resolve(io.cwd, a.strings.key);
    options.publicKey = await readFile(keyFile, 'utf8').catch((err: unknown) => {
      throw new OciDeltaError('ERR_INPUT', `--key ${keyFile}: ${(err as Error).message}`, { path: keyFile });
    });
  }
  return { info: await readArtifact(file, options), json: a.bools.json === true };
}
