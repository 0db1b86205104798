/**
 * Where a command's byte output goes: stdout, or with `-o FILE` a file that appears only once
 * the stream ended cleanly (checks in the stream, such as a digest, have passed).
 */
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeFileAtomic } from '@ocidelta/core';
import type { CliIO } from '../command.js';

export async function writeOutput(io: CliIO, stream: Readable, output: string | undefined): Promise<void> {
  if (output === undefined) await pipeline(stream, io.stdout, { end: false });
  else await writeFileAtomic(resolve(io.cwd, output), stream, io.signal ? { signal: io.signal } : {});
}
