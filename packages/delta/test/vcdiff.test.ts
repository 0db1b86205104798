import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { isOciDeltaError } from '@ocidelta/core';
import { describe, expect, it } from 'vitest';
import { adler32 } from '../src/vcdiff/adler32.js';
import {
  ADD,
  addCopyOpcode,
  addOpcode,
  COPY,
  copyAddOpcode,
  copyOpcode,
  DEFAULT_CODE_TABLE,
} from '../src/vcdiff/code-table.js';
import { EncodePool, encodeWorkerUrl } from '../src/vcdiff/encode-pool.js';
import { decode, decodeWindows, encode } from '../src/vcdiff/index.js';
import { effortSettings } from '../src/vcdiff/matcher-settings.js';
import { SourceIndex } from '../src/vcdiff/source-index.js';
import { ByteWriter, readVarint } from '../src/vcdiff/varint.js';
import { WindowJob } from '../src/vcdiff/window-job.js';
import { mutate, randomBytes, smallCases, textBytes } from './vcdiff-cases.js';
import { collect, decodeBuf, encodeBuf } from './vcdiff-helpers.js';

describe('vcdiff primitives', () => {
  it('varints round-trip, RFC example 123456789 = 3A B7 9A 15', () => {
    const w = new ByteWriter(4);
    w.varint(123456789);
    expect([...w.view()]).toEqual([0xba, 0xef, 0x9a, 0x15]);
    for (const v of [0, 1, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32 + 5]) {
      const x = new ByteWriter();
      x.varint(v);
      expect(readVarint(x.view(), 0, x.length, 'v')).toEqual([v, x.length]);
    }
  });

  it('adler32 matches the known value for "Wikipedia"', () => {
    expect(adler32(Buffer.from('Wikipedia'))).toBe(0x11e60398);
    expect(adler32(Buffer.alloc(0))).toBe(1);
  });

  it('adler32 equals the byte-at-a-time definition on long and odd-sized inputs', () => {
    const naive = (b: Uint8Array) => {
      let a = 1;
      let s = 0;
      for (const x of b) {
        a = (a + x) % 65521;
        s = (s + a) % 65521;
      }
      return ((s << 16) | a) >>> 0;
    };
    for (const n of [1, 7, 8, 9, 5551, 5552, 5553, 100_003]) {
      const buf = randomBytes(n, n);
      expect(adler32(buf)).toBe(naive(buf));
      expect(adler32(Buffer.alloc(n, 0xff))).toBe(naive(Buffer.alloc(n, 0xff)));
    }
  });

  it('encoder opcodes index matching entries of the default code table', () => {
    const t = DEFAULT_CODE_TABLE;
    for (let s = 1; s <= 17; s++) expect([t.type1[addOpcode(s)], t.size1[addOpcode(s)]]).toEqual([ADD, s]);
    for (let m = 0; m < 9; m++) {
      for (let s = 4; s <= 18; s++) {
        const op = copyOpcode(s, m);
        expect([t.type1[op], t.size1[op], t.mode1[op]]).toEqual([COPY, s, m]);
      }
      for (let a = 1; a <= 4; a++) {
        for (let c = 4; c <= 6; c++) {
          const op = addCopyOpcode(a, c, m);
          if (op < 0) continue;
          expect([t.type1[op], t.size1[op], t.type2[op], t.size2[op], t.mode2[op]]).toEqual([
            ADD,
            a,
            COPY,
            c,
            m,
          ]);
        }
      }
      const op = copyAddOpcode(4, m, 1);
      expect([t.type1[op], t.size1[op], t.mode1[op], t.type2[op], t.size2[op]]).toEqual([COPY, 4, m, ADD, 1]);
    }
  });
});

describe('vcdiff round trip (our decoder)', () => {
  for (const c of smallCases()) {
    it(c.name, async () => {
      const delta = await encodeBuf(c.source, c.target);
      expect([...delta.subarray(0, 5)]).toEqual([0xd6, 0xc3, 0xc4, 0x00, 0x00]);
      expect((await decodeBuf(c.source, delta)).equals(c.target)).toBe(true);
    });
  }

  it('small windows, every effort, app header', async () => {
    const src = textBytes(300_000, 20);
    const tgt = mutate(src, 30, 21);
    for (const effort of ['fast', 'default', 'best'] as const) {
      const delta = await encodeBuf(src, tgt, { windowSize: 10_000, effort, appHeader: Buffer.from('hi') });
      expect(delta[4]).toBe(0x04);
      expect((await decodeBuf(src, delta)).equals(tgt)).toBe(true);
    }
  });

  it('reports progress per window and reaches the target size', async () => {
    const src = randomBytes(50_000, 70);
    const tgt = mutate(src, 5, 71);
    const seen: number[] = [];
    const delta = await encodeBuf(src, tgt, { windowSize: 16_384, onProgress: (p) => seen.push(p.done) });
    expect(seen.length).toBe(Math.ceil(tgt.length / 16_384));
    expect(seen.at(-1)).toBe(tgt.length);
    const decoded: number[] = [];
    await collect(decode(src, Readable.from([delta]), { onProgress: (p) => decoded.push(p.done) }));
    expect(decoded.at(-1)).toBe(tgt.length);
  });

  it('decodeWindows rebuilds every window into one buffer, with the bytes decode gives', async () => {
    const src = textBytes(200_000, 40);
    const tgt = Buffer.concat([mutate(src, 20, 41), Buffer.from('a shorter last window')]);
    const delta = await encodeBuf(src, tgt, { windowSize: 16_384 });
    const windows: Buffer[] = [];
    const memory = new Set<ArrayBufferLike>();
    for await (const w of decodeWindows(src, Readable.from([delta]))) {
      windows.push(Buffer.from(w)); // a copy: the next window overwrites w
      memory.add(w.buffer);
    }
    expect(windows.length).toBe(Math.ceil(tgt.length / 16_384));
    expect(Buffer.concat(windows).equals(tgt)).toBe(true);
    expect(Buffer.concat(windows).equals(await decodeBuf(src, delta))).toBe(true);
    expect(memory.size).toBe(1);
  });

  it('finds the shared content: a few edits give a small delta', async () => {
    const src = randomBytes(500_000, 30);
    const tgt = mutate(src, 10, 31);
    const delta = await encodeBuf(src, tgt);
    expect(delta.length).toBeLessThan(30_000);
  });
});

describe('vcdiff errors', () => {
  it('refuses a source above maxSourceSize', async () => {
    const err = await encodeBuf(randomBytes(1000, 1), Buffer.from('x'), { maxSourceSize: 999 }).catch(
      (e) => e,
    );
    expect(isOciDeltaError(err, 'ERR_SOURCE_TOO_LARGE')).toBe(true);
  });

  it('detects a corrupted window (checksum mismatch)', async () => {
    const src = randomBytes(10_000, 40);
    const tgt = Buffer.concat([Buffer.from('new bytes here!'), src]);
    const delta = await encodeBuf(src, tgt);
    // Flip a byte of the ADD data (it starts right after the 4-byte checksum).
    const bad = Buffer.from(delta);
    const at = bad.indexOf(Buffer.from('new bytes'));
    expect(at).toBeGreaterThan(0);
    bad[at] = 0x4e; // 'n' -> 'N'
    const err = await decodeBuf(src, bad).catch((e) => e);
    expect(isOciDeltaError(err, 'ERR_VCDIFF')).toBe(true);
    expect(String(err.message)).toMatch(/checksum mismatch/);
  });

  it('rejects bad magic, secondary compression, truncation', async () => {
    const src = Buffer.from('abc');
    for (const [bytes, re] of [
      [Buffer.from('hello world'), /bad magic/],
      [Buffer.from([0xd6, 0xc3, 0xc4, 0, 1, 2]), /secondary compression/],
      [Buffer.from([0xd6, 0xc3, 0xc4, 0, 2]), /code table/],
    ] as const) {
      const err = await decodeBuf(src, bytes).catch((e) => e);
      expect(isOciDeltaError(err, 'ERR_VCDIFF')).toBe(true);
      expect(String(err.message)).toMatch(re);
    }
    const delta = await encodeBuf(src, Buffer.from('abcabc'));
    const err = await decodeBuf(src, delta.subarray(0, delta.length - 1)).catch((e) => e);
    expect(isOciDeltaError(err, 'ERR_VCDIFF')).toBe(true);
  });

  it('rejects a source segment outside the source', async () => {
    const src = randomBytes(5000, 41);
    const delta = await encodeBuf(src, Buffer.from(src));
    const err = await decodeBuf(src.subarray(0, 100), delta).catch((e) => e);
    expect(isOciDeltaError(err, 'ERR_VCDIFF')).toBe(true);
    expect(String(err.message)).toMatch(/outside the source/);
  });

  it('aborts on signal', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await collect(
      encode(Buffer.from('a'), Readable.from([Buffer.from('b')]), { signal: ac.signal }),
    ).catch((e) => e);
    expect(isOciDeltaError(err, 'ERR_ABORTED')).toBe(true);
    const err2 = await collect(
      decode(Buffer.from('a'), Readable.from([Buffer.from('b')]), { signal: ac.signal }),
    ).catch((e) => e);
    expect(isOciDeltaError(err2, 'ERR_ABORTED')).toBe(true);
  });
});

describe('encode pool', () => {
  it('runs the built worker from the sources and encodes a window as this thread does', async () => {
    const url = encodeWorkerUrl();
    expect(url.pathname.endsWith('/dist/vcdiff/encode-worker.js')).toBe(true);
    expect(existsSync(fileURLToPath(url))).toBe(true);

    const source = Buffer.from(new SharedArrayBuffer(300_000));
    textBytes(300_000, 80).copy(source);
    const target = mutate(source, 30, 81);
    const settings = effortSettings('default');
    const index = new SourceIndex(source, settings.step, { shared: true });
    index.indexAll();
    const here = new WindowJob(index, settings).encode(target, target.length, true);
    const pool = new EncodePool(2, index, settings);
    try {
      const windows = [0, 1, 2].map(() => {
        const w = Buffer.allocUnsafeSlow(target.length);
        target.copy(w);
        return pool.encode(w, target.length);
      });
      for (const delta of await Promise.all(windows)) expect(delta.equals(here)).toBe(true);
    } finally {
      await pool.close();
    }
    expect(here.length).toBeLessThan(target.length / 10);
  });
});
