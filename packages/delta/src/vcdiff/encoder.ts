/**
 * Streaming VCDIFF encoder (RFC 3284) whose output stock `xdelta3 -d -s SOURCE DELTA OUT` (3.0.x)
 * decodes: the whole source is loaded and indexed (memory O(source)), the target is streamed
 * through in windows of at most 8 MiB, each encoded by the matcher and the window encoder.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { OciDeltaError, type Progress, throwIfAborted, writeFileAtomic } from '@ocidelta/core';
import { InstructionList } from './instructions.js';
import { effortSettings, Matcher, type MatcherSettings } from './matcher.js';
import { DEFAULT_MAX_SOURCE_SIZE, loadSource } from './source.js';
import { DecoderSourceCache, deviceDecoder, type SourceAccess } from './source-cache.js';
import { SourceIndex } from './source-index.js';
import { ByteWriter } from './varint.js';
import { WindowEncoder } from './window-encoder.js';

/** Largest target window: xdelta3 3.0.x decoders refuse windows over 16 MiB; we stay at 8 MiB. */
export const MAX_WINDOW_SIZE = 8 * 1024 * 1024;

export interface EncodeOptions {
  /** Target window size in bytes (default and maximum 8 MiB). */
  windowSize?: number;
  /** Match effort: 'fast' (bigger blocks, no self-copies), 'default', 'best'. */
  effort?: 'fast' | 'default' | 'best';
  /** Sources larger than this are refused with ERR_SOURCE_TOO_LARGE (default 2 GiB). */
  maxSourceSize?: number;
  /** Called after each window with the target bytes consumed (and the total when known). */
  onProgress?: (p: Progress<'encode'>) => void;
  signal?: AbortSignal;
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

async function* encodeChunks(
  source: string | Uint8Array,
  target: AsyncIterable<Uint8Array>,
  options: EncodeOptions,
): AsyncGenerator<Buffer> {
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
  const { signal } = options;
  throwIfAborted(signal, 'VCDIFF encode');
  const settings = { ...effortSettings(options.effort ?? 'default'), ...options.tuning };
  const decoder = deviceDecoder({ sourceAccess: options.sourceAccess, sourceWindow: options.sourceWindow });
  let index: SourceIndex | undefined;
  const src = await loadSource(
    source,
    options.maxSourceSize ?? DEFAULT_MAX_SOURCE_SIZE,
    signal,
    (buf, end) => {
      index ??= new SourceIndex(buf, settings.step);
      index.indexUpTo(end);
    },
  );
  if (!index) index = new SourceIndex(src, settings.step);
  index.indexAll();
  const reach =
    decoder.sourceAccess === 'sequential' ? new DecoderSourceCache(src.length, decoder) : undefined;
  const matcher = new Matcher(index, settings, reach);
  const list = new InstructionList();
  const winEncoder = new WindowEncoder();
  const out = new ByteWriter(1 << 20);
  const win = Buffer.allocUnsafe(windowSize);
  let fill = 0;
  let done = 0;
  let windows = 0;

  const encodeWindow = (): Buffer => {
    list.reset();
    matcher.match(win, fill, list);
    out.reset();
    winEncoder.encode(win, fill, list, out);
    done += fill;
    fill = 0;
    windows++;
    options.onProgress?.({
      phase: 'encode',
      done,
      ...(options.targetSize !== undefined ? { total: options.targetSize } : {}),
    });
    return Buffer.from(out.view());
  };

  yield header(options.appHeader);
  for await (const chunk of target) {
    throwIfAborted(signal, 'VCDIFF encode');
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(windowSize - fill, bytes.length - off);
      win.set(bytes.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === windowSize) yield encodeWindow();
    }
  }
  if (fill > 0 || windows === 0) yield encodeWindow();
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
