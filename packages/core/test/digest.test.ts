/** Digests: parsing, hashing (checked against node:crypto and published vectors), verifying streams. */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  Digester,
  DigestMismatchError,
  digestOf,
  digestStream,
  isDigest,
  isOciDeltaError,
  parseDigest,
  SizeMismatchError,
  toDigest,
  verifyingStream,
} from '../src/index.js';

// FIPS 180-2 / NIST test vectors
const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ABC_SHA256 = 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
const ABC_SHA512 =
  'sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f';

describe('parseDigest', () => {
  it('accepts sha256 and sha512', () => {
    expect(parseDigest(ABC_SHA256)).toEqual({ algorithm: 'sha256', hex: ABC_SHA256.slice(7) });
    expect(parseDigest(ABC_SHA512)).toEqual({ algorithm: 'sha512', hex: ABC_SHA512.slice(7) });
    expect(toDigest(EMPTY_SHA256)).toBe(EMPTY_SHA256);
    expect(isDigest(ABC_SHA512)).toBe(true);
  });

  const bad: [string, RegExp][] = [
    ['', /unsupported algorithm/],
    ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', /unsupported algorithm/],
    [`md5:${'a'.repeat(32)}`, /unsupported algorithm/],
    [`SHA256:${'a'.repeat(64)}`, /unsupported algorithm/],
    [`sha384:${'a'.repeat(96)}`, /unsupported algorithm/],
    [`sha256:${'a'.repeat(63)}`, /expected 64 lowercase hex/],
    [`sha256:${'a'.repeat(65)}`, /expected 64 lowercase hex/],
    [`sha256:${'A'.repeat(64)}`, /expected 64 lowercase hex/],
    [`sha256:${'g'.repeat(64)}`, /expected 64 lowercase hex/],
    ['sha256:', /expected 64 lowercase hex/],
    [`sha512:${'a'.repeat(64)}`, /expected 128 lowercase hex/],
    [`sha256:${'a'.repeat(64)}\n`, /expected 64 lowercase hex/],
  ];
  it.each(bad)('rejects %j', (value, reason) => {
    try {
      parseDigest(value);
      expect.unreachable();
    } catch (err) {
      expect(isOciDeltaError(err, 'ERR_INVALID_DIGEST')).toBe(true);
      expect((err as Error).message).toContain(`"${value}"`);
      expect((err as Error).message).toMatch(reason);
      expect((err as { details: Record<string, unknown> }).details.digest).toBe(value);
    }
    expect(isDigest(value)).toBe(false);
  });
});

describe('hashing', () => {
  it('digestOf matches published vectors', () => {
    expect(digestOf('')).toBe(EMPTY_SHA256);
    expect(digestOf('abc')).toBe(ABC_SHA256);
    expect(digestOf(Buffer.from('abc'), 'sha512')).toBe(ABC_SHA512);
  });

  it('Digester hashes incrementally and counts bytes', () => {
    const data = Buffer.alloc(100_003, 7);
    const d = new Digester();
    for (let i = 0; i < data.length; i += 4096) d.update(data.subarray(i, i + 4096));
    expect(d.size).toBe(data.length);
    expect(d.digest()).toBe(`sha256:${createHash('sha256').update(data).digest('hex')}`);
  });

  it('digestStream hashes a stream', async () => {
    const chunks = [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')];
    expect(await digestStream(Readable.from(chunks))).toEqual({ digest: ABC_SHA256, size: 3 });
    expect(await digestStream(Readable.from(chunks), 'sha512')).toEqual({ digest: ABC_SHA512, size: 3 });
  });
});

async function runVerify(chunks: Buffer[], options: Parameters<typeof verifyingStream>[0]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), verifyingStream(options), async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return Buffer.concat(out);
}

describe('verifyingStream', () => {
  const abc = [Buffer.from('ab'), Buffer.from('c')];

  it('passes matching content through unchanged', async () => {
    expect((await runVerify(abc, { digest: ABC_SHA256, size: 3 })).toString()).toBe('abc');
    expect((await runVerify(abc, { digest: ABC_SHA512 })).toString()).toBe('abc');
  });

  it('counts bytes', async () => {
    const v = verifyingStream({ digest: ABC_SHA256 });
    await pipeline(Readable.from(abc), v, async (s: AsyncIterable<Buffer>) => {
      for await (const _ of s);
    });
    expect(v.bytes).toBe(3);
  });

  it('errors with ERR_DIGEST_MISMATCH carrying expected and actual', async () => {
    const err = await runVerify(abc, { digest: EMPTY_SHA256, context: { path: 'blobs/sha256/x' } }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DigestMismatchError);
    const e = err as DigestMismatchError;
    expect(e.code).toBe('ERR_DIGEST_MISMATCH');
    expect(e.expected).toBe(EMPTY_SHA256);
    expect(e.actual).toBe(ABC_SHA256);
    expect(e.details).toMatchObject({ expected: EMPTY_SHA256, actual: ABC_SHA256, path: 'blobs/sha256/x' });
    expect(e.message).toContain(EMPTY_SHA256);
    expect(e.message).toContain(ABC_SHA256);
    expect(e.message).toContain('blobs/sha256/x');
  });

  it('errors with ERR_SIZE_MISMATCH when content is short', async () => {
    const err = await runVerify(abc, { digest: ABC_SHA256, size: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SizeMismatchError);
    expect((err as SizeMismatchError).code).toBe('ERR_SIZE_MISMATCH');
    expect((err as SizeMismatchError).expected).toBe(4);
    expect((err as SizeMismatchError).actual).toBe(3);
  });

  it('errors as soon as content exceeds the size', async () => {
    const out: Buffer[] = [];
    const many = Array.from({ length: 10 }, () => Buffer.alloc(1000));
    const err = await pipeline(
      Readable.from(many),
      verifyingStream({ digest: EMPTY_SHA256, size: 1500 }),
      async (s: AsyncIterable<Buffer>) => {
        for await (const c of s) out.push(c);
      },
    ).catch((e: unknown) => e);
    expect(isOciDeltaError(err, 'ERR_SIZE_MISMATCH')).toBe(true);
    // stopped at the first chunk past the limit, not at the end of the 10000 bytes
    expect((err as SizeMismatchError).actual).toBe(2000);
    expect(Buffer.concat(out).length).toBeLessThanOrEqual(1000);
  });

  it('rejects an invalid expected digest up front', () => {
    expect(() => verifyingStream({ digest: 'sha1:abc' })).toThrow(/invalid digest "sha1:abc"/);
  });
});
