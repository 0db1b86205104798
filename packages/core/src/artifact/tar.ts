/**
 * The small tar subset Mender artifacts use: a ustar header encoder (regular files only, Go's
 * base-256 size for members >= 8 GiB) and a streaming reader over an async iterable of bytes
 * that yields each member's header and body (PAX `path`/`size` and GNU long names understood),
 * with typed errors for truncated or corrupt archives. Bounded memory: bodies are streamed.
 */
import { OciDeltaError } from '../errors.js';
import { cString, parsePax, parseTarNumber, paxSize } from '../layout/tar-format.js';

export const BLOCK = 512;

export interface TarEntryHeader {
  name: string;
  size: number;
  mode?: number;
  mtime?: number;
  uname?: string;
  gname?: string;
}

function writeString(buf: Buffer, offset: number, length: number, value: string): void {
  buf.write(value, offset, length, 'utf8');
}

function writeOctal(buf: Buffer, offset: number, length: number, value: number): void {
  // length-1 octal digits then NUL, as Go's tar writer does.
  buf.write(value.toString(8).padStart(length - 1, '0'), offset, length - 1, 'ascii');
  buf[offset + length - 1] = 0;
}

/** A 512-byte ustar header for a regular file. */
export function tarHeader(entry: TarEntryHeader): Buffer {
  const name = Buffer.from(entry.name, 'utf8');
  if (name.length > 100) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', `tar member name longer than 100 bytes: ${entry.name}`, {
      name: entry.name,
    });
  }
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0);
  writeOctal(h, 100, 8, entry.mode ?? 0o600);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  if (entry.size < 0o77777777777) {
    writeOctal(h, 124, 12, entry.size);
  } else {
    // GNU base-256: high bit set, big-endian binary (Go's reader understands it).
    h[124] = 0x80;
    let v = BigInt(entry.size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  writeOctal(h, 136, 12, Math.floor(entry.mtime ?? 0));
  h.fill(0x20, 148, 156);
  h[156] = 0x30; // '0' regular file
  writeString(h, 257, 6, 'ustar');
  writeString(h, 263, 2, '00');
  writeString(h, 265, 32, entry.uname ?? '');
  writeString(h, 297, 32, entry.gname ?? '');
  writeOctal(h, 329, 8, 0);
  writeOctal(h, 337, 8, 0);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** Zero bytes that pad a member of `size` bytes to a block boundary. */
export function tarPadding(size: number): Buffer {
  const rem = size % BLOCK;
  return Buffer.alloc(rem === 0 ? 0 : BLOCK - rem);
}

/** The end-of-archive marker: two zero blocks. */
export const TAR_END: Buffer = Buffer.alloc(2 * BLOCK);

/** Pulls exact byte counts out of an async iterable of chunks. */
export class ByteReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  /** Total bytes handed out. */
  position = 0;
  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }
  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return true;
  }
  /** Exactly `n` bytes, or fewer only at the end of input (caller decides if that is truncation). */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && (await this.fill())) {}
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    this.position += out.length;
    return out;
  }
  /** Up to `max` bytes (at least 1 unless at the end). */
  async chunk(max: number): Promise<Buffer> {
    if (this.buf.length === 0) await this.fill();
    const out = this.buf.subarray(0, Math.min(max, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    this.position += out.length;
    return out;
  }
  /** Drain the rest of the input (so a compressed stream's trailer is checked). */
  async drain(): Promise<number> {
    let n = this.buf.length;
    this.buf = Buffer.alloc(0);
    while (await this.fill()) {
      n += this.buf.length;
      this.buf = Buffer.alloc(0);
    }
    return n;
  }
}

export interface TarReadEntry {
  header: TarEntryHeader & { type: string };
  /** The member's bytes; must be consumed (or left: the reader skips the rest) before the next. */
  body: AsyncIterable<Buffer>;
}

function parseNumber(buf: Buffer, start: number, len: number, where: string): number {
  const value = parseTarNumber(buf, start, len);
  if (Number.isNaN(value)) {
    throw new OciDeltaError(
      'ERR_INVALID_ARCHIVE',
      `${where}: corrupt tar header (numeric field at byte ${start} is not a non-negative integer)`,
      { path: where },
    );
  }
  return value;
}

/** Metadata members (pax records, GNU long names) above this size are refused. */
const MAX_META = 1024 * 1024;

/**
 * Read tar members from `source`. `where` names the archive in errors. Ends at the end marker
 * (then reads the source to its end) or at a clean end of input on a block boundary; any other
 * end is ERR_TRUNCATED.
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array>,
  where: string,
): AsyncGenerator<TarReadEntry> {
  const reader = new ByteReader(source);
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  for (;;) {
    const block = await reader.read(BLOCK);
    if (block.length === 0) return;
    if (block.length < BLOCK) throw truncated(where);
    if (block.every((b) => b === 0)) {
      // Read to the end so a decompressor underneath checks its trailer (gzip CRC).
      await reader.drain();
      return;
    }
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
    if (sum !== parseNumber(block, 148, 8, where)) {
      throw new OciDeltaError('ERR_INVALID_ARCHIVE', `${where}: corrupt tar header (bad checksum)`, {
        path: where,
      });
    }
    const type = String.fromCharCode(block[156] || 0x30);
    let size = parseNumber(block, 124, 12, where);
    if (type === 'x' || type === 'g' || type === 'L') {
      if (size > MAX_META) {
        throw new OciDeltaError(
          'ERR_INVALID_ARCHIVE',
          `${where}: oversized tar metadata entry (${size} bytes)`,
          {
            path: where,
          },
        );
      }
      const data = await reader.read(size);
      if (data.length < size) throw truncated(where);
      await skip(reader, tarPadding(size).length, where);
      if (type === 'x') pax = parsePax(data, where);
      if (type === 'L') longName = cString(data, 0, data.length);
      continue;
    }
    let name = cString(block, 0, 100);
    const magic = cString(block, 257, 6);
    if (magic === 'ustar') {
      const prefix = cString(block, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (longName !== undefined) name = longName;
    if (pax.path !== undefined) name = pax.path;
    size = paxSize(pax, where) ?? size;
    longName = undefined;
    pax = {};
    let remaining = size;
    const body = (async function* () {
      while (remaining > 0) {
        const chunk = await reader.chunk(Math.min(remaining, 1 << 20));
        if (chunk.length === 0) throw truncated(where);
        remaining -= chunk.length;
        yield chunk;
      }
    })();
    yield {
      header: {
        name,
        size,
        type,
        mode: parseNumber(block, 100, 8, where),
        mtime: parseNumber(block, 136, 12, where),
        uname: cString(block, 265, 32),
        gname: cString(block, 297, 32),
      },
      body,
    };
    // Skip whatever the consumer left unread, then the padding.
    await skip(reader, remaining, where);
    remaining = 0;
    await skip(reader, tarPadding(size).length, where);
  }
}

async function skip(reader: ByteReader, n: number, where: string): Promise<void> {
  while (n > 0) {
    const chunk = await reader.chunk(Math.min(n, 1 << 20));
    if (chunk.length === 0) throw truncated(where);
    n -= chunk.length;
  }
}

function truncated(where: string): OciDeltaError {
  return new OciDeltaError('ERR_TRUNCATED', `${where}: truncated tar archive`, { path: where });
}
