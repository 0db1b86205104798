/**
 * Loading the VCDIFF source (the old file) into memory. Both the encoder (which indexes the whole
 * source) and the decoder (which copies from anywhere in it) hold it fully: memory is O(source).
 */
import { open } from 'node:fs/promises';
import { OciDeltaError, throwIfAborted } from '@ocidelta/core';

/** Default limit on the source size: larger sources are refused (ship the full file instead). */
export const DEFAULT_MAX_SOURCE_SIZE = 2 * 1024 ** 3;
/** Hard limit: VCDIFF addresses as xdelta3 3.0.x decodes them are 32-bit. */
export const HARD_MAX_SOURCE_SIZE = 2 ** 32 - 2 ** 25;

const READ_CHUNK = 16 * 1024 * 1024;

function tooLarge(size: number, max: number, path?: string): OciDeltaError {
  const where = path ? ` ${path}` : '';
  return new OciDeltaError(
    'ERR_SOURCE_TOO_LARGE',
    `delta source${where} is ${size} bytes, more than the limit of ${max} bytes; ship the full file instead`,
    { size, max, ...(path ? { path } : {}) },
  );
}

/**
 * A buffer in shared memory, so encode workers read it in place (no copy per worker). Its pages
 * are zero until written: capacity beyond the data costs address space, not RSS.
 */
export const sharedBuffer = (size: number): Buffer => Buffer.from(new SharedArrayBuffer(size));

/** `bytes` in shared memory: as they are when already shared, else copied once. */
export function sharedCopy(bytes: Buffer): Buffer {
  if (bytes.buffer instanceof SharedArrayBuffer) return bytes;
  const shared = sharedBuffer(bytes.length);
  bytes.copy(shared);
  return shared;
}

/**
 * The source as one Buffer: a Uint8Array is wrapped without copying; a path is read fully (into
 * shared memory when `shared`, for encode workers).
 * Throws ERR_SOURCE_TOO_LARGE when it exceeds `maxSize` (checked before reading a file).
 */
export async function loadSource(
  source: string | Uint8Array,
  maxSize: number = DEFAULT_MAX_SOURCE_SIZE,
  signal?: AbortSignal,
  onRead?: (buf: Buffer, end: number) => void,
  shared = false,
): Promise<Buffer> {
  const limit = Math.min(maxSize, HARD_MAX_SOURCE_SIZE);
  if (typeof source !== 'string') {
    if (source.length > limit) throw tooLarge(source.length, limit);
    return Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, source.length);
  }
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(source, 'r');
  } catch (err) {
    throw new OciDeltaError('ERR_INPUT', `cannot open delta source ${source}: ${(err as Error).message}`, {
      path: source,
    });
  }
  try {
    const { size } = await fh.stat();
    if (size > limit) throw tooLarge(size, limit, source);
    const buf = shared ? sharedBuffer(size) : Buffer.allocUnsafe(size);
    let off = 0;
    while (off < size) {
      throwIfAborted(signal, 'reading the delta source');
      const reading = fh.read(buf, off, Math.min(READ_CHUNK, size - off), off);
      // Work on what is already read (e.g. index it) while the next chunk is read.
      onRead?.(buf, off);
      const { bytesRead } = await reading;
      if (bytesRead === 0) {
        throw new OciDeltaError('ERR_INPUT', `delta source ${source} shrank while reading`, { path: source });
      }
      off += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}
