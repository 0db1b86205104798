/**
 * Writes at a position of an open file, bounded by a maximum size: the artifact writer writes
 * the data first and the members before it afterwards, so it writes by position, not by append.
 * Small chunks are coalesced into writes of at least 1 MiB.
 */
import type { FileHandle } from 'node:fs/promises';
import { OciDeltaError } from '../errors.js';

const BATCH = 1 << 20;

function sizeLimitError(size: number, max: number, out: string): OciDeltaError {
  return new OciDeltaError(
    'ERR_ARTIFACT_TOO_LARGE',
    `artifact ${out} would be larger than the maximum of ${max} bytes (${size} bytes written so far)`,
    { path: out, size, max },
  );
}

export class PositionedFile {
  /** Where the next write goes. */
  position: number;

  constructor(
    private readonly fh: FileHandle,
    position: number,
    private readonly max: number | undefined,
    private readonly name: string,
  ) {
    this.position = position;
  }

  private advance(length: number): void {
    this.position += length;
    if (this.max !== undefined && this.position > this.max)
      throw sizeLimitError(this.position, this.max, this.name);
  }

  /** Write `buf` at the position and move past it. */
  async write(buf: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buf.byteLength) {
      const { bytesWritten } = await this.fh.write(buf, off, buf.byteLength - off, this.position + off);
      off += bytesWritten;
    }
    this.advance(buf.byteLength);
  }

  /** Write `bufs` (`length` bytes in all) in one writev; a short write finishes buffer by buffer. */
  async writev(bufs: Uint8Array[], length: number): Promise<void> {
    let done = (await this.fh.writev(bufs, this.position)).bytesWritten;
    let skip = done;
    for (const b of done < length ? bufs : []) {
      if (skip >= b.byteLength) {
        skip -= b.byteLength;
        continue;
      }
      let off = skip;
      skip = 0;
      while (off < b.byteLength) {
        const { bytesWritten } = await this.fh.write(b, off, b.byteLength - off, this.position + done);
        off += bytesWritten;
        done += bytesWritten;
      }
    }
    this.advance(length);
  }

  /** Write everything `source` yields, coalescing small chunks (stored-block and tar headers). */
  async writeAll(source: AsyncIterable<Uint8Array>): Promise<void> {
    let batch: Uint8Array[] = [];
    let batched = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 1) await this.write(batch[0]!);
      else if (batch.length > 1) await this.writev(batch, batched);
      batch = [];
      batched = 0;
    };
    for await (const chunk of source) {
      batch.push(chunk);
      batched += chunk.byteLength;
      if (batched >= BATCH) await flush();
    }
    await flush();
  }

  /** Overwrite bytes at `at` (a header patched once a size is known); the position stays. */
  async patch(buf: Uint8Array, at: number): Promise<void> {
    let off = 0;
    while (off < buf.byteLength)
      off += (await this.fh.write(buf, off, buf.byteLength - off, at + off)).bytesWritten;
  }
}
