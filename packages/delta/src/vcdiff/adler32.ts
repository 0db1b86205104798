/** Adler-32 (RFC 1950) as xdelta3 stores it per window (Win_Indicator 0x04, 4 bytes big-endian). */

const MOD = 65521;
/** Largest n such that 255n(n+1)/2 + (n+1)(MOD-1) <= 2^32 - 1 (zlib's NMAX). */
const NMAX = 5552;

/** Adler-32 of `buf[start, end)`, continuing from `adler` (1 for a fresh checksum). */
export function adler32(buf: Uint8Array, start = 0, end = buf.length, adler = 1): number {
  let a = adler & 0xffff;
  let b = (adler >>> 16) & 0xffff;
  let i = start;
  while (i < end) {
    const stop = Math.min(end, i + NMAX);
    // 8 bytes per step: b gains 8a plus the bytes weighted 8..1 (independent multiply-adds).
    for (; i + 8 <= stop; i += 8) {
      const x0 = buf[i] as number;
      const x1 = buf[i + 1] as number;
      const x2 = buf[i + 2] as number;
      const x3 = buf[i + 3] as number;
      const x4 = buf[i + 4] as number;
      const x5 = buf[i + 5] as number;
      const x6 = buf[i + 6] as number;
      const x7 = buf[i + 7] as number;
      b += 8 * a + 8 * x0 + 7 * x1 + 6 * x2 + 5 * x3 + 4 * x4 + 3 * x5 + 2 * x6 + x7;
      a += x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
    }
    for (; i < stop; i++) {
      a += buf[i] as number;
      b += a;
    }
    a %= MOD;
    b %= MOD;
  }
  return ((b << 16) | a) >>> 0;
}
