/**
 * Pull-style reader over an async iterable of byte chunks: `need(n)` buffers at least n unread
 * bytes (or all that is left), so the decoder can parse a whole VCDIFF window from one buffer.
 */

export class ChunkReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Buffer = Buffer.alloc(0);
  /** Read position in `buf`. */
  pos = 0;
  private done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Buffered bytes (valid from `pos` to `end`). */
  get bytes(): Buffer {
    return this.buf;
  }

  get end(): number {
    return this.buf.length;
  }

  /** Ensure at least `n` unread bytes; returns false when the input ends before that. */
  async need(n: number): Promise<boolean> {
    let have = this.buf.length - this.pos;
    if (have >= n) return true;
    const parts: Uint8Array[] = [this.buf.subarray(this.pos)];
    while (have < n && !this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      parts.push(chunk);
      have += chunk.length;
    }
    if (parts.length > 1) {
      this.buf = Buffer.concat(parts, have);
      this.pos = 0;
    }
    return have >= n;
  }

  /** True when every byte has been consumed and the input has ended. */
  async atEnd(): Promise<boolean> {
    return !(await this.need(1));
  }

  /** Close the underlying iterator early (on error). */
  async close(): Promise<void> {
    await this.it.return?.();
  }
}
