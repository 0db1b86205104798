/**
 * Stream content into a file atomically: written to a temp name beside the target, hashed while
 * written, verified against an optional expected digest/size, then renamed into place. A failed
 * or aborted write leaves nothing behind.
 */

import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Digest, type DigestAlgorithm, Digester, parseDigest } from '../digest.js';
import { DigestMismatchError, OciDeltaError, SizeMismatchError } from '../errors.js';
import type { Progress } from '../progress.js';
import { ownerTag } from './file-lock.js';

/** Content accepted by blob writers. */
export type BlobData = Readable | AsyncIterable<Uint8Array> | Uint8Array;

/** Progress of a long write: bytes done and, when known, the total (part of {@link Progress}). */
export type ByteProgress = Pick<Progress, 'done' | 'total'>;

export interface WriteOptions {
  signal?: AbortSignal;
  onProgress?: (p: ByteProgress) => void;
}

export interface ExpectedContent {
  digest?: string;
  size?: number;
}

/**
 * A temp file name beside `target` (same directory, so rename is atomic):
 * `.tmp-<name>-<owner tag>-<random>`, where the owner tag lets a later run sweep what a killed
 * one left (see work-dir.ts).
 */
export function tempPathFor(target: string): string {
  return join(
    dirname(target),
    `.tmp-${basename(target).slice(0, 16)}-${ownerTag()}-${randomBytes(6).toString('hex')}`,
  );
}

/** Turn any BlobData into a Readable. */
export function toReadable(data: BlobData): Readable {
  if (data instanceof Readable) return data;
  if (data instanceof Uint8Array)
    return Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
  return Readable.from(data);
}

/** Pass-through that hashes, counts, enforces a maximum size and reports progress. */
export class HashingCounter extends Transform {
  readonly digester: Digester;
  private readonly limit: number | undefined;
  private readonly context: Record<string, unknown>;
  private readonly progress: ((p: ByteProgress) => void) | undefined;
  constructor(
    algorithm: DigestAlgorithm,
    options: {
      limit?: number;
      context?: Record<string, unknown>;
      onProgress?: (p: ByteProgress) => void;
    } = {},
  ) {
    super();
    this.digester = new Digester(algorithm);
    this.limit = options.limit;
    this.context = options.context ?? {};
    this.progress = options.onProgress;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.digester.update(chunk);
    if (this.limit !== undefined && this.digester.size > this.limit) {
      callback(new SizeMismatchError(this.limit, this.digester.size, this.context));
      return;
    }
    this.progress?.({ done: this.digester.size, total: this.limit });
    callback(null, chunk);
  }
}

/**
 * Write `data` to `target` atomically, hashing it; verify `expected` when given. Returns the
 * digest (algorithm of the expected digest, else sha256) and size. `target` may be a function
 * of the digest (content-addressed files whose name is known only at the end); the temp file is
 * created in the directory it maps to.
 */
export async function writeFileVerified(
  target: string | ((digest: Digest) => string),
  data: BlobData,
  expected: ExpectedContent = {},
  options: WriteOptions & { context?: Record<string, unknown> } = {},
): Promise<{ digest: Digest; size: number }> {
  const algorithm = expected.digest ? parseDigest(expected.digest).algorithm : 'sha256';
  const dirHint = typeof target === 'string' ? target : target(`${algorithm}:${'0'.repeat(64)}` as Digest);
  const context = { path: typeof target === 'string' ? target : dirname(dirHint), ...options.context };
  const counter = new HashingCounter(algorithm, {
    limit: expected.size,
    context,
    onProgress: options.onProgress,
  });
  const tmp = tempPathFor(dirHint);
  try {
    await pipeline(toReadable(data), counter, createWriteStream(tmp, { flags: 'wx' }), {
      signal: options.signal,
    });
    const size = counter.digester.size;
    const digest = counter.digester.digest();
    if (expected.size !== undefined && size !== expected.size) {
      throw new SizeMismatchError(expected.size, size, context);
    }
    if (expected.digest !== undefined && digest !== expected.digest) {
      throw new DigestMismatchError(expected.digest, digest, context);
    }
    await rename(tmp, typeof target === 'string' ? target : target(digest));
    return { digest, size };
  } catch (err) {
    await rm(tmp, { force: true });
    throw abortAware(err, options.signal, typeof target === 'string' ? target : dirname(dirHint));
  }
}

/**
 * Write `data` to `target` through a temp file beside it, renamed into place only when complete;
 * on any error the temp file is removed and the error rethrown as is. Returns the bytes written.
 */
export async function writeFileAtomic(
  target: string,
  data: BlobData,
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  const tmp = tempPathFor(target);
  try {
    await pipeline(toReadable(data), createWriteStream(tmp, { flags: 'wx' }), { signal: options.signal });
    const { size } = await stat(tmp);
    await rename(tmp, target);
    return size;
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
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

/** Map an AbortError to ERR_ABORTED naming the target; pass other errors through. */
export function abortAware(err: unknown, signal: AbortSignal | undefined, target: string): unknown {
  if (signal?.aborted && !(err instanceof OciDeltaError)) {
    return new OciDeltaError(
      'ERR_ABORTED',
      `writing ${target} was aborted`,
      { path: target },
      { cause: err },
    );
  }
  return err;
}
