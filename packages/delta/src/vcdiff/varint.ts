/**
 * VCDIFF integers (RFC 3284 section 2): big-endian base-128, high bit set on every byte but the
 * last. Plus `ByteWriter`, a growable byte buffer the window encoder writes its sections into.
 */
import { OciDeltaError } from '@ocidelta/core';

/** Number of bytes `value` (a non-negative integer < 2^53) takes as a VCDIFF integer. */
export function varintSize(value: number): number {
  let n = 1;
  let v = Math.floor(value / 128);
  while (v > 0) {
    n++;
    v = Math.floor(v / 128);
  }
  return n;
}

/** A growable output buffer with cheap byte and varint appends. */
export class ByteWriter {
  buf: Buffer;
  length = 0;

  constructor(initialCapacity = 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialCapacity));
  }

  /** Make room for `extra` more bytes. */
  ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  byte(b: number): void {
    if (this.length >= this.buf.length) this.ensure(1);
    this.buf[this.length++] = b;
  }

  varint(value: number): void {
    this.ensure(10);
    if (value < 128) {
      this.buf[this.length++] = value;
      return;
    }
    const n = varintSize(value);
    let v = value;
    for (let i = n - 1; i >= 0; i--) {
      this.buf[this.length + i] = (v % 128) | (i === n - 1 ? 0 : 0x80);
      v = Math.floor(v / 128);
    }
    this.length += n;
  }

  bytes(src: Uint8Array, start = 0, end = src.length): void {
    const n = end - start;
    this.ensure(n);
    this.buf.set(src.subarray(start, end), this.length);
    this.length += n;
  }

  /** Big-endian 32-bit unsigned integer. */
  uint32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(value >>> 0, this.length);
    this.length += 4;
  }

  /** View of the written bytes (shares memory with the writer). */
  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }
}

/**
 * Read a VCDIFF integer from `buf` at `pos`. Returns the value and the position after it.
 * Throws ERR_VCDIFF when the integer is truncated or larger than 2^53 - 1.
 */
export function readVarint(buf: Uint8Array, pos: number, end: number, what: string): [number, number] {
  let value = 0;
  let p = pos;
  for (;;) {
    if (p >= end) throw new OciDeltaError('ERR_VCDIFF', `VCDIFF: truncated integer (${what})`, { what });
    const b = buf[p++] as number;
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) {
      throw new OciDeltaError('ERR_VCDIFF', `VCDIFF: integer overflow (${what})`, { what });
    }
    if ((b & 0x80) === 0) return [value, p];
  }
}
