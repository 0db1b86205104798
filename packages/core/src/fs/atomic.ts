/**
 * Files that appear complete or not at all: every output is built under a temp name beside its
 * target (same directory, so the rename is atomic) and renamed into place only when whole; on
 * any failure the temp file is removed. The temp name carries the writer's owner tag, so a later
 * run can sweep what a killed one left (work-dir.ts).
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, copyFile, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type BlobData, toReadable } from '../blob-data.js';
import { ownerTag } from './file-lock.js';

/** `.tmp-<name>-<owner tag>-<random>` beside `target`. */
export function tempPathFor(target: string): string {
  return join(
    dirname(target),
    `.tmp-${basename(target).slice(0, 16)}-${ownerTag()}-${randomBytes(6).toString('hex')}`,
  );
}

/**
 * Run `write(tmp)` on a fresh temp path beside `target`, then rename it to `target`; when
 * `write` (or the rename) fails, remove the temp file and rethrow the error as is.
 */
export async function replaceFile<T>(target: string, write: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = tempPathFor(target);
  try {
    const result = await write(tmp);
    await rename(tmp, target);
    return result;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export interface AtomicWriteOptions {
  signal?: AbortSignal;
  /** File mode of the new file (e.g. 0o600 for credentials), set before it is renamed. */
  mode?: number;
}

/** Write `data` to `target` atomically (see {@link replaceFile}). Returns the bytes written. */
export async function writeFileAtomic(
  target: string,
  data: BlobData | string,
  options: AtomicWriteOptions = {},
): Promise<number> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return replaceFile(target, async (tmp) => {
    await pipeline(
      toReadable(bytes),
      createWriteStream(tmp, { flags: 'wx', ...(options.mode !== undefined ? { mode: options.mode } : {}) }),
      { signal: options.signal },
    );
    if (options.mode !== undefined) await chmod(tmp, options.mode);
    return (await stat(tmp)).size;
  });
}

/**
 * Move the finished file `from` to `target` atomically: a rename, or across filesystems a copy
 * to a temp name beside `target` that is then renamed (and `from` removed).
 */
export async function moveIntoPlace(from: string, target: string): Promise<void> {
  try {
    await rename(from, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await replaceFile(target, (tmp) => copyFile(from, tmp));
    await rm(from, { force: true });
  }
}

/**
 * Give a file-writing function a stream sink: `write` builds its output in a private temp
 * directory (under `tmpDir`, default the OS's), which is then streamed into `sink` (not ended:
 * stdout stays usable) and removed. For formats whose writer must seek back (a tar member's
 * size, a Mender manifest of hashes): the sink only ever sees a complete, checked file.
 */
export async function writeThroughFile<T>(
  sink: NodeJS.WritableStream,
  name: string,
  write: (path: string) => Promise<T>,
  options: { tmpDir?: string; signal?: AbortSignal } = {},
): Promise<T> {
  const dir = await mkdtemp(join(options.tmpDir ?? tmpdir(), '.ocidelta-out-'));
  try {
    const file = join(dir, basename(name));
    const result = await write(file);
    await pipeline(createReadStream(file), sink, {
      end: false,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
