/**
 * Content digests (`sha256:<hex>`, `sha512:<hex>`): parsing, streaming hashing on node:crypto,
 * and a verifying pass-through stream.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError, OciDeltaError, SizeMismatchError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** A validated digest string such as `sha256:e3b0...`. */
export type Digest = `${DigestAlgorithm}:${string}`;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Parse and validate a digest; throws ERR_INVALID_DIGEST with the offending value. */
export function parseDigest(value: string): ParsedDigest {
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (colon < 0 || (algorithm !== 'sha256' && algorithm !== 'sha512')) {
    throw new OciDeltaError('ERR_INVALID_DIGEST', `invalid digest "${value}": unsupported algorithm`, {
      digest: value,
    });
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new OciDeltaError(
      'ERR_INVALID_DIGEST',
      `invalid digest "${value}": expected ${HEX_LENGTH[algorithm]} lowercase hex characters`,
      { digest: value },
    );
  }
  return { algorithm, hex };
}

/** Validate and return `value` typed as a Digest. */
export function toDigest(value: string): Digest {
  parseDigest(value);
  return value as Digest;
}

export function isDigest(value: string): value is Digest {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** Digest of an in-memory buffer (manifests, configs, small files). */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** Incremental hasher that also counts bytes. */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  private readonly hash: Hash;
  size = 0;
  constructor(algorithm: DigestAlgorithm = 'sha256') {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }
  update(chunk: Uint8Array): this {
    this.hash.update(chunk);
    this.size += chunk.byteLength;
    return this;
  }
  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest('hex')}`;
  }
}

/** Hash a stream or async iterable to completion. */
export async function digestStream(
  source: AsyncIterable<Uint8Array>,
  algorithm: DigestAlgorithm = 'sha256',
): Promise<{ digest: Digest; size: number }> {
  const d = new Digester(algorithm);
  for await (const chunk of source) d.update(chunk);
  return { digest: d.digest(), size: d.size };
}

export interface VerifyOptions {
  /** Expected digest; the algorithm is taken from it. */
  digest: string;
  /** Expected size in bytes, when known. */
  size?: number;
  /** Context added to errors (path, ref, url). */
  context?: Record<string, unknown>;
}

/**
 * Pass-through stream that hashes what flows through it and errors at the end with
 * ERR_DIGEST_MISMATCH / ERR_SIZE_MISMATCH (or as soon as the size is exceeded).
 */
export class VerifyingStream extends Transform {
  private readonly digester: Digester;
  private readonly expected: VerifyOptions;
  constructor(options: VerifyOptions) {
    super();
    const { algorithm } = parseDigest(options.digest);
    this.digester = new Digester(algorithm);
    this.expected = options;
  }
  /** Bytes seen so far. */
  get bytes(): number {
    return this.digester.size;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.digester.update(chunk);
    const { size, context } = this.expected;
    if (size !== undefined && this.digester.size > size) {
      callback(new SizeMismatchError(size, this.digester.size, context));
      return;
    }
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    const { size, digest, context } = this.expected;
    if (size !== undefined && this.digester.size !== size) {
      callback(new SizeMismatchError(size, this.digester.size, context));
      return;
    }
    const actual = this.digester.digest();
    if (actual !== digest) {
      callback(new DigestMismatchError(digest, actual, context));
      return;
    }
    callback();
  }
}

/** Create a verifying pass-through stream (see VerifyingStream). */
export function verifyingStream(options: VerifyOptions): VerifyingStream {
  return new VerifyingStream(options);
}
