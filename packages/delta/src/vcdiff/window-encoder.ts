/**
 * Serializes one target window's instruction list as a VCDIFF window (RFC 3284 section 4.2) in
 * the form stock xdelta3 3.0.x decodes: VCD_SOURCE with a source segment covering the window's
 * source copies, the xdelta3 Adler-32 extension (Win_Indicator 0x04), Delta_Indicator 0, the
 * default code table with combined ADD+COPY / COPY+ADD opcodes where they fit.
 */
import { AddressCache } from './address-cache.js';
import { adler32 } from './adler32.js';
import { addCopyOpcode, addOpcode, copyAddOpcode, copyOpcode, NEAR_SIZE } from './code-table.js';
import { I_ADD, I_COPY_SOURCE, I_COPY_TARGET, I_RUN, type InstructionList } from './instructions.js';
import { ByteWriter, varintSize } from './varint.js';

export const VCD_SOURCE = 0x01;
export const VCD_TARGET = 0x02;
export const VCD_ADLER32 = 0x04;

/** First mode of the `same` cache: its addresses are written as one byte. */
const FIRST_SAME_MODE = 2 + NEAR_SIZE;

/** Reusable buffers for encoding windows. */
export class WindowEncoder {
  private readonly data = new ByteWriter(1 << 16);
  private readonly inst = new ByteWriter(1 << 16);
  private readonly addr = new ByteWriter(1 << 16);
  private readonly cache = new AddressCache();

  private writeAddr(mode: number, value: number): void {
    if (mode >= FIRST_SAME_MODE) this.addr.byte(value);
    else this.addr.varint(value);
  }

  /**
   * Encode target window `t[0, n)` from `list` into `out` (appended). Returns the number of bytes
   * appended.
   */
  encode(t: Uint8Array, n: number, list: InstructionList, out: ByteWriter): number {
    const { kinds, sizes, addrs, count } = list;
    // Source segment: the span of this window's source copies.
    let segStart = Number.POSITIVE_INFINITY;
    let segEnd = 0;
    for (let k = 0; k < count; k++) {
      if (kinds[k] === I_COPY_SOURCE) {
        const a = addrs[k] as number;
        if (a < segStart) segStart = a;
        const e = a + (sizes[k] as number);
        if (e > segEnd) segEnd = e;
      }
    }
    const hasSource = segEnd > 0;
    if (!hasSource) segStart = 0;
    const segLen = segEnd - segStart;

    const data = this.data;
    const inst = this.inst;
    const cache = this.cache;
    data.reset();
    inst.reset();
    this.addr.reset();
    cache.reset();

    let pos = 0;
    for (let k = 0; k < count; k++) {
      const kind = kinds[k] as number;
      const size = sizes[k] as number;
      if (kind === I_ADD) {
        data.bytes(t, pos, pos + size);
        pos += size;
        const next = k + 1 < count ? (kinds[k + 1] as number) : 0;
        if (size <= 4 && (next === I_COPY_SOURCE || next === I_COPY_TARGET)) {
          const csize = sizes[k + 1] as number;
          if (csize >= 4 && csize <= 6) {
            const a =
              next === I_COPY_SOURCE
                ? (addrs[k + 1] as number) - segStart
                : segLen + (addrs[k + 1] as number);
            const mode = cache.encode(a, segLen + pos);
            const value = cache.encodedValue;
            const op = addCopyOpcode(size, csize, mode);
            if (op >= 0) {
              inst.byte(op);
            } else {
              inst.byte(addOpcode(size));
              inst.byte(copyOpcode(csize, mode));
            }
            this.writeAddr(mode, value);
            pos += csize;
            k++;
            continue;
          }
        }
        const op = addOpcode(size);
        inst.byte(op);
        if (op === 1) inst.varint(size);
      } else if (kind === I_RUN) {
        data.byte(t[pos] as number);
        inst.byte(0);
        inst.varint(size);
        pos += size;
      } else {
        const a = kind === I_COPY_SOURCE ? (addrs[k] as number) - segStart : segLen + (addrs[k] as number);
        const mode = cache.encode(a, segLen + pos);
        const value = cache.encodedValue;
        pos += size;
        if (size === 4 && k + 1 < count && kinds[k + 1] === I_ADD && sizes[k + 1] === 1) {
          inst.byte(copyAddOpcode(4, mode, 1));
          this.writeAddr(mode, value);
          data.byte(t[pos] as number);
          pos += 1;
          k++;
          continue;
        }
        const op = copyOpcode(size, mode);
        inst.byte(op);
        if (size < 4 || size > 18) inst.varint(size);
        this.writeAddr(mode, value);
      }
    }

    const dataLen = data.length;
    const instLen = inst.length;
    const addrLen = this.addr.length;
    const encLen =
      varintSize(n) +
      1 +
      varintSize(dataLen) +
      varintSize(instLen) +
      varintSize(addrLen) +
      4 +
      dataLen +
      instLen +
      addrLen;
    const before = out.length;
    out.byte((hasSource ? VCD_SOURCE : 0) | VCD_ADLER32);
    if (hasSource) {
      out.varint(segLen);
      out.varint(segStart);
    }
    out.varint(encLen);
    out.varint(n);
    out.byte(0);
    out.varint(dataLen);
    out.varint(instLen);
    out.varint(addrLen);
    out.uint32(adler32(t, 0, n));
    out.bytes(data.buf, 0, dataLen);
    out.bytes(inst.buf, 0, instLen);
    out.bytes(this.addr.buf, 0, addrLen);
    return out.length - before;
  }
}
