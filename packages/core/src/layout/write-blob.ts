/**
 * Stream content into a file atomically: written to a temp name beside the target, hashed while
 * written, verified against an optional expected digest/size, then renamed into place. A failed
 * or aborted write leaves nothing behind.
 */

import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { abortAware } from '../abort.js';
import { type BlobData, toReadable } from '../blob-data.js';
import { type Digest, type DigestAlgorithm, Digester, parseDigest } from '../digest.js';
import { DigestMismatchError, SizeMismatchError } from '../errors.js';
import { tempPathFor } from '../fs/atomic.js';
import type { Progress } from '../progress.js';

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
