/**
 * Streaming tar reader over an async iterable of bytes (a file stream, a decompressor, an HTTP
 * body): yields each member's header (PAX `path`/`linkpath`/`size`, GNU long names and links
 * applied) and its body as a stream, with typed errors for truncated or corrupt archives.
 * Bounded memory: bodies are streamed, metadata members are capped.
 */
import { OciDeltaError } from '../errors.js';
import {
  BLOCK,
  cString,
  decodeHeader,
  isZeroBlock,
  paddingFor,
  parsePax,
  paxSize,
  type TarHeader,
} from './format.js';

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
  /** The member's header with pax and GNU extensions applied; `pax` holds its pax records. */
  header: TarHeader & { pax: Readonly<Record<string, string>> };
  /** The member's bytes; must be consumed (or left: the reader skips the rest) before the next. */
  body: AsyncIterable<Buffer>;
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
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  for (;;) {
    const offset = reader.position;
    const block = await reader.read(BLOCK);
    if (block.length === 0) return;
    if (block.length < BLOCK) throw truncated(where);
    if (isZeroBlock(block)) {
      // Read to the end so a decompressor underneath checks its trailer (gzip CRC).
      await reader.drain();
      return;
    }
    const header = decodeHeader(block, where, offset);
    if (
      header.type === 'pax' ||
      header.type === 'pax-global' ||
      header.type === 'gnu-longname' ||
      header.type === 'gnu-longlink'
    ) {
      if (header.size > MAX_META) {
        throw new OciDeltaError(
          'ERR_INVALID_ARCHIVE',
          `${where}: oversized tar metadata entry (${header.size} bytes)`,
          {
            path: where,
          },
        );
      }
      const data = await reader.read(header.size);
      if (data.length < header.size) throw truncated(where);
      await skip(reader, paddingFor(header.size), where);
      if (header.type === 'pax') pax = parsePax(data, where);
      else if (header.type === 'gnu-longname') longName = cString(data, 0, data.length);
      else if (header.type === 'gnu-longlink') longLink = cString(data, 0, data.length);
      continue;
    }
    const size = paxSize(pax, where) ?? header.size;
    const entry = {
      ...header,
      name: pax.path ?? longName ?? header.name,
      linkname: pax.linkpath ?? longLink ?? header.linkname,
      size,
      pax,
    };
    longName = undefined;
    longLink = undefined;
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
    yield { header: entry, body };
    // Skip whatever the consumer left unread, then the padding.
    await skip(reader, remaining, where);
    remaining = 0;
    await skip(reader, paddingFor(size), where);
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
