/**
 * Streaming tar writer to a file: entries are written as they stream in (bounded memory), to a
 * temp file beside the target that is renamed into place on `commit()` and removed on `abort()`.
 * Entries of unknown size (a layer being decompressed) get their header patched afterwards.
 */
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { type BlobData, toReadable } from '../blob-data.js';
import { OciDeltaError } from '../errors.js';
import { tempPathFor } from '../fs/atomic.js';
import { assertSafeEntryName } from '../layout/safe-path.js';
import type { ByteProgress } from '../layout/write-blob.js';
import { BLOCK, encodeHeader, encodePax, fitsUstar, paddingFor } from './format.js';

const ZEROS = Buffer.alloc(BLOCK * 2);
/** Bytes gathered before one file write. */
const COALESCE = 1024 * 1024;

export interface TarStreamOptions {
  /** Declared size; when given, a different length is ERR_SIZE_MISMATCH. */
  size?: number;
  signal?: AbortSignal;
  onProgress?: (p: ByteProgress) => void;
}

/** Writes an uncompressed tar file entry by entry. */
export class TarWriter {
  /** Final path of the archive. */
  readonly file: string;
  private readonly tmp: string;
  private fh: FileHandle | undefined;
  private position = 0;
  private readonly names = new Set<string>();

  private constructor(file: string, tmp: string, fh: FileHandle) {
    this.file = file;
    this.tmp = tmp;
    this.fh = fh;
  }

  /** Start writing `file` (through a temp file in the same directory). */
  static async create(file: string): Promise<TarWriter> {
    const tmp = tempPathFor(file);
    const fh = await open(tmp, 'wx');
    return new TarWriter(file, tmp, fh);
  }

  /** Entry names written so far. */
  has(name: string): boolean {
    return this.names.has(name);
  }

  private handle(): FileHandle {
    if (!this.fh) throw new OciDeltaError('ERR_INVALID_OPTIONS', `tar writer for ${this.file} is closed`);
    return this.fh;
  }

  private async write(buf: Uint8Array): Promise<void> {
    const fh = this.handle();
    let off = 0;
    while (off < buf.byteLength) {
      const { bytesWritten } = await fh.write(buf, off, buf.byteLength - off, this.position);
      off += bytesWritten;
      this.position += bytesWritten;
    }
  }

  private async writeHeader(name: string, size: number, type: 'file' | 'directory'): Promise<number> {
    assertSafeEntryName(name, this.file);
    this.names.add(name);
    if (!fitsUstar(name)) {
      const pax = encodePax([['path', name]]);
      await this.write(encodeHeader({ name: 'PaxHeader', size: pax.length, type: 'pax' }));
      await this.write(pax);
      await this.write(ZEROS.subarray(0, paddingFor(pax.length)));
    }
    const at = this.position;
    await this.write(encodeHeader({ name, size, type }));
    return at;
  }

  /** Add a directory entry (`name` without trailing slash is fine). */
  async addDirectory(name: string): Promise<void> {
    const n = name.endsWith('/') ? name : `${name}/`;
    if (this.names.has(n)) return;
    await this.writeHeader(n, 0, 'directory');
  }

  /** Add a file from memory. */
  async addBuffer(name: string, data: Uint8Array): Promise<void> {
    await this.writeHeader(name, data.byteLength, 'file');
    await this.write(data);
    await this.write(ZEROS.subarray(0, paddingFor(data.byteLength)));
  }

  /**
   * Add a file from a stream. With `size` the header is written first and the length enforced;
   * without it the header is patched once the stream ends. Returns the number of bytes written.
   */
  async addStream(name: string, data: BlobData, options: TarStreamOptions = {}): Promise<number> {
    const source = toReadable(data);
    // Errors surface through the iterator below (a destroyed stream rethrows its error); this
    // listener keeps an error raised while the header is written from going unhandled.
    source.on('error', () => undefined);
    const headerAt = await this.writeHeader(name, options.size ?? 0, 'file');
    let written = 0;
    const pending = Buffer.allocUnsafe(COALESCE);
    let pendingLength = 0;
    try {
      for await (const chunk of source) {
        if (options.signal?.aborted) {
          throw new OciDeltaError('ERR_ABORTED', `writing ${this.file} was aborted`, { path: this.file });
        }
        const buf = chunk as Buffer;
        written += buf.byteLength;
        if (options.size !== undefined && written > options.size) {
          throw new OciDeltaError(
            'ERR_SIZE_MISMATCH',
            `${name}: more than the declared ${options.size} bytes while writing ${this.file}`,
            { path: this.file, entry: name, expected: options.size },
          );
        }
        // Coalesce small chunks (gunzip yields 16 KiB) into larger file writes.
        if (pendingLength + buf.byteLength > COALESCE) {
          await this.write(pending.subarray(0, pendingLength));
          pendingLength = 0;
        }
        if (buf.byteLength >= COALESCE) await this.write(buf);
        else {
          buf.copy(pending, pendingLength);
          pendingLength += buf.byteLength;
        }
        options.onProgress?.({ done: written, total: options.size });
      }
      if (pendingLength > 0) await this.write(pending.subarray(0, pendingLength));
    } catch (err) {
      source.destroy();
      throw err;
    }
    if (options.size !== undefined && written !== options.size) {
      throw new OciDeltaError(
        'ERR_SIZE_MISMATCH',
        `${name}: got ${written} bytes, declared ${options.size}, while writing ${this.file}`,
        { path: this.file, entry: name, expected: options.size, actual: written },
      );
    }
    if (options.size === undefined) {
      const header = encodeHeader({ name, size: written, type: 'file' });
      await this.handle().write(header, 0, BLOCK, headerAt);
    }
    await this.write(ZEROS.subarray(0, paddingFor(written)));
    return written;
  }

  /** Write the end-of-archive marker, flush, and rename the temp file to the target. */
  async commit(): Promise<void> {
    await this.write(ZEROS);
    const fh = this.handle();
    this.fh = undefined;
    await fh.sync();
    await fh.close();
    await rename(this.tmp, this.file);
  }

  /** Discard everything written (removes the temp file). Safe to call more than once. */
  async abort(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/** Run `body` against a TarWriter for `file`: commit on success, abort (no output) on error. */
export async function writeTarFile(file: string, body: (tar: TarWriter) => Promise<void>): Promise<void> {
  const tar = await TarWriter.create(file);
  try {
    await body(tar);
    await tar.commit();
  } catch (err) {
    await tar.abort();
    throw err;
  }
}
