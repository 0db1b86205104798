/**
 * xz (LZMA2) streams through the optional native module `lzma-native` (liblzma over N-API, with
 * prebuilt binaries for Linux, macOS and Windows on x64 and arm64 in its npm package; Node 20's
 * zlib has no xz). Loaded on first use only. Where it does not load, `hasXz()` is false: writers
 * fall back to gzip with a warning, readers fail with ERR_UNSUPPORTED_COMPRESSION.
 *
 * Decompression is bounded twice: the decoder's memory by `XZ_MEMLIMIT` (a stream asking for a
 * larger dictionary fails), the output by the caller's limit where one applies.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Duplex } from 'node:stream';
import { OciDeltaError } from './errors.js';

/** The decoder memory an xz stream may ask for: 256 MiB (preset 9 needs 65 MiB). */
export const XZ_MEMLIMIT = 256 * 1024 * 1024;

/** Uncompressed bytes per block of the multi-threaded encoder: the unit the threads share. */
const XZ_BLOCK_SIZE = 4 * 1024 * 1024;

/** What is used of `lzma-native`. */
interface LzmaModule {
  createCompressor(options: { preset: number; threads: number; blockSize?: number; check?: number }): Duplex;
  createDecompressor(options: { memlimit: number }): Duplex;
  CHECK_CRC64: number;
}

/** A specifier in a variable: the module is optional, so nothing may need it at compile time. */
let lzmaModule = 'lzma-native';

let lzma: LzmaModule | null | undefined;
let loadError: unknown;

/** Tests: load `specifier` instead of lzma-native on next use (a missing one acts as a failed build). */
export function reloadXzModuleForTests(specifier: string): void {
  lzmaModule = specifier;
  lzma = undefined;
  loadError = undefined;
}

function load(): LzmaModule | undefined {
  if (lzma === undefined) {
    try {
      lzma = createRequire(import.meta.url)(lzmaModule) as LzmaModule;
    } catch (err) {
      loadError = err;
      lzma = null;
    }
  }
  return lzma ?? undefined;
}

/**
 * A node:stream Duplex around one of lzma-native's streams (readable-stream 3 based, which stall
 * when node's `pipeline` writes an async iterable into them): writes are passed on with their
 * backpressure, output is pushed with ours.
 */
class NativeXzStream extends Duplex {
  constructor(private readonly inner: Duplex) {
    super();
    inner.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err: Error) => this.destroy(err));
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.inner.write(chunk)) callback();
    else this.inner.once('drain', () => callback());
  }
  override _final(callback: (err?: Error | null) => void): void {
    this.inner.end();
    callback();
  }
  override _read(): void {
    this.inner.resume();
  }
  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.inner.destroy();
    callback(err);
  }
}

/** True when xz can be written and read here (`lzma-native` loads). */
export function hasXz(): boolean {
  return load() !== undefined;
}

/** Why xz is not available here (for warnings), or undefined when it is. */
export function xzUnavailableReason(): string | undefined {
  if (load()) return undefined;
  return `the optional native module lzma-native did not load (${(loadError as Error)?.message ?? 'unknown error'})`;
}

function required(what: string): LzmaModule {
  const mod = load();
  if (!mod) {
    throw new OciDeltaError(
      'ERR_UNSUPPORTED_COMPRESSION',
      `${what} needs xz, and ${xzUnavailableReason()}: reinstall @ocidelta/core with its optional dependencies`,
      { compression: 'xz' },
      { cause: loadError },
    );
  }
  return mod;
}

/**
 * An xz compressor: `preset` 0-9 (xz's levels; 6 is xz's default), `threads` encoder threads
 * (default: available parallelism), blocks of 4 MiB so a few MiB already use every thread.
 */
export function xzCompressor(preset = 6, threads = availableParallelism()): Duplex {
  if (!Number.isInteger(preset) || preset < 0 || preset > 9) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', `xz preset must be 0-9, not ${preset}`, { preset });
  }
  const mod = required('xz compression');
  return new NativeXzStream(
    mod.createCompressor({
      preset,
      threads,
      check: mod.CHECK_CRC64,
      ...(threads > 1 ? { blockSize: XZ_BLOCK_SIZE } : {}),
    }),
  );
}

/** An xz decompressor whose memory is bounded by `XZ_MEMLIMIT`. */
export function xzDecompressor(): Duplex {
  return new NativeXzStream(required('reading xz').createDecompressor({ memlimit: XZ_MEMLIMIT }));
}

/** Compress `data` to one xz stream. */
export async function xzCompress(data: Uint8Array, preset = 6): Promise<Buffer> {
  const enc = xzCompressor(preset, 1);
  const parts: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of enc) parts.push(chunk as Buffer);
  })();
  enc.end(data);
  await done;
  return Buffer.concat(parts);
}

/**
 * Decompress `data` (one or more xz streams), never producing more than `limit` bytes: past it
 * `tooLarge()` is thrown. Corrupt input throws the decoder's error.
 */
export async function xzDecompress(data: Uint8Array, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const dec = xzDecompressor();
  const parts: Buffer[] = [];
  let total = 0;
  const done = (async () => {
    for await (const chunk of dec) {
      total += (chunk as Buffer).length;
      if (total > limit) {
        dec.destroy();
        throw tooLarge();
      }
      parts.push(chunk as Buffer);
    }
  })();
  dec.end(data);
  await done;
  return Buffer.concat(parts);
}
