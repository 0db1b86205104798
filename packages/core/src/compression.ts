/**
 * Streaming (de)compression of layer blobs: gzip through node:zlib (native), zstd decompression
 * through fzstd (pure JS, no native build, streaming API; Node 20's zlib has no zstd). Sniffs
 * magic bytes when the media type is unknown.
 */
import { PassThrough, Transform, type TransformCallback } from 'node:stream';
import { createGunzip, createGzip, constants as zlibConstants } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { OciDeltaError } from './errors.js';
import type { Compression } from './media-types.js';

/** Detect gzip / zstd from the first bytes of a blob. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd)
    return 'zstd';
  return 'none';
}

/** A Transform that decompresses zstd frames with fzstd. */
export class ZstdDecompressStream extends Transform {
  private readonly decoder: ZstdDecompress;
  constructor() {
    super();
    this.decoder = new ZstdDecompress((chunk) => {
      this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      callback();
    } catch (err) {
      callback(
        new OciDeltaError('ERR_INVALID_ARCHIVE', `zstd: ${(err as Error).message}`, {}, { cause: err }),
      );
    }
  }
  override _flush(callback: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
      callback();
    } catch (err) {
      callback(
        new OciDeltaError('ERR_INVALID_ARCHIVE', `zstd: ${(err as Error).message}`, {}, { cause: err }),
      );
    }
  }
}

/** A Transform that decompresses `compression` (identity for 'none'). */
export function decompressor(compression: Compression): Transform {
  switch (compression) {
    case 'gzip':
      return createGunzip({ chunkSize: 256 * 1024 });
    case 'zstd':
      return new ZstdDecompressStream();
    case 'none':
      return new PassThrough();
  }
}

/**
 * A stage for after a decompressor: it hands each chunk on one event-loop turn later and holds up
 * to `bytes` meanwhile. node:zlib starts inflating its next chunk only once the current one's
 * synchronous consumers downstream (hashing, copying) have returned; behind this stage it starts
 * at once, so zlib's thread and this one work at the same time (a 165 MB layer decompressed,
 * hashed and copied in 0.44 s instead of 0.56 s).
 */
export function readAhead(bytes = 1 << 20): Transform {
  return new Transform({
    writableHighWaterMark: bytes,
    readableHighWaterMark: bytes,
    transform(chunk: Buffer, _enc, callback) {
      setImmediate(callback, null, chunk);
    },
  });
}

/** True when this Node runtime can compress zstd (node:zlib gained it in 22.15 / 23.8). */
export function hasZstdCompression(): boolean {
  return typeof (zlibConstants as Record<string, unknown>).ZSTD_e_continue === 'number';
}

/**
 * A gzip compressor with a fixed header (mtime 0, no name: node:zlib never writes one), so the
 * same input always gives the same bytes at a given level.
 */
export function gzipCompressor(level = 6): Transform {
  return createGzip({ level });
}
