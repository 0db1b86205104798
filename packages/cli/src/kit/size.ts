/**
 * The one size rule of every size flag: a number of bytes, optionally with a unit.
 * `kB`, `MB`, `GB`, `TB` are powers of 1000 (as mender-artifact and disk vendors write them);
 * `KiB`, `MiB`, `GiB`, `TiB` (also `Ki`, `Mi`...) and the bare letters `K`, `M`, `G`, `T` are
 * powers of 1024 (as docker and GNU tools read them). Units are case-insensitive; fractions are
 * allowed (`1.5GiB`) and rounded down to whole bytes.
 */
import { OciDeltaError } from '@ocidelta/core';

const SIZE_RE = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?)(b?)$/i;
const POWER: Record<string, number> = { k: 1, m: 2, g: 3, t: 4 };

/** Bytes of `text` (`500MB`, `64MiB`, `10G`, `123`); ERR_INVALID_OPTIONS naming `flag` otherwise. */
export function parseByteSize(text: string, flag = 'size'): number {
  const m = SIZE_RE.exec(text.trim());
  if (!m) throw sizeError(text, flag);
  const [, num, letter = '', iec = '', b = ''] = m;
  if (letter === '' && iec !== '') throw sizeError(text, flag);
  // `MB` (no i) is decimal; `M`, `Mi`, `MiB` are binary.
  const base = iec === '' && b !== '' ? 1000 : 1024;
  const mult = letter === '' ? 1 : base ** (POWER[letter.toLowerCase()] as number);
  const value = Math.floor(Number(num) * mult);
  if (!Number.isSafeInteger(value)) throw sizeError(text, flag);
  return value;
}

function sizeError(text: string, flag: string): OciDeltaError {
  return new OciDeltaError(
    'ERR_INVALID_OPTIONS',
    `${flag}: invalid size "${text}" (bytes, or with a unit: 500MB = 500,000,000; 64MiB or 64M = 67,108,864)`,
    { option: flag, value: text },
  );
}

/** `512 B`, `1.50 KiB`, `5.00 GiB`: binary units, as progress and summaries print sizes. */
export function formatIecBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
