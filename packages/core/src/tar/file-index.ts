/**
 * Index of a tar file on disk: scans the headers once (seeking over entry data, never buffering
 * it), then serves entries by byte range from the file. Entry names are checked for path
 * traversal; a truncated archive is reported as ERR_TRUNCATED naming the file.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { sniffCompression } from '../compression.js';
import { OciDeltaError } from '../errors.js';
import { assertSafeEntryName, normalizeEntryName } from '../layout/safe-path.js';
import { MAX_CONFIG_SIZE } from '../limits.js';
import {
  BLOCK,
  decodeHeader,
  isZeroBlock,
  paddingFor,
  parsePax,
  paxSize,
  type TarEntryType,
} from './format.js';

/** One entry of an indexed tar: where its data starts and how long it is. */
export interface TarEntry {
  /** Normalized name (no `./` prefix, no trailing slash). */
  name: string;
  type: TarEntryType;
  /** Byte offset of the entry's data in the file. */
  offset: number;
  size: number;
  linkname: string;
}

/** Read size for entry streams (fewer, larger chunks for hashing and decompression). */
export const READ_CHUNK = 1024 * 1024;

/** Metadata entries (pax, GNU long names) above this size are refused. */
const MAX_META = 1024 * 1024;

export class TarIndex {
  readonly file: string;
  /** Entries by normalized name (the last one wins, as when extracting). */
  readonly entries: ReadonlyMap<string, TarEntry>;

  private constructor(file: string, entries: Map<string, TarEntry>) {
    this.file = file;
    this.entries = entries;
  }

  /** Scan `file`'s headers. Throws ERR_TRUNCATED, ERR_INVALID_ARCHIVE or ERR_UNSAFE_PATH naming the file. */
  static async scan(file: string, options: { signal?: AbortSignal } = {}): Promise<TarIndex> {
    const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
      throw new OciDeltaError(
        'ERR_INPUT',
        `cannot open archive ${file}: ${err.code ?? err.message}`,
        { path: file },
        { cause: err },
      );
    });
    try {
      const { size: fileSize } = await fh.stat();
      const entries = new Map<string, TarEntry>();
      const block = Buffer.alloc(BLOCK);
      const truncated = (what: string) =>
        new OciDeltaError('ERR_TRUNCATED', `${file}: truncated tar archive (${what})`, { path: file });
      const readAt = async (buf: Buffer, length: number, position: number): Promise<void> => {
        const { bytesRead } = await fh.read(buf, 0, length, position);
        if (bytesRead < length) throw truncated(`expected ${length} bytes at offset ${position}`);
      };
      let pos = 0;
      let pax: Record<string, string> = {};
      let longName: string | undefined;
      let sawEnd = false;
      while (pos < fileSize) {
        if (options.signal?.aborted) {
          throw new OciDeltaError('ERR_ABORTED', `reading ${file} was aborted`, { path: file });
        }
        await readAt(block, BLOCK, pos);
        if (isZeroBlock(block)) {
          sawEnd = true;
          break;
        }
        if (pos === 0) {
          const compression = sniffCompression(block);
          if (compression !== 'none') {
            throw new OciDeltaError(
              'ERR_INVALID_ARCHIVE',
              `${file}: is ${compression}-compressed; image archives are plain tar files (decompress it first)`,
              { path: file, compression },
            );
          }
        }
        const header = decodeHeader(block, file, pos);
        const dataStart = pos + BLOCK;
        const next = dataStart + header.size + paddingFor(header.size);
        if (dataStart + header.size > fileSize)
          throw truncated(`entry "${header.name}" runs past the end of the file`);
        if (header.type === 'pax' || header.type === 'gnu-longname' || header.type === 'pax-global') {
          if (header.size > MAX_META) {
            throw new OciDeltaError(
              'ERR_INVALID_ARCHIVE',
              `${file}: oversized tar metadata entry at offset ${pos}`,
              {
                path: file,
              },
            );
          }
          const data = Buffer.alloc(header.size);
          await readAt(data, header.size, dataStart);
          if (header.type === 'pax') pax = parsePax(data, `${file} at offset ${pos}`);
          else if (header.type === 'gnu-longname') longName = data.toString('utf8').replace(/\0+$/, '');
          pos = next;
          continue;
        }
        const rawName = pax.path ?? longName ?? header.name;
        const size = paxSize(pax, `${file} at offset ${pos}`) ?? header.size;
        pax = {};
        longName = undefined;
        assertSafeEntryName(rawName, file);
        const name = normalizeEntryName(rawName);
        if (name === '' && header.type !== 'directory') {
          throw new OciDeltaError('ERR_UNSAFE_PATH', `${file}: entry with an empty name at offset ${pos}`, {
            path: file,
          });
        }
        if (size !== header.size && dataStart + size > fileSize) throw truncated(`entry "${name}"`);
        // The root directory (`./`) has no name after normalization and needs no entry.
        if (name !== '')
          entries.set(name, { name, type: header.type, offset: dataStart, size, linkname: header.linkname });
        const following = dataStart + size + paddingFor(size);
        // Guaranteed progress: a header always moves the scan forward by at least one block.
        if (!(following > pos)) throw truncated(`entry "${name}" does not advance the archive`);
        pos = following;
      }
      if (!sawEnd) throw truncated('no end-of-archive marker');
      return new TarIndex(file, entries);
    } finally {
      await fh.close();
    }
  }

  /**
   * The regular-file entry named `name`, or undefined. Symlinks and hard links inside the
   * archive are followed; a link that leaves the archive root is ERR_UNSAFE_PATH.
   */
  get(name: string): TarEntry | undefined {
    let e = this.entries.get(normalizeEntryName(name));
    for (let hops = 0; e && (e.type === 'symlink' || e.type === 'link') && hops < 16; hops++) {
      const target =
        e.type === 'symlink' ? posix.normalize(posix.join(posix.dirname(e.name), e.linkname)) : e.linkname;
      if (target.startsWith('/') || target === '..' || target.startsWith('../')) {
        throw new OciDeltaError(
          'ERR_UNSAFE_PATH',
          `${this.file}: link ${e.name} -> ${e.linkname} points outside the archive`,
          { path: this.file, entry: e.name },
        );
      }
      e = this.entries.get(normalizeEntryName(target));
    }
    return e && e.type === 'file' ? e : undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Stream an entry's bytes from the file (nothing buffered). */
  open(entry: TarEntry, range: { start?: number; end?: number } = {}): Readable {
    const start = entry.offset + (range.start ?? 0);
    const end = entry.offset + (range.end ?? entry.size);
    if (end <= start) return Readable.from([]);
    return createReadStream(this.file, { start, end: end - 1, highWaterMark: READ_CHUNK });
  }

  /** Read a small entry fully (JSON metadata); refuses entries over `max` bytes. */
  async read(entry: TarEntry, max = MAX_CONFIG_SIZE): Promise<Buffer> {
    if (entry.size > max) {
      throw new OciDeltaError(
        'ERR_INVALID_ARCHIVE',
        `${this.file}: entry ${entry.name} is too large to be metadata (${entry.size} bytes)`,
        { path: this.file, entry: entry.name },
      );
    }
    const fh = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(entry.size);
      const { bytesRead } = await fh.read(buf, 0, entry.size, entry.offset);
      if (bytesRead !== entry.size) {
        throw new OciDeltaError('ERR_TRUNCATED', `${this.file}: entry ${entry.name} is truncated`, {
          path: this.file,
        });
      }
      return buf;
    } finally {
      await fh.close();
    }
  }
}
