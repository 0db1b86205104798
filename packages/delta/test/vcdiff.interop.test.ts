import { afterAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { mutate, randomBytes, smallCases, textBytes } from './vcdiff-cases.js';
import { decodeBuf, encodeBuf, Xdelta } from './vcdiff-helpers.js';

describe.skipIf(!haveBinaries('xdelta3'))('vcdiff interop with stock xdelta3 3.0.x', () => {
  const xd = new Xdelta();
  afterAll(() => xd.cleanup());

  for (const c of smallCases()) {
    it(`${c.name}: xdelta3 -d decodes our delta; we decode xdelta3's`, async () => {
      const delta = await encodeBuf(c.source, c.target);
      expect(xd.decode(c.source, delta).equals(c.target)).toBe(true);
      const theirs = xd.encode(c.source, c.target);
      expect((await decodeBuf(c.source, theirs)).equals(c.target)).toBe(true);
      const noChecksum = xd.encode(c.source, c.target, ['-n']);
      expect((await decodeBuf(c.source, noChecksum)).equals(c.target)).toBe(true);
    });
  }

  it('small windows with combined instructions and self-copies', async () => {
    const src = textBytes(400_000, 50);
    const tgt = mutate(src, 80, 51);
    const delta = await encodeBuf(src, tgt, { windowSize: 32_768, effort: 'best' });
    expect(xd.decode(src, delta).equals(tgt)).toBe(true);
  });

  it('> 8 MiB target: many windows, moved blocks across the whole source', async () => {
    const src = randomBytes(12 * 1024 * 1024, 60);
    // Target: the source's 1 MiB blocks in another order, edited, plus new data.
    const blocks: Buffer[] = [];
    for (let i = 0; i < 12; i++)
      blocks.push(src.subarray(((i * 7) % 12) * 1024 * 1024, (((i * 7) % 12) + 1) * 1024 * 1024));
    blocks.splice(5, 0, randomBytes(300_000, 61));
    const tgt = mutate(Buffer.concat(blocks), 50, 62);
    const delta = await encodeBuf(src, tgt);
    expect(delta.length).toBeLessThan(600_000);
    expect(xd.decode(src, delta).equals(tgt)).toBe(true);
    expect((await decodeBuf(src, delta)).equals(tgt)).toBe(true);
    const theirs = xd.encode(src, tgt, ['-B', String(src.length)]);
    expect((await decodeBuf(src, theirs)).equals(tgt)).toBe(true);
  });
});

describe.skipIf(!haveBinaries('xdelta3'))('what stock xdelta3 decodes', () => {
  it('refuses a window that copies from earlier output (VCD_TARGET): why we never write one', () => {
    const xd = new Xdelta();
    try {
      const header = Buffer.from([0xd6, 0xc3, 0xc4, 0x00, 0x00]);
      // Window 1: ADD 16 bytes. Window 2: VCD_TARGET segment [0, 16), COPY 16 from it.
      const w1 = Buffer.concat([
        Buffer.from([0x00, 22, 16, 0, 16, 1, 0]),
        Buffer.from('ABCDEFGHIJKLMNOP'),
        Buffer.from([17]),
      ]);
      const w2 = Buffer.from([0x02, 16, 0, 7, 16, 0, 0, 1, 1, 32, 0]);
      const err = (() => {
        try {
          xd.decode(Buffer.alloc(0), Buffer.concat([header, w1, w2]));
          return '';
        } catch (e) {
          return String((e as { stderr?: Buffer }).stderr ?? e);
        }
      })();
      expect(err).toMatch(/VCD_TARGET not implemented/);
      // The first window alone is fine: the refusal is the second's VCD_TARGET.
      expect(xd.decode(Buffer.alloc(0), Buffer.concat([header, w1])).toString()).toBe('ABCDEFGHIJKLMNOP');
    } finally {
      xd.cleanup();
    }
  });
});

describe.skipIf(!haveBinaries('xdelta3'))('parallel encode (worker pool) with stock xdelta3', () => {
  const xd = new Xdelta();
  afterAll(() => xd.cleanup());
  const src = randomBytes(6 * 1024 * 1024, 70);
  const blocks: Buffer[] = [];
  for (let i = 0; i < 6; i++) blocks.push(src.subarray(((i * 5) % 6) << 20, (((i * 5) % 6) + 1) << 20));
  blocks.splice(3, 0, randomBytes(200_000, 71));
  const moved = mutate(Buffer.concat(blocks), 40, 72);

  // Small windows so a few MiB make many: 1 window (held, never starts workers), 1 window and a
  // byte, and many windows with more in flight than workers.
  const windowSize = 512 * 1024;
  const cases: [string, Buffer][] = [
    ['exactly one window', moved.subarray(0, windowSize)],
    ['one window and one byte', moved.subarray(0, windowSize + 1)],
    ['many windows', moved],
  ];
  for (const [name, tgt] of cases) {
    it(`${name}: jobs 2 and 3 give the bytes jobs 1 gives, and xdelta3 -d decodes them`, async () => {
      const one = await encodeBuf(src, tgt, { windowSize, jobs: 1 });
      const two = await encodeBuf(src, tgt, { windowSize, jobs: 2 });
      const three = await encodeBuf(src, tgt, { windowSize, jobs: 3 });
      expect(two.equals(one)).toBe(true);
      expect(three.equals(one)).toBe(true);
      expect(one.length).toBeLessThan(tgt.length / 4);
      expect(xd.decode(src, two).equals(tgt)).toBe(true);
    });
  }

  it('rejects a jobs count that is not a positive integer with a typed error', async () => {
    await expect(encodeBuf(src, moved, { jobs: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    await expect(encodeBuf(src, moved, { jobs: 1.5 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
  });
});
