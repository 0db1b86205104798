/**
 * The source cache of the device's decoder, stock `xdelta3 -d` 3.0.x (`xdelta3-blkcache.h`),
 * emulated exactly (pure, no I/O): the encoder uses it to keep every source COPY where that
 * decoder can still reach it, the self-check and `verify-install` replay a delta through it.
 *
 * - The cache is `-B` bytes (rounded up to a power of two; default 64 MiB). At open the decoder
 *   reads the first `-B` bytes. A source smaller than that (seekable: `<= -B`, read through a
 *   decompressor: `< -B`) stays one block and every copy is free.
 * - Otherwise the cache is 32 blocks of `-B/32` bytes, numbered from the source start.
 *   - `seekable` (an uncompressed file): the blocks are an LRU; a miss re-reads one block.
 *   - `sequential` (a gzip/bzip2/xz file piped through its decompressor, or a FIFO): block `b`
 *     lives in slot `b % 32` and the source is read strictly forward, so only the 32 most
 *     recently read blocks exist; a copy needing an older one fails (`XD3_TOOFARBACK`, "non-seekable
 *     source in decode"). Reading past the last block read reads every block in between.
 */
import { OciDeltaError } from '@ocidelta/core';

/** How the device's decoder reads the source: an uncompressed file, or a stream (decompressed). */
export type SourceAccess = 'seekable' | 'sequential';
export const SOURCE_ACCESSES: readonly SourceAccess[] = ['seekable', 'sequential'];

/** xdelta3's default `-B` (XD3_DEFAULT_SRCWINSZ): 64 MiB. */
export const DEFAULT_SOURCE_WINDOW = 64 * 1024 * 1024;
/** Blocks of the split cache (xdelta3's MAX_LRU_SIZE). */
export const SOURCE_CACHE_BLOCKS = 32;
const MIN_SOURCE_WINDOW = 1 << 16;
const MAX_SOURCE_WINDOW = 2 ** 31;

/** What the device's decoder is: how it reads the source and its `-B`. */
export interface DeviceDecoder {
  /** Default `seekable`. */
  sourceAccess?: SourceAccess;
  /** The decoder's `-B` in bytes (default 64 MiB; rounded up to a power of two as xdelta3 does). */
  sourceWindow?: number;
}

/** What decoding a delta costs the device. */
export interface DeviceDecodeStats {
  sourceAccess: SourceAccess;
  /** `-B` as the decoder uses it (a power of two). */
  sourceWindow: number;
  /** Source bytes the decoder reads (from disk or its decompressor), re-reads included. */
  sourceBytesRead: number;
  /** Size of the (decompressed) source. */
  sourceSize: number;
}

/** Why a copy is out of the decoder's reach. */
export interface UnreachableCopy {
  sourceOffset: number;
  block: number;
  /** Highest block read so far; blocks below `newestBlock - 31` are gone. */
  newestBlock: number;
  reason: string;
}

function roundUpPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Validated decoder settings (`-B` rounded up to a power of two). */
export function deviceDecoder(d: DeviceDecoder = {}): Required<DeviceDecoder> {
  const access = d.sourceAccess ?? 'seekable';
  if (!SOURCE_ACCESSES.includes(access)) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `unknown source access "${String(access)}" (expected seekable or sequential)`,
      { sourceAccess: access },
    );
  }
  const w = d.sourceWindow ?? DEFAULT_SOURCE_WINDOW;
  if (!Number.isInteger(w) || w < MIN_SOURCE_WINDOW || w > MAX_SOURCE_WINDOW) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `sourceWindow must be an integer number of bytes in [${MIN_SOURCE_WINDOW}, ${MAX_SOURCE_WINDOW}] (xdelta3 -B)`,
      { sourceWindow: w },
    );
  }
  return { sourceAccess: access, sourceWindow: roundUpPow2(w) };
}

/** The decoder's source cache for one source, replaying copies in decode order. */
export class DecoderSourceCache {
  readonly access: SourceAccess;
  readonly window: number;
  readonly sourceSize: number;
  /** Block size, or 0 when the whole source is one block (every copy is free). */
  readonly blockSize: number;
  /** Source bytes read so far. */
  bytesRead: number;
  /** sequential: highest block read. */
  private newest: number;
  /** seekable: resident blocks, least recently used first. */
  private readonly lru = new Map<number, true>();
  /** seekable: the most recently used block (a copy within it changes nothing). */
  private mru = -1;

  constructor(sourceSize: number, decoder: DeviceDecoder = {}) {
    const d = deviceDecoder(decoder);
    this.access = d.sourceAccess;
    this.window = d.sourceWindow;
    this.sourceSize = sourceSize;
    const single = this.access === 'seekable' ? sourceSize <= this.window : sourceSize < this.window;
    this.blockSize = single ? 0 : this.window / SOURCE_CACHE_BLOCKS;
    // The open reads the first -B bytes.
    this.bytesRead = Math.min(sourceSize, this.window);
    this.newest = SOURCE_CACHE_BLOCKS - 1;
    if (!single) for (let b = 0; b < SOURCE_CACHE_BLOCKS; b++) this.lru.set(b, true);
  }

  /** Lowest source offset a copy may start at now (sequential; 0 when anything is reachable). */
  lowestReachable(): number {
    if (this.blockSize === 0 || this.access === 'seekable') return 0;
    return Math.max(0, this.newest - (SOURCE_CACHE_BLOCKS - 1)) * this.blockSize;
  }

  /** End of what the decoder has read so far (copies starting below it read nothing new). */
  readEnd(): number {
    if (this.blockSize === 0) return this.sourceSize;
    return Math.min(this.sourceSize, (this.newest + 1) * this.blockSize);
  }

  /**
   * Execute a source copy of `length` bytes at `offset` (length > 0): returns why the device's
   * decoder fails on it, or undefined after accounting for the blocks it reads.
   */
  copy(offset: number, length: number): UnreachableCopy | undefined {
    const bs = this.blockSize;
    if (bs === 0 || length <= 0) return undefined;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    if (this.access === 'sequential') {
      if (first <= this.newest - SOURCE_CACHE_BLOCKS) {
        return {
          sourceOffset: offset,
          block: first,
          newestBlock: this.newest,
          reason: `copy from source offset ${offset} needs block ${first} (${bs} bytes each), but a non-seekable source keeps only blocks ${this.newest - SOURCE_CACHE_BLOCKS + 1}..${this.newest} (XD3_TOOFARBACK; a larger -B would reach it)`,
        };
      }
      if (last > this.newest) {
        this.bytesRead +=
          Math.min(this.sourceSize, (last + 1) * bs) - Math.min(this.sourceSize, (this.newest + 1) * bs);
        this.newest = last;
      }
      return undefined;
    }
    // Most copies fall in the block the previous one used: already the most recent, nothing moves.
    if (first === this.mru && last === first) return undefined;
    this.mru = last;
    const lru = this.lru;
    for (let b = first; b <= last; b++) {
      if (lru.delete(b)) {
        lru.set(b, true);
        continue;
      }
      const oldest = lru.keys().next().value as number;
      lru.delete(oldest);
      lru.set(b, true);
      this.bytesRead += Math.min(bs, this.sourceSize - b * bs);
    }
    return undefined;
  }

  stats(): DeviceDecodeStats {
    return {
      sourceAccess: this.access,
      sourceWindow: this.window,
      sourceBytesRead: this.bytesRead,
      sourceSize: this.sourceSize,
    };
  }
}
