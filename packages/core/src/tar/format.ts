/**
 * Pure tar (ustar/pax/GNU) header encoding and decoding: 512-byte blocks in, fields out, and
 * back. No I/O here: reader.ts, pack.ts, file-index.ts and file-writer.ts do that.
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
  /** The raw type flag (`'3'` for a character device, ...): names an `other` entry in messages. */
  typeflag: string;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  uname: string;
  gname: string;
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
  if (Number.isNaN(size)) {
    throw new OciDeltaError('ERR_INVALID_ARCHIVE', `${file}: bad entry size at offset ${offset}`, {
      path: file,
      offset,
    });
  }
  // Metadata fields only describe the entry: one other writers got wrong (a negative mtime) reads as 0.
  const number = (start: number, length: number): number => {
    const value = parseTarNumber(block, start, length);
    return Number.isNaN(value) ? 0 : value;
  };
  let name = cString(block, 0, 100);
  const magic = cString(block, 257, 6);
  if (magic === 'ustar') {
    const prefix = cString(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const typeflag = String.fromCharCode(block[156]!);
  return {
    name,
    size,
    type: TYPES[typeflag] ?? 'other',
    typeflag,
    linkname: cString(block, 157, 100),
    mode: number(100, 8),
    uid: number(108, 8),
    gid: number(116, 8),
    mtime: number(136, 12),
    uname: cString(block, 265, 32),
    gname: cString(block, 297, 32),
  };
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
  // length-1 octal digits then NUL, as GNU tar and Go's archive/tar write them.
  writeString(block, `${value.toString(8).padStart(length - 1, '0')}\0`, start, length);
}

/** A numeric field: octal when it fits, else GNU base-256 (sizes >= 8 GiB, big ids/times). */
function writeNumber(block: Buffer, value: number, start: number, length: number): void {
  if (value < 8 ** (length - 1)) {
    writeOctal(block, value, start, length);
    return;
  }
  block.fill(0, start, start + length);
  let v = value;
  for (let i = start + length - 1; i > start; i--) {
    block[i] = v % 256;
    v = Math.floor(v / 256);
  }
  block[start] = 0x80;
}

/** The entry types the encoder writes. */
export type WritableEntryType = 'file' | 'directory' | 'symlink' | 'link' | 'pax';

export interface HeaderFields {
  name: string;
  /** Data bytes (0 for directories and links). */
  size?: number;
  type?: WritableEntryType;
  /** Permission bits; default 0o755 for directories, 0o644 otherwise. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch (fractions dropped). */
  mtime?: number;
  uname?: string;
  gname?: string;
  /** Target of a symlink or hard link. */
  linkname?: string;
}

const TYPE_FLAGS: Record<WritableEntryType, string> = {
  file: '0',
  directory: '5',
  symlink: '2',
  link: '1',
  pax: 'x',
};

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

/**
 * The pax records an entry needs besides `extra` (its own, e.g. xattrs): `path` for a name
 * ustar cannot hold, `linkpath` for a link target over 100 bytes. Empty when none is needed.
 */
export function paxRecordsFor(
  fields: Pick<HeaderFields, 'name' | 'linkname'>,
  extra: readonly (readonly [string, Uint8Array | string])[] = [],
): (readonly [string, Uint8Array | string])[] {
  const records: (readonly [string, Uint8Array | string])[] = [];
  if (!fitsUstar(fields.name)) records.push(['path', fields.name]);
  if (fields.linkname !== undefined && Buffer.byteLength(fields.linkname) > 100) {
    records.push(['linkpath', fields.linkname]);
  }
  records.push(...extra);
  return records;
}

/**
 * Encode one ustar header block (Go's archive/tar layout: NUL-terminated octal fields, base-256
 * beyond them). A name or link target that does not fit is truncated: write the records of
 * `paxRecordsFor` in a pax header first (packTar does).
 */
export function encodeHeader(fields: HeaderFields): Buffer {
  const type = fields.type ?? 'file';
  const block = Buffer.alloc(BLOCK);
  const split = splitUstarName(fields.name) ?? { prefix: '', name: fields.name.slice(-100) };
  writeString(block, split.name, 0, 100);
  writeOctal(block, fields.mode ?? (type === 'directory' ? 0o755 : 0o644), 100, 8);
  writeNumber(block, fields.uid ?? 0, 108, 8);
  writeNumber(block, fields.gid ?? 0, 116, 8);
  writeNumber(block, fields.size ?? 0, 124, 12);
  writeNumber(block, Math.floor(fields.mtime ?? 0), 136, 12);
  block[156] = TYPE_FLAGS[type].charCodeAt(0);
  if (fields.linkname) writeString(block, fields.linkname, 157, 100);
  writeString(block, 'ustar\0', 257, 6);
  writeString(block, '00', 263, 2);
  writeString(block, fields.uname ?? '', 265, 32);
  writeString(block, fields.gname ?? '', 297, 32);
  writeOctal(block, 0, 329, 8);
  writeOctal(block, 0, 337, 8);
  writeString(block, split.prefix, 345, 155);
  block.fill(32, 148, 156);
  writeOctal(block, checksumOf(block), 148, 7);
  block[155] = 32;
  return block;
}

/** Zero bytes that pad `size` bytes of entry data to a block boundary. */
export function padding(size: number): Buffer {
  return ZEROS.subarray(0, paddingFor(size));
}

const ZEROS = Buffer.alloc(BLOCK * 2);

/** The end-of-archive marker: two zero blocks. */
export const TAR_END: Buffer = Buffer.alloc(BLOCK * 2);
