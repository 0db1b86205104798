/**
 * The encoder's index over the whole source: the hash of the 8 bytes at every `step`-th source
 * offset, stored in one Int32Array (one slot per bucket, the first offset wins). Each slot packs the
 * block number with a few more hash bits (a tag) so most false candidates are rejected without
 * touching the source. The target side computes the same hash at every position from two
 * little-endian 32-bit words it updates byte by byte (see `Matcher`).
 */

/** Bytes hashed per index entry (the shortest match the index can find). */
export const HASH_BYTES = 8;
const K1 = 0x9e3779b1 | 0;
const K2 = 0x85ebca6b | 0;

/** Hash of the 8 bytes whose little-endian words are `w0` (first 4) and `w1` (next 4). */
export function hash8(w0: number, w1: number): number {
  return Math.imul(w0 ^ Math.imul(w1 ^ (w1 >>> 15), K2), K1) ^ (w1 >>> 7);
}

/** Little-endian 32-bit word at `pos` (caller guarantees 4 readable bytes). */
export function word(buf: Uint8Array, pos: number): number {
  return (
    (buf[pos] as number) |
    ((buf[pos + 1] as number) << 8) |
    ((buf[pos + 2] as number) << 16) |
    ((buf[pos + 3] as number) << 24)
  );
}

/** A source index's shared memory and shape, posted to encode workers. */
export interface SourceIndexParts {
  source: SharedArrayBuffer;
  sourceOffset: number;
  sourceLength: number;
  /** The Int32 table. */
  table: SharedArrayBuffer;
  step: number;
  /** log2 of the table's slot count. */
  maxBits: number;
}

export class SourceIndex {
  readonly source: Buffer;
  /** Distance between indexed source offsets. */
  readonly step: number;
  /** Packed entries: (tag << blockBits) | (block + 1); 0 = empty. */
  readonly table: Int32Array;
  /** Bucket of hash h: `h >>> shift` after the final mix (see `bucketOf`). */
  readonly shift: number;
  readonly blockBits: number;
  readonly blockMask: number;

  /**
   * `shared`: the table lives in a SharedArrayBuffer, so encode workers can match against it
   * (see `parts` / `fromParts`) without a copy. `table`: an already built table (`fromParts`).
   */
  constructor(
    source: Buffer,
    step: number,
    options: { maxBits?: number; shared?: boolean; table?: Int32Array } = {},
  ) {
    this.source = source;
    this.step = step;
    const maxBits = options.maxBits ?? 28;
    const blocks = source.length >= HASH_BYTES ? Math.floor((source.length - HASH_BYTES) / step) + 1 : 0;
    let bits = 10;
    while (bits < maxBits && 2 ** bits < blocks) bits++;
    this.shift = 32 - bits;
    let blockBits = 1;
    while (2 ** blockBits <= blocks + 1) blockBits++;
    // Sources are < 2^32 bytes and step >= 4, so blockBits <= 31 and the tag has >= 1 bit.
    this.blockBits = blockBits;
    this.blockMask = 2 ** blockBits - 1;
    this.table =
      options.table ??
      (options.shared ? new Int32Array(new SharedArrayBuffer(4 * 2 ** bits)) : new Int32Array(2 ** bits));
    this.blocks = blocks;
    if (options.table) this.indexed = blocks;
  }

  private readonly blocks: number;

  /** What a worker needs to match against this index (source and table must be shared memory). */
  parts(): SourceIndexParts {
    const { source, table } = this;
    if (!(source.buffer instanceof SharedArrayBuffer) || !(table.buffer instanceof SharedArrayBuffer))
      throw new TypeError('SourceIndex.parts needs a shared source and table');
    return {
      source: source.buffer,
      sourceOffset: source.byteOffset,
      sourceLength: source.length,
      table: table.buffer,
      step: this.step,
      maxBits: 32 - this.shift,
    };
  }

  /** The index built elsewhere (another thread), over the same shared memory; fully indexed. */
  static fromParts(p: SourceIndexParts): SourceIndex {
    const source = Buffer.from(p.source, p.sourceOffset, p.sourceLength);
    return new SourceIndex(source, p.step, { maxBits: p.maxBits, table: new Int32Array(p.table) });
  }
  private indexed = 0;

  /**
   * Index the blocks lying entirely below source offset `end` (call as the source is read, with
   * increasing `end`; `indexAll` at the latest before matching).
   */
  indexUpTo(end: number): void {
    const { source, step, table, shift, blockBits } = this;
    const stop = Math.min(this.blocks, end >= HASH_BYTES ? Math.floor((end - HASH_BYTES) / step) + 1 : 0);
    for (let b = this.indexed; b < stop; b++) {
      const o = b * step;
      const h = hash8(word(source, o), word(source, o + 4));
      const slot = h >>> shift;
      // First offset wins: repeated content then points at its earliest copy, whose matches run
      // longest, and collisions keep what was indexed first.
      if (table[slot] === 0) table[slot] = (h << blockBits) | (b + 1);
    }
    if (stop > this.indexed) this.indexed = stop;
  }

  indexAll(): void {
    this.indexUpTo(this.source.length);
  }
}
