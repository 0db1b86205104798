/**
 * Executes one VCDIFF window (RFC 3284 section 5.3): the data/instruction/address sections with
 * the default code table, against the window's source segment. Pure: bytes in, target bytes out.
 */
import { OciDeltaError } from '@ocidelta/core';
import { AddressCache } from './address-cache.js';
import { adler32 } from './adler32.js';
import { ADD, COPY, DEFAULT_CODE_TABLE, NEAR_SIZE, NOOP, RUN } from './code-table.js';
import { readVarint } from './varint.js';

/** A parsed window whose sections are views into the delta bytes. */
export interface WindowSections {
  /** Source segment bytes (empty when the window has no VCD_SOURCE). */
  segment: Uint8Array;
  targetLength: number;
  data: Uint8Array;
  inst: Uint8Array;
  addr: Uint8Array;
  /** Expected Adler-32 of the target window, or undefined. */
  adler32?: number;
  /** Window number, for messages. */
  index: number;
  /**
   * Called before each COPY from the source segment with its segment offset, length and target
   * window position, in execution order (the device emulation replays them through its cache).
   */
  onSourceCopy?: (segmentOffset: number, length: number, targetPos: number) => void;
}

function fail(index: number, message: string, details: Record<string, unknown> = {}): never {
  throw new OciDeltaError('ERR_VCDIFF', `VCDIFF window ${index}: ${message}`, { window: index, ...details });
}

const FIRST_SAME_MODE = 2 + NEAR_SIZE;

/**
 * Longest copy done byte by byte: most instructions of a window with new content are a few
 * bytes long, and a view per copy (what `set`/`Buffer.copy` need) costs more than the bytes
 * (measured on a Debian rootfs and a Node app delta: the self-check's decode 1.6x faster).
 */
const SHORT_COPY = 16;

/** Copy `len` bytes of `src` from `from` to `dst` at `to` (distinct buffers or non-overlapping). */
function copyBytes(dst: Uint8Array, to: number, src: Uint8Array, from: number, len: number): void {
  if (len <= SHORT_COPY) {
    for (let j = 0; j < len; j++) dst[to + j] = src[from + j] as number;
  } else {
    dst.set(src.subarray(from, from + len), to);
  }
}

/**
 * Rebuild the target window described by `w`, into `into` when it is large enough (else a new
 * buffer). Throws ERR_VCDIFF on any inconsistency.
 */
export function decodeWindow(
  w: WindowSections,
  cache: AddressCache = new AddressCache(),
  into?: Buffer,
): Buffer {
  const { segment, targetLength, data, inst, addr, index } = w;
  const segLen = segment.length;
  const out =
    into !== undefined && into.length >= targetLength
      ? into.subarray(0, targetLength)
      : Buffer.allocUnsafe(targetLength);
  const table = DEFAULT_CODE_TABLE;
  cache.reset();
  let tpos = 0;
  let dpos = 0;
  let ipos = 0;
  let apos = 0;
  const instEnd = inst.length;
  while (ipos < instEnd) {
    const op = inst[ipos++] as number;
    for (let half = 0; half < 2; half++) {
      const type = half === 0 ? (table.type1[op] as number) : (table.type2[op] as number);
      if (type === NOOP) continue;
      let size = half === 0 ? (table.size1[op] as number) : (table.size2[op] as number);
      if (size === 0) [size, ipos] = readVarint(inst, ipos, instEnd, 'instruction size');
      if (tpos + size > targetLength)
        fail(index, `instruction overflows the target window (${targetLength} bytes)`);
      if (type === ADD) {
        if (dpos + size > data.length) fail(index, 'ADD reads past the data section');
        copyBytes(out, tpos, data, dpos, size);
        dpos += size;
      } else if (type === RUN) {
        if (dpos >= data.length) fail(index, 'RUN reads past the data section');
        out.fill(data[dpos++] as number, tpos, tpos + size);
      } else if (type === COPY) {
        const mode = half === 0 ? (table.mode1[op] as number) : (table.mode2[op] as number);
        let value: number;
        if (mode >= FIRST_SAME_MODE) {
          if (apos >= addr.length) fail(index, 'COPY reads past the address section');
          value = addr[apos++] as number;
        } else {
          [value, apos] = readVarint(addr, apos, addr.length, 'COPY address');
        }
        const here = segLen + tpos;
        let a: number;
        try {
          a = cache.decode(mode, value, here);
        } catch (err) {
          fail(index, (err as Error).message.replace(/^VCDIFF: /, ''));
        }
        let k = 0;
        if (a < segLen) {
          const fromSeg = Math.min(size, segLen - a);
          w.onSourceCopy?.(a, fromSeg, tpos);
          copyBytes(out, tpos, segment, a, fromSeg);
          k = fromSeg;
        }
        if (k < size) {
          // Copy from the target window, possibly overlapping what it writes.
          let src = a + k - segLen;
          let dst = tpos + k;
          const end = tpos + size;
          if (src + (end - dst) <= dst) {
            if (end - dst <= SHORT_COPY) copyBytes(out, dst, out, src, end - dst);
            else out.copyWithin(dst, src, src + (end - dst));
          } else {
            while (dst < end) out[dst++] = out[src++] as number;
          }
        }
      } else {
        fail(index, `bad instruction type in opcode ${op}`);
      }
      tpos += size;
    }
  }
  if (tpos !== targetLength)
    fail(index, `instructions produce ${tpos} bytes, window declares ${targetLength}`);
  if (dpos !== data.length) fail(index, 'data section not fully used');
  if (apos !== addr.length) fail(index, 'address section not fully used');
  if (w.adler32 !== undefined) {
    const actual = adler32(out, 0, targetLength);
    if (actual !== w.adler32) {
      fail(index, `target window checksum mismatch (expected ${hex(w.adler32)}, got ${hex(actual)})`, {
        expected: w.adler32,
        actual,
      });
    }
  }
  return out;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
