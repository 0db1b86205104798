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
    for (; i < stop; i++) {
      a += buf[i] as number;
      b += a;
    }
    a %= MOD;
    b %= MOD;
  }
  return ((b << 16) | a) >>> 0;
}
