/** Input files named by command options: resolved against the CLI's cwd, checked to exist. */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import type { CliIO } from '../command.js';

/** Resolve a required file option, failing with a clear error when missing. */
export async function requireFile(flag: string, value: string | undefined, io: CliIO): Promise<string> {
  if (typeof value !== 'string' || value === '') {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', `${flag} is required`, { option: flag });
  }
  const file = resolve(io.cwd, value);
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new OciDeltaError('ERR_INPUT', `${flag} ${file}: no such file`, { path: file });
  return file;
}
