/**
 * Pure tar (ustar/pax/GNU) header encoding and decoding: 512-byte blocks in, fields out, and
 * back. No I/O here; tar-index.ts and tar-writer.ts do the reading and writing.
 */
import { OciDeltaError } from '../errors.js';

export const BLOCK = 512;

/** Bytes of padding after `size` bytes of entry data. */
export function paddingFor(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

export type TarEntryType =
  | 'file'
  | 'directory'
  | 'symlink'
  | 'link'
  | 'pax'
  | 'pax-global'
  | 'gnu-longname'
  | 'gnu-longlink'
  | 'other';

export interface TarHeader {
  name: string;
  size: number;
  type: TarEntryType;
  linkname: string;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '5': 'directory',
  '2': 'symlink',
  '1': 'link',
  x: 'pax',
  g: 'pax-global',
  L: 'gnu-longname',
  K: 'gnu-longlink',
};

/** A NUL-terminated string field. */
export function cString(block: Uint8Array, start: number, length: number): string {
  const slice = block.subarray(start, start + length);
  const end = slice.indexOf(0);
  return Buffer.from(end < 0 ? slice : slice.subarray(0, end)).toString('utf8');
}

/**
 * A numeric header field (octal, or GNU base-256 when the high bit is set), or NaN when it is
 * not a non-negative safe integer: negative base-256 values, digits other than octal and
 * values past 2^53 are all refused here, so no caller can step backwards or overflow.
 */
export function parseTarNumber(block: Uint8Array, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if (field[0]! & 0x80) {
    // GNU base-256: big-endian two's complement; 0xff.. is negative.
    if (field[0]! & 0x40) return Number.NaN;
    let value = field[0]! & 0x3f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return Number.isSafeInteger(value) ? value : Number.NaN;
  }
  const text = cString(block, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  const value = Number.parseInt(text, 8);
  return Number.isSafeInteger(value) ? value : Number.NaN;
}

/** True for an all-zero block (end-of-archive marker). */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function checksumOf(block: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum;
}

/** Decode one header block; throws ERR_INVALID_ARCHIVE (naming `file` and offset) when it is not one. */
export function decodeHeader(block: Uint8Array, file: string, offset: number): TarHeader {
  const stored = parseTarNumber(block, 148, 8);
  if (!Number.isFinite(stored) || stored !== checksumOf(block)) {
    throw new OciDeltaError(
      'ERR_INVALID_ARCHIVE',
      `${file}: not a tar archive (bad header checksum at offset ${offset})`,
      {
        path: file,
        offset,
      },
    );
  }
  const size = parseTarNumber(block, 124, 12);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new OciDeltaError('ERR_INVALID_ARCHIVE', `${file}: bad entry size at offset ${offset}`, {
      path: file,
      offset,
    });
  }
  let name = cString(block, 0, 100);
  const magic = cString(block, 257, 6);
  if (magic === 'ustar') {
    const prefix = cString(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const flag = String.fromCharCode(block[156]!);
  return { name, size, type: TYPES[flag] ?? 'other', linkname: cString(block, 157, 100) };
}

function badPax(where: string, why: string): OciDeltaError {
  return new OciDeltaError('ERR_INVALID_ARCHIVE', `${where}: corrupt pax header (${why})`, { path: where });
}

/**
 * Parse pax extended header records (`<len> key=value\n`). Every record must be well formed:
 * a decimal length that covers at least its own digits, the space and the newline, and ends
 * within the data; anything else is ERR_INVALID_ARCHIVE naming `where`.
 */
export function parsePax(data: Uint8Array, where = 'tar archive'): Record<string, string> {
  const out: Record<string, string> = {};
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  while (pos < buf.length) {
    // Trailing NUL padding after the last record is tolerated (some writers leave it).
    if (buf[pos] === 0 && buf.subarray(pos).every((b) => b === 0)) break;
    const space = buf.indexOf(0x20, pos);
    const digits = space < 0 ? '' : buf.subarray(pos, space).toString('ascii');
    if (!/^[1-9][0-9]{0,8}$/.test(digits)) throw badPax(where, `bad record length at byte ${pos}`);
    const len = Number(digits);
    if (len < digits.length + 3 || pos + len > buf.length || buf[pos + len - 1] !== 0x0a) {
      throw badPax(where, `record at byte ${pos} does not fit its length ${len}`);
    }
    const record = buf.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq <= 0) throw badPax(where, `record at byte ${pos} has no key`);
    out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

/**
 * Pax extended-header data from records (`"<len> <key>=<value>\n"` each), values as raw bytes
 * (xattr values are binary; the length counts bytes, its own digits included).
 */
export function encodePax(
  records: Readonly<Record<string, string>> | readonly (readonly [key: string, value: Uint8Array | string])[],
): Buffer {
  const parts: Buffer[] = [];
  const list: readonly (readonly [string, Uint8Array | string])[] = Array.isArray(records)
    ? records
    : Object.entries(records);
  for (const [key, value] of list) {
    const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
    let digits = String(body.length).length;
    if (body.length + digits >= 10 ** digits) digits += 1;
    parts.push(Buffer.from(String(body.length + digits)), body);
  }
  return Buffer.concat(parts);
}

/** A pax `size` record as a non-negative safe integer (`undefined` when absent). */
export function paxSize(pax: Record<string, string>, where: string): number | undefined {
  const text = pax.size;
  if (text === undefined) return undefined;
  const value = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw badPax(where, `size "${text.slice(0, 32)}" is not a byte count`);
  return value;
}

function writeString(block: Buffer, value: string, start: number, length: number): void {
  block.write(value, start, length, 'utf8');
}

function writeOctal(block: Buffer, value: number, start: number, length: number): void {
  // length-1 octal digits then NUL.
  writeString(block, `${value.toString(8).padStart(length - 1, '0')}\0`, start, length);
}

/** Largest size that fits the 11-digit octal size field. */
const MAX_OCTAL_SIZE = 0o77777777777;

function writeSize(block: Buffer, size: number): void {
  if (size <= MAX_OCTAL_SIZE) {
    writeOctal(block, size, 124, 12);
    return;
  }
  // GNU base-256 for sizes >= 8 GiB.
  block.fill(0, 124, 136);
  let v = size;
  for (let i = 135; i > 124; i--) {
    block[i] = v % 256;
    v = Math.floor(v / 256);
  }
  block[124] = 0x80;
}

export interface HeaderFields {
  name: string;
  size: number;
  type: 'file' | 'directory' | 'pax';
  mode?: number;
  mtime?: number;
}

/** Split a long name into ustar prefix + name; undefined when it cannot be split. */
function splitUstarName(name: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) {
      return { prefix, name: rest };
    }
  }
  return undefined;
}

/** True when `name` fits a plain ustar header (else a pax `path` record is needed). */
export function fitsUstar(name: string): boolean {
  return splitUstarName(name) !== undefined;
}

/** Encode one ustar header block. Names that do not fit are truncated: write a pax record first. */
export function encodeHeader(fields: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  const split = splitUstarName(fields.name) ?? { prefix: '', name: fields.name.slice(-100) };
  writeString(block, split.name, 0, 100);
  writeOctal(block, fields.mode ?? (fields.type === 'directory' ? 0o755 : 0o644), 100, 8);
  writeOctal(block, 0, 108, 8);
  writeOctal(block, 0, 116, 8);
  writeSize(block, fields.size);
  writeOctal(block, fields.mtime ?? 0, 136, 12);
  block[156] = (fields.type === 'directory' ? '5' : fields.type === 'pax' ? 'x' : '0').charCodeAt(0);
  writeString(block, 'ustar\0', 257, 6);
  writeString(block, '00', 263, 2);
  writeString(block, split.prefix, 345, 155);
  block.fill(32, 148, 156);
  writeOctal(block, checksumOf(block), 148, 7);
  block[155] = 32;
  return block;
}
