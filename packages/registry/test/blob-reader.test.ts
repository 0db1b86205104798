// Resumable blob reads with scripted responses (no network): resume with Range after a drop,
// a server that ignores Range (answers 200: skip what we have), a wrong Content-Range, bounded
// attempts, and digest verification of the stitched stream.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Digest } from '@ocidelta/core';
import { describe, expect, it } from 'vitest';
import { type ResumableGetOptions, resumableBlobStream } from '../src/blob-reader.js';
import type { RegistryResponse } from '../src/http-types.js';
import { retryPolicy } from '../src/retry.js';
import { readAll } from './harness/results.js';

const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;

/** A body that yields `bytes` in 100-byte chunks, then fails with ECONNRESET if `cut`. */
function body(bytes: Buffer, cut: boolean): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i < bytes.length; i += 100) yield bytes.subarray(i, i + 100);
      if (cut) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    })(),
  );
}

function response(status: number, b: Readable, headers: Record<string, string> = {}): RegistryResponse {
  return { status, headers, body: b, url: 'http://r/v2/x/blobs/d', header: (n) => headers[n.toLowerCase()] };
}

const policy = retryPolicy({ max: 3, baseMs: 0, maxMs: 0 });

/** The test blob read through `resumableBlobStream`, its answers from `open` (retries without delay). */
function blobStream(
  open: ResumableGetOptions['open'],
  options: Partial<ResumableGetOptions> & { verify?: boolean } = {},
): Readable {
  return resumableBlobStream({ digest, size: data.length, retry: policy, context: {}, ...options, open });
}

/** A 206 answer: `bytes` from `offset` on, its Content-Range running to the end of the blob. */
function partial(offset: number, bytes: Buffer, cut = false): RegistryResponse {
  return response(206, body(bytes, cut), { 'content-range': `bytes ${offset}-2999/${data.length}` });
}

describe('resumableBlobStream', () => {
  it('resumes from the byte where the connection dropped', async () => {
    const asked: number[] = [];
    const stream = blobStream(async (offset) => {
      asked.push(offset);
      if (offset === 0) return response(200, body(data.subarray(0, 1000), true));
      if (offset === 1000) {
        return partial(1000, data.subarray(1000, 2000), true);
      }
      return partial(offset, data.subarray(offset));
    });
    expect((await readAll(stream)).equals(data)).toBe(true);
    expect(asked).toEqual([0, 1000, 2000]);
  });

  it('skips bytes it already has when the server ignores Range', async () => {
    let calls = 0;
    const progress: number[] = [];
    const stream = blobStream(
      async () => {
        calls++;
        return calls === 1
          ? response(200, body(data.subarray(0, 1250), true))
          : response(200, body(data, false));
      },
      { onProgress: (p) => progress.push(p.done) },
    );
    expect((await readAll(stream)).equals(data)).toBe(true);
    expect(calls).toBe(2);
    expect(progress.at(-1)).toBe(data.length);
    // Progress never goes back when the restart re-sends the first bytes.
    expect(progress.every((v, i) => i === 0 || v >= (progress[i - 1] as number))).toBe(true);
  });

  it('treats a body that ends early without error like a drop', async () => {
    const asked: number[] = [];
    const stream = blobStream(async (offset) => {
      asked.push(offset);
      return offset === 0
        ? response(200, body(data.subarray(0, 500), false))
        : partial(offset, data.subarray(offset));
    });
    expect((await readAll(stream)).equals(data)).toBe(true);
    expect(asked).toEqual([0, 500]);
  });

  it('rejects a Content-Range that does not start where asked', async () => {
    const stream = blobStream(
      async (offset) => (offset === 0 ? response(200, body(data.subarray(0, 1000), true)) : partial(0, data)),
      { context: { ref: 'r/x@d' } },
    );
    await expect(readAll(stream)).rejects.toMatchObject({
      code: 'ERR_REGISTRY',
      message: expect.stringContaining('Content-Range'),
    });
  });

  it('gives up with ERR_NETWORK after the retry budget of attempts without progress', async () => {
    let calls = 0;
    const stream = blobStream(async (offset) => {
      calls++;
      // The first answer brings 100 bytes; every resume then fails before sending any.
      const bytes = offset === 0 ? data.subarray(0, 100) : Buffer.alloc(0);
      return response(offset === 0 ? 200 : 206, body(bytes, true), {
        'content-range': `bytes ${offset}-2999/3000`,
      });
    });
    await expect(readAll(stream)).rejects.toMatchObject({ code: 'ERR_NETWORK' });
    expect(calls).toBe(1 + 3);
  });

  it('completes when the connection drops right after the last byte', async () => {
    let calls = 0;
    const stream = blobStream(async () => {
      calls++;
      return response(200, body(data, true));
    });
    expect((await readAll(stream)).equals(data)).toBe(true);
    expect(calls).toBe(1);
  });

  it('verifies the stitched bytes against the digest', async () => {
    const bad = Buffer.from(data);
    bad[2500] = (bad[2500] as number) ^ 1;
    const stream = blobStream(async (offset) =>
      offset === 0 ? response(200, body(bad.subarray(0, 2000), true)) : partial(offset, bad.subarray(offset)),
    );
    await expect(readAll(stream)).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
  });
});

describe('resumableBlobStream after an abort', () => {
  for (const verify of [true, false]) {
    it(`a late error once the signal fired does not crash a process whose consumer left (verify ${verify})`, async () => {
      const uncaught: unknown[] = [];
      const onUncaught = (err: unknown) => uncaught.push(err);
      process.on('uncaughtException', onUncaught);
      try {
        const controller = new AbortController();
        const stream = blobStream(async () => response(200, body(data, false)), {
          signal: controller.signal,
          verify,
        });
        controller.abort();
        // The consumer is gone (no listener of its own); the download's error arrives late.
        stream.destroy(Object.assign(new Error('This operation was aborted'), { name: 'AbortError' }));
        await new Promise((resolve) => setTimeout(resolve, 20));
        expect(uncaught).toEqual([]);
        expect(stream.destroyed).toBe(true);
      } finally {
        process.off('uncaughtException', onUncaught);
      }
    });
  }

  it('before an abort, errors still reach the consumer', async () => {
    const controller = new AbortController();
    const stream = blobStream(async () => response(200, body(data.subarray(0, 100), false)), {
      signal: controller.signal,
      retry: retryPolicy({ max: 0, baseMs: 0, maxMs: 0 }),
    });
    await expect(readAll(stream)).rejects.toMatchObject({ code: 'ERR_NETWORK' });
  });
});
