/** Helpers for the VCDIFF tests: collect streams, run xdelta3 on temp files. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { decode, type EncodeOptions, encode } from '../src/vcdiff/index.js';

export async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Split `buf` into odd-sized chunks to exercise window assembly. */
export function chunked(buf: Buffer, size = 65_521): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

export function encodeBuf(source: Buffer, target: Buffer, options?: EncodeOptions): Promise<Buffer> {
  return collect(encode(source, chunked(target), options));
}

export function decodeBuf(source: Buffer, delta: Buffer): Promise<Buffer> {
  return collect(decode(source, chunked(delta, 4099)));
}

/** A temp dir with helpers to run xdelta3 on buffers. */
export class Xdelta {
  readonly dir = mkdtempSync(join(tmpdir(), 'vcdiff-test-'));
  private n = 0;

  file(data: Buffer): string {
    const p = join(this.dir, `f${this.n++}`);
    writeFileSync(p, data);
    return p;
  }

  /** Stock `xdelta3 -d -s SOURCE DELTA OUT`. */
  decode(source: Buffer, delta: Buffer): Buffer {
    const out = join(this.dir, `out${this.n++}`);
    execFileSync('xdelta3', ['-d', '-f', '-s', this.file(source), this.file(delta), out], { stdio: 'pipe' });
    return readFileSync(out);
  }

  /** Stock `xdelta3 -e -S none [...extra] -s SOURCE TARGET OUT`. */
  encode(source: Buffer, target: Buffer, extra: string[] = []): Buffer {
    const out = join(this.dir, `delta${this.n++}`);
    execFileSync(
      'xdelta3',
      ['-e', '-f', '-S', 'none', ...extra, '-s', this.file(source), this.file(target), out],
      {
        stdio: 'pipe',
      },
    );
    return readFileSync(out);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
