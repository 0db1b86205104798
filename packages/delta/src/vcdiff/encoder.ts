/**
 * Streaming VCDIFF encoder (RFC 3284) whose output stock `xdelta3 -d -s SOURCE DELTA OUT` (3.0.x)
 * decodes: the whole source is loaded and indexed (memory O(source)), the target is streamed
 * through in windows of at most 8 MiB, each encoded by the matcher and the window encoder.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { OciDeltaError, type Progress, throwIfAborted, writeFileAtomic } from '@ocidelta/core';
import { defaultJobs, EncodePool } from './encode-pool.js';
import { type Effort, effortSettings, type MatcherSettings } from './matcher-settings.js';
import { DEFAULT_MAX_SOURCE_SIZE, loadSource, sharedCopy } from './source.js';
import { DecoderSourceCache, deviceDecoder, type SourceAccess } from './source-cache.js';
import { SourceIndex } from './source-index.js';
import { ByteWriter } from './varint.js';
import { WindowJob } from './window-job.js';

/** Largest target window: xdelta3 3.0.x decoders refuse windows over 16 MiB; we stay at 8 MiB. */
export const MAX_WINDOW_SIZE = 8 * 1024 * 1024;

export interface EncodeOptions {
  /** Target window size in bytes (default and maximum 8 MiB). */
  windowSize?: number;
  /** Match effort: 'fast' (bigger blocks, no self-copies), 'default', 'best'. */
  effort?: Effort;
  /** Sources larger than this are refused with ERR_SOURCE_TOO_LARGE (default 2 GiB). */
  maxSourceSize?: number;
  /** Called after each window with the target bytes consumed (and the total when known). */
  onProgress?: (p: Progress<'encode'>) => void;
  signal?: AbortSignal;
  /**
   * Encode workers for a seekable source (default: the machine's available parallelism; 1 encodes
   * in this thread). The output is the same for any number. A sequential source is encoded in
   * this thread: its windows depend on each other.
   */
  jobs?: number;
  /** Optional application header stored in the VCDIFF header (VCD_APPHEADER). */
  appHeader?: Uint8Array;
  /**
   * How the device's decoder reads the source. `seekable` (default: an uncompressed source file):
   * copies may reach anywhere; the matcher prefers source order so decoding stays fast.
   * `sequential` (the device decompresses the source, e.g. a gzip layer blob, or reads a pipe):
   * every copy stays inside the part of the source stock xdelta3 still holds when it executes it
   * (the last 32 blocks of `sourceWindow / 32` bytes read), or decoding fails on the device.
   */
  sourceAccess?: SourceAccess;
  /** The device decoder's `-B` (default 64 MiB, xdelta3's default). */
  sourceWindow?: number;
  /** Total target size, only for progress events. */
  targetSize?: number;
  /** @internal Matcher knobs overriding the effort's settings (benchmarks, experiments). */
  tuning?: Partial<MatcherSettings>;
}

function header(appHeader?: Uint8Array): Buffer {
  const w = new ByteWriter(16 + (appHeader?.length ?? 0));
  w.bytes(Uint8Array.of(0xd6, 0xc3, 0xc4, 0x00));
  if (appHeader) {
    w.byte(0x04);
    w.varint(appHeader.length);
    w.bytes(appHeader);
  } else {
    w.byte(0);
  }
  return Buffer.from(w.view());
}

/**
 * Windows in flight per worker: a slow window (new content) holds the in-order output back while
 * the other workers go on with the windows after it.
 */
const MAX_INFLIGHT_PER_JOB = 4;

/** A window buffer that owns its ArrayBuffer (so it can be transferred to a worker). */
const newWindow = (size: number): Buffer => Buffer.allocUnsafeSlow(size);

/** The window size and worker count of `options`, checked. */
function checkedSizes(options: EncodeOptions): { windowSize: number; jobs: number } {
  const windowSize = options.windowSize ?? MAX_WINDOW_SIZE;
  if (!Number.isInteger(windowSize) || windowSize < 1 || windowSize > MAX_WINDOW_SIZE) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `windowSize must be an integer in [1, ${MAX_WINDOW_SIZE}]`,
      {
        windowSize,
      },
    );
  }
  const jobs = options.jobs ?? defaultJobs();
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', `jobs must be a positive integer, not ${jobs}`, { jobs });
  }
  return { windowSize, jobs };
}

/** The source in memory (shared when workers read it) and its index, built while it loads. */
async function indexedSource(
  source: string | Uint8Array,
  settings: MatcherSettings,
  shared: boolean,
  options: EncodeOptions,
): Promise<SourceIndex> {
  let index: SourceIndex | undefined;
  let src = await loadSource(
    source,
    options.maxSourceSize ?? DEFAULT_MAX_SOURCE_SIZE,
    options.signal,
    (buf, end) => {
      index ??= new SourceIndex(buf, settings.step, { shared });
      index.indexUpTo(end);
    },
    shared,
  );
  if (shared) src = sharedCopy(src);
  if (!index || index.source !== src) index = new SourceIndex(src, settings.step, { shared });
  index.indexAll();
  return index;
}

async function* encodeChunks(
  source: string | Uint8Array,
  target: AsyncIterable<Uint8Array>,
  options: EncodeOptions,
): AsyncGenerator<Buffer> {
  const { windowSize, jobs } = checkedSizes(options);
  const { signal } = options;
  throwIfAborted(signal, 'VCDIFF encode');
  const settings = { ...effortSettings(options.effort ?? 'default'), ...options.tuning };
  const decoder = deviceDecoder({ sourceAccess: options.sourceAccess, sourceWindow: options.sourceWindow });
  // A seekable source's windows are independent (each starts with a fresh matcher), so they can
  // be encoded by workers in parallel with the same result; a sequential source's copies follow
  // the device decoder's read position from window to window, so its windows run in order here.
  const seekable = decoder.sourceAccess !== 'sequential';
  const parallel = seekable && jobs > 1;
  const index = await indexedSource(source, settings, parallel, options);
  const reach = seekable ? undefined : new DecoderSourceCache(index.source.length, decoder);
  const job = new WindowJob(index, settings, reach);
  let pool: EncodePool | undefined;
  const inflight: { length: number; delta: Promise<Buffer> }[] = [];
  let win = newWindow(windowSize);
  let fill = 0;
  let done = 0;
  let windows = 0;
  // Parallel: the first full window waits until more target follows, so a one-window target
  // never starts the workers.
  let held: Buffer | undefined;

  const progress = (length: number): void => {
    done += length;
    windows++;
    options.onProgress?.({
      phase: 'encode',
      done,
      ...(options.targetSize !== undefined ? { total: options.targetSize } : {}),
    });
  };
  const dispatch = (window: Buffer, length: number): void => {
    pool ??= new EncodePool(jobs, index, settings);
    const delta = pool.encode(window, length);
    delta.catch(() => undefined); // awaited in order below; never an unhandled rejection
    inflight.push({ length, delta });
  };
  const next = async (): Promise<Buffer> => {
    const { length, delta } = inflight.shift()!;
    const bytes = await delta;
    progress(length);
    return bytes;
  };

  try {
    yield header(options.appHeader);
    for await (const chunk of target) {
      throwIfAborted(signal, 'VCDIFF encode');
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let off = 0;
      while (off < bytes.length) {
        if (held) {
          dispatch(held, windowSize);
          held = undefined;
        }
        const n = Math.min(windowSize - fill, bytes.length - off);
        win.set(bytes.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill < windowSize) continue;
        if (!parallel) {
          yield job.encode(win, fill, seekable);
          progress(fill);
        } else if (pool === undefined && inflight.length === 0) {
          held = win;
          win = newWindow(windowSize);
        } else {
          dispatch(win, fill);
          win = newWindow(windowSize);
          while (inflight.length >= MAX_INFLIGHT_PER_JOB * jobs) yield await next();
        }
        fill = 0;
      }
    }
    // The last, partial window joins the ones in flight (when workers run).
    if (pool !== undefined && fill > 0) {
      dispatch(win, fill);
      fill = 0;
    }
    while (inflight.length > 0) yield await next();
    if (held) {
      yield job.encode(held, windowSize, seekable);
      progress(windowSize);
    }
    if (fill > 0 || windows === 0) {
      yield job.encode(win, fill, seekable);
      progress(fill);
    }
  } finally {
    await pool?.close();
  }
}

/**
 * Encode `target` as a VCDIFF delta against `source` (a file path or the bytes; the whole source
 * is indexed, memory O(source)). The target is streamed through in windows; the delta bytes come
 * out of the returned stream, which errors with ERR_SOURCE_TOO_LARGE, ERR_ABORTED, ...
 */
export function encode(
  source: string | Uint8Array,
  target: Readable | AsyncIterable<Uint8Array>,
  options: EncodeOptions = {},
): Readable {
  return Readable.from(encodeChunks(source, target as AsyncIterable<Uint8Array>, options), {
    objectMode: false,
  });
}

/** Encode file `targetPath` against `sourcePath` into `outPath` (temp name, then renamed). */
export async function encodeFile(
  sourcePath: string,
  targetPath: string,
  outPath: string,
  options: EncodeOptions = {},
): Promise<{ size: number }> {
  let targetSize: number;
  try {
    targetSize = (await stat(targetPath)).size;
  } catch (err) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot read delta target ${targetPath}: ${(err as Error).message}`,
      {
        path: targetPath,
      },
    );
  }
  const target = createReadStream(targetPath, { highWaterMark: 1 << 20 });
  const size = await writeFileAtomic(outPath, encode(sourcePath, target, { targetSize, ...options }), {
    signal: options.signal,
  });
  return { size };
}
