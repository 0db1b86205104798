/**
 * The emulated source cache of stock xdelta3 3.0.x at its boundaries (the interop test replays the
 * same copies through the real xdelta3): 32 blocks of -B/32, the first -B bytes read at open, a
 * FIFO ring for a sequential source and an LRU for a seekable one.
 */
import { describe, expect, it } from 'vitest';
import { DecoderSourceCache, deviceDecoder } from '../src/vcdiff/source-cache.js';

const MiB = 1024 * 1024;
const BLOCK = 2 * MiB;

describe('DecoderSourceCache, sequential (a decompressed source)', () => {
  const seq = (size = 100 * MiB) => new DecoderSourceCache(size, { sourceAccess: 'sequential' });

  it('has the first 64 MiB after open and nothing is out of reach before reading past them', () => {
    const c = seq();
    expect(c.bytesRead).toBe(64 * MiB);
    expect(c.lowestReachable()).toBe(0);
    expect(c.copy(0, 100)).toBeUndefined();
    expect(c.copy(64 * MiB - 100, 100)).toBeUndefined();
    expect(c.bytesRead).toBe(64 * MiB);
  });

  it('accepts a copy exactly 31 blocks behind the newest block and refuses one 32 behind', () => {
    const c = seq();
    expect(c.copy(40 * BLOCK, 1000)).toBeUndefined();
    expect(c.bytesRead).toBe(41 * BLOCK);
    expect(c.lowestReachable()).toBe(9 * BLOCK);
    expect(c.copy(9 * BLOCK, 1000)).toBeUndefined();
    const miss = c.copy(9 * BLOCK - 1, 2);
    expect(miss?.block).toBe(8);
    expect(miss?.newestBlock).toBe(40);
    expect(miss?.reason).toMatch(/XD3_TOOFARBACK/);
  });

  it('counts a copy straddling two blocks as reading the second one', () => {
    const c = seq();
    expect(c.copy(32 * BLOCK - 10, 20)).toBeUndefined(); // blocks 31 and 32
    expect(c.lowestReachable()).toBe(BLOCK);
    expect(c.copy(0, 1)).toBeDefined();
    const d = seq();
    expect(d.copy(32 * BLOCK - 10, 10)).toBeUndefined(); // ends in block 31
    expect(d.copy(0, 1)).toBeUndefined();
  });

  it('reads every skipped block when a copy jumps forward, and never past the source end', () => {
    const c = seq(100 * MiB);
    expect(c.copy(99 * MiB, 10)).toBeUndefined();
    expect(c.bytesRead).toBe(100 * MiB);
  });

  it('is one block (everything reachable) when the decompressed source is smaller than -B', () => {
    const c = seq(64 * MiB - 1);
    expect(c.blockSize).toBe(0);
    expect(c.copy(0, 10)).toBeUndefined();
    // Exactly -B: the first read fills the buffer, the size stays unknown, the cache is split.
    expect(seq(64 * MiB).blockSize).toBe(BLOCK);
  });

  it('follows a -B other than the default (rounded up to a power of two)', () => {
    expect(deviceDecoder({ sourceWindow: 100 * MiB }).sourceWindow).toBe(128 * MiB);
    const c = new DecoderSourceCache(300 * MiB, { sourceAccess: 'sequential', sourceWindow: 128 * MiB });
    expect(c.blockSize).toBe(4 * MiB);
    expect(c.copy(100 * 4 * MiB, 1)).toBeUndefined();
    expect(c.copy(69 * 4 * MiB, 1)).toBeUndefined();
    expect(c.copy(69 * 4 * MiB - 1, 1)).toBeDefined();
  });

  it('rejects a -B out of range', () => {
    expect(() => deviceDecoder({ sourceWindow: 100 })).toThrow(/sourceWindow/);
  });
});

describe('DecoderSourceCache, seekable (an uncompressed source file)', () => {
  it('serves any copy and counts LRU re-reads', () => {
    const c = new DecoderSourceCache(200 * MiB);
    expect(c.copy(150 * MiB, 10)).toBeUndefined(); // miss: evicts block 0
    expect(c.bytesRead).toBe(64 * MiB + BLOCK);
    expect(c.copy(0, 10)).toBeUndefined(); // block 0 was the least recently used: re-read
    expect(c.bytesRead).toBe(64 * MiB + 2 * BLOCK);
    expect(c.copy(62 * MiB, 10)).toBeUndefined(); // block 31 still resident
    expect(c.bytesRead).toBe(64 * MiB + 2 * BLOCK);
  });

  it('is one block when the file fits in -B', () => {
    const c = new DecoderSourceCache(64 * MiB);
    expect(c.blockSize).toBe(0);
    expect(c.bytesRead).toBe(64 * MiB);
  });
});
