/**
 * The encoder's index over the whole source: a polynomial rolling hash of every aligned
 * `blockSize`-byte block, stored in an open hash table (Int32Array of block numbers, one slot per
 * bucket, later blocks win). The target side rolls the same hash over every position and looks it
 * up to find candidate matches, which the matcher verifies and extends.
 */

/** Multiplier of the rolling hash (odd). */
export const HASH_MUL = 0x01000193;
const MIX = 0x9e3779b1 | 0;

/** Hash of `buf[pos, pos + len)`. */
export function blockHash(buf: Uint8Array, pos: number, len: number): number {
  let h = 0;
  for (let j = 0; j < len; j++) h = (Math.imul(h, HASH_MUL) + (buf[pos + j] as number)) | 0;
  return h;
}

/** HASH_MUL^(len-1) mod 2^32: the weight of the byte leaving the rolling window. */
export function outWeight(len: number): number {
  let w = 1;
  for (let j = 1; j < len; j++) w = Math.imul(w, HASH_MUL);
  return w;
}

export class SourceIndex {
  readonly source: Buffer;
  readonly blockSize: number;
  /** Block number per bucket, -1 when empty. */
  readonly table: Int32Array;
  /** Bucket of hash h: `Math.imul(h, MIX) >>> shift`. */
  readonly shift: number;
  readonly outWeight: number;

  constructor(source: Buffer, blockSize: number, maxBits = 27) {
    this.source = source;
    this.blockSize = blockSize;
    this.outWeight = outWeight(blockSize);
    const blocks = Math.floor(source.length / blockSize);
    let bits = 10;
    while (bits < maxBits && 2 ** bits < blocks) bits++;
    this.shift = 32 - bits;
    this.table = new Int32Array(2 ** bits).fill(-1);
    const table = this.table;
    const shift = this.shift;
    for (let b = 0; b < blocks; b++) {
      const h = blockHash(source, b * blockSize, blockSize);
      table[Math.imul(h, MIX) >>> shift] = b;
    }
  }

  /** Candidate source offset for a block with hash `h`, or -1. */
  lookup(h: number): number {
    const b = this.table[Math.imul(h, MIX) >>> this.shift] as number;
    return b < 0 ? -1 : b * this.blockSize;
  }
}

export { MIX as HASH_MIX };
