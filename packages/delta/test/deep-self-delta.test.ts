import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { type Digest, isOciDeltaError } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { checkSelfDelta, type SelfDeltaLayer, selfDelta, writeSelfDelta } from '../src/deep/self-delta.js';
import { decode, MAX_WINDOW_SIZE } from '../src/vcdiff/index.js';
import { collect, Xdelta } from './vcdiff-helpers.js';

let root: string;
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ocidelta-self-delta-test-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const sha256 = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

/** A layer whose decompressed bytes are `bytes`, streamed in odd-sized chunks. */
function layerOf(bytes: Buffer, diffId: Digest = sha256(bytes)): SelfDeltaLayer {
  return {
    digest: sha256(Buffer.from(`compressed ${diffId}`)),
    diffId,
    uncompressed: async (options) => {
      const chunks: Buffer[] = [];
      for (let off = 0; off < bytes.length; off += 1_000_003)
        chunks.push(bytes.subarray(off, off + 1_000_003));
      const stored = Readable.from(chunks);
      const onStored = options?.onStoredBytes;
      if (!onStored) return stored;
      let read = 0;
      stored.on('data', (c: Buffer) => {
        read += c.length;
        onStored(read);
      });
      return stored.pipe(new PassThrough());
    },
  };
}

async function selfDeltaOf(
  bytes: Buffer,
  options: Parameters<typeof writeSelfDelta>[3] = {},
): Promise<{ file: string; delta: Buffer; uncompressedSize: number; deltaSize: number }> {
  const file = join(root, `delta-${n++}.vcdiff`);
  const r = await writeSelfDelta(layerOf(bytes), file, 'new layer 0', options);
  return { file, delta: await readFile(file), ...r };
}

async function errorOf(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: isOciDeltaError(err) ? err.code : undefined, message: (err as Error).message };
  }
  throw new Error('expected the promise to reject');
}

// 20 MiB and a bit: three windows, the last one partial; chunks straddle the window boundaries.
const big = randomBytes(20 * 1024 * 1024 + 12_345);

describe('writeSelfDelta', () => {
  it('writes one small window per 8 MiB that our decoder turns back into the layer', async () => {
    const r = await selfDeltaOf(big);
    expect(r.uncompressedSize).toBe(big.length);
    expect(r.deltaSize).toBe(r.delta.length);
    expect(r.delta.length).toBeLessThan(100);
    const out = await collect(decode(big, Readable.from([r.delta])));
    expect(out.equals(big)).toBe(true);
  });

  it('reports progress up to the layer size', async () => {
    const seen: number[] = [];
    await selfDeltaOf(big, { onBytes: (d) => seen.push(d) });
    expect(seen.at(-1)).toBe(big.length);
    expect(seen.length).toBeGreaterThan(1);
  });

  it('rejects a layer whose bytes do not match its diff_id', async () => {
    const other = sha256(Buffer.from('something else'));
    const err = await errorOf(
      writeSelfDelta(layerOf(big.subarray(0, 1000), other), join(root, 'x'), 'new layer 3'),
    );
    expect(err.code).toBe('ERR_DIGEST_MISMATCH');
    expect(err.message).toContain('new layer 3');
  });

  it('fails the self-check when the written delta is corrupted', async () => {
    const small = randomBytes(MAX_WINDOW_SIZE + 10);
    const corruptions: [string, (b: Buffer) => void][] = [
      // last byte of the last window's checksum
      ['Adler-32', (b) => void b.writeUInt8((b[b.length - 4] ?? 0) ^ 1, b.length - 4)],
      ['Hdr_Indicator', (b) => void b.writeUInt8(0x7f, 4)],
    ];
    for (const [what, corrupt] of corruptions) {
      const err = await errorOf(
        selfDeltaOf(small, {
          afterWrite: async (file) => {
            const b = await readFile(file);
            corrupt(b);
            await writeFile(file, b);
          },
        }),
      );
      expect(err.code, what).toBe('ERR_DELTA_SELF_CHECK');
      expect(err.message, what).toContain('new layer 0');
    }
  });
});

describe('checkSelfDelta', () => {
  const adlersOf = (bytes: Buffer) => {
    // Independent Adler-32 (RFC 1950 definition, no chunking tricks) per 8 MiB window.
    const out: number[] = [];
    for (let off = 0; off < bytes.length; off += MAX_WINDOW_SIZE) {
      let a = 1;
      let b = 0;
      for (const x of bytes.subarray(off, off + MAX_WINDOW_SIZE)) {
        a = (a + x) % 65521;
        b = (b + a) % 65521;
      }
      out.push(((b << 16) | a) >>> 0);
    }
    return out;
  };
  const data = randomBytes(MAX_WINDOW_SIZE * 2 + 5);

  it('accepts the self-delta of the bytes and rejects one of other sizes or checksums', () => {
    const adlers = adlersOf(data);
    const delta = selfDelta(data.length, adlers);
    expect(() => checkSelfDelta(delta, data.length, adlers, 'l')).not.toThrow();
    expect(() => checkSelfDelta(delta, data.length + 1, adlers, 'l')).toThrow(/self-check/);
    const other = [...adlers];
    other[1] = ((other[1] ?? 0) + 1) >>> 0;
    expect(() => checkSelfDelta(delta, data.length, other, 'l')).toThrow(/Adler-32/);
    expect(() => checkSelfDelta(delta.subarray(0, delta.length - 1), data.length, adlers, 'l')).toThrow(
      /truncated/,
    );
  });

  it('writes the Adler-32 the RFC defines (so decoders that verify it accept it)', async () => {
    const r = await selfDeltaOf(data);
    expect(() => checkSelfDelta(r.delta, data.length, adlersOf(data), 'l')).not.toThrow();
  });
});

describe.skipIf(!haveBinaries('xdelta3'))('self-deltas decoded by stock xdelta3 -d -s', () => {
  const x = new Xdelta();

  afterAll(async () => {
    await rm(x.dir, { recursive: true, force: true });
  });

  it('rebuilds a 20 MiB layer (three windows)', async () => {
    const r = await selfDeltaOf(big);
    expect(x.decode(big, r.delta).equals(big)).toBe(true);
  });

  it('rebuilds a layer of exactly one window', async () => {
    const one = big.subarray(0, MAX_WINDOW_SIZE);
    const r = await selfDeltaOf(one);
    expect(x.decode(one, r.delta).equals(one)).toBe(true);
  });

  it('rebuilds an empty layer', async () => {
    const empty = Buffer.alloc(0);
    const r = await selfDeltaOf(empty);
    expect(r.uncompressedSize).toBe(0);
    expect(x.decode(empty, r.delta).length).toBe(0);
    expect((await collect(decode(empty, Readable.from([r.delta])))).length).toBe(0);
  });

  it('refuses the delta against a source with other bytes (the Adler-32 is checked)', async () => {
    const r = await selfDeltaOf(big);
    const other = Buffer.from(big);
    other[MAX_WINDOW_SIZE + 7] = (other[MAX_WINDOW_SIZE + 7] ?? 0) ^ 0x55;
    expect(() => x.decode(other, r.delta)).toThrow();
  });
});
