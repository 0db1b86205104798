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
