/**
 * Build a deep delta of an image (docs/delta.md, "Deep deltas of images"): the new image's Docker >= 25 `docker save`
 * archive whose manifest references uncompressed layers, with every layer blob replaced by
 * `blobs/sha256/<new diff_id>.vcdiff` (a VCDIFF against the decompressed current layer) and
 * `blobs/sha256/<new diff_id>.source` (that layer's path in the device's own `docker save`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { type Image, type Progress, progressTotals, throwIfAborted, writeThroughFile } from '@ocidelta/core';
import {
  DEFAULT_SOURCE_WINDOW,
  type DeviceDecodeStats,
  deviceDecoder,
  type Effort,
} from '../vcdiff/index.js';
import { deepDeltaTestHooks, encodeLayer, loadUncompressedLayer } from './encode-layer.js';
import { pairLayers } from './pair-layers.js';
import { selfDeltaDeviceStats, writeSelfDelta } from './self-delta.js';
import { type CurrentOrigin, type DeviceStore, sourceAccessOf, sourcePath } from './source-path.js';
import { type DeltaLayerFile, writeDeltaArchive } from './write-archive.js';

/**
 * Progress of a deep delta build. `source`: item `current layer J` decompressed into memory
 * (stored bytes read, of its size); `encode`: item `layer I` of the new image encoded and
 * self-checked (stored bytes read, of its size); `write`: item `image.img` (the archive
 * written, unit items); `done`. `overall`: stored bytes of every layer read, of their sum.
 */
export type DeepDeltaProgress = Progress<'source' | 'encode' | 'write' | 'done'>;

export interface DeepDeltaOptions {
  /** The device's image store; only changes the `.source` paths. Default `classic`. */
  deviceStore?: DeviceStore;
  /**
   * How the device got the current image (matters for `containerd` only): a pulled image's layers
   * are named by their compressed blob digest, an image loaded from one of our artifacts by
   * diff_id. Default `registry`.
   */
  currentOrigin?: CurrentOrigin;
  /** `RepoTags` of the new image in `manifest.json` / `index.json` (e.g. `registry/app:2.0`). */
  repoTags?: string[];
  /**
   * The device's xdelta3 `-B` (default 64 MiB, what the app module uses unless its XDELTA_ARGS
   * set one). Deltas against a source the device decompresses (a containerd store's gzip blob)
   * keep every copy within it; the self-check emulates that decoder.
   */
  sourceWindow?: number;
  /** Largest decompressed current layer the encoder accepts (default: the encoder's, 2 GiB). */
  maxSourceSize?: number;
  /**
   * Encode workers for one layer's windows (default: the machine's available parallelism; 1
   * encodes in this thread). Memory grows by up to 4 target windows and their deltas per worker; the
   * deltas are the same for any number.
   */
  jobs?: number;
  /** The encoder's match effort (see `EncodeOptions.effort`; default `default`). */
  effort?: Effort;
  /** Where temp files go (default: the OS temp dir). Needs room for the deltas. */
  tmpDir?: string;
  signal?: AbortSignal;
  onProgress?: (event: DeepDeltaProgress) => void;
}

/** One new layer in the deep delta. */
export interface DeepDeltaLayer {
  /** Index of the layer in the new image. */
  index: number;
  diffId: string;
  /** Content of the `.source` file: the current layer's path in the device's `docker save`. */
  sourcePath: string;
  /** Index of the current layer the delta was computed against. */
  sourceIndex: number;
  deltaSize: number;
  /** Size of the new layer's decompressed tar. */
  uncompressedSize: number;
  /** The current image already has this layer (the delta is a tiny self-reference). */
  unchanged: boolean;
  /**
   * How the device's xdelta3 reads the source (`sequential` when it decompresses it) and what
   * the decode costs it: source bytes read (re-reads included), its `-B`.
   */
  device: DeviceDecodeStats;
}

export interface DeepDeltaResult {
  /** The written image.img. */
  path: string;
  /** Its size in bytes. */
  size: number;
  layers: DeepDeltaLayer[];
  /** What rebuilding the image costs the device, summed over its layers. */
  device: DeviceCost;
}

/** What installing a deep delta costs the device's decoder. */
export interface DeviceCost {
  /** Source bytes xdelta3 reads over all layers (decompressed bytes for a compressed source). */
  sourceBytesRead: number;
  /** Peak decoder memory: its `-B` plus the largest target window (8 MiB) and its delta window. */
  decoderMemory: number;
}

/** Decoder memory besides `-B`: one target window and one delta window of at most 8 MiB each. */
const DECODER_WINDOW_MEMORY = 2 * 8 * 1024 * 1024;

/** Sum the per-layer device stats. */
export function deviceCost(
  layers: readonly { device: DeviceDecodeStats }[],
  sourceWindow = DEFAULT_SOURCE_WINDOW,
): DeviceCost {
  return {
    sourceBytesRead: layers.reduce((n, l) => n + l.device.sourceBytesRead, 0),
    decoderMemory: deviceDecoder({ sourceWindow }).sourceWindow + DECODER_WINDOW_MEMORY,
  };
}

/**
 * {@link buildDeepDelta} into a stream (stdout, an upload body): the image.img is built and
 * self-checked in a temp file under `tmpDir` first (its tar needs each delta's size up front),
 * then streamed into `sink`, which is not ended. The result's `path` is that temp file's.
 */
export async function buildDeepDeltaTo(
  current: Image,
  next: Image,
  sink: NodeJS.WritableStream,
  options: DeepDeltaOptions = {},
): Promise<DeepDeltaResult> {
  return writeThroughFile(sink, 'image.img', (file) => buildDeepDelta(current, next, file, options), {
    ...(options.tmpDir !== undefined ? { tmpDir: options.tmpDir } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/**
 * Build the deep delta of `next` against `current` and write it to `outPath` (temp + rename).
 * Throws OciDeltaError ERR_NO_DEEP_DELTA when no deep delta is possible (the current image has
 * more layers than the new one, or a containerd device could not decompress a source): the caller
 * then ships the full image. Every delta is self-checked with our decoder before anything is
 * written (ERR_DELTA_SELF_CHECK).
 *
 * An unchanged layer (same diff_id as its paired current layer) gets a self-delta of whole-window
 * copies built while its new bytes stream once; its current layer is never read. A changed layer
 * is encoded against its current layer, decompressed into memory.
 */
export async function buildDeepDelta(
  current: Image,
  next: Image,
  outPath: string,
  options: DeepDeltaOptions = {},
): Promise<DeepDeltaResult> {
  const sourceWindow = deviceDecoder({ sourceWindow: options.sourceWindow }).sourceWindow;
  const pairs = pairLayers(current.layers, next.layers);
  const paths = new Map<number, string>();
  for (const p of pairs) {
    if (!paths.has(p.sourceIndex))
      paths.set(p.sourceIndex, sourcePath(current.layers[p.sourceIndex]!, options));
  }
  const deviceOf = (sourceIndex: number) => ({
    sourceAccess: sourceAccessOf(current.layers[sourceIndex]!, options),
    sourceWindow,
  });
  // Only changed layers need their current layer in memory (the encoder's source); an unchanged
  // layer's self-delta comes from streaming the new layer alone.
  const lastUse = new Map<number, number>();
  for (const [i, p] of pairs.entries()) if (!p.unchanged) lastUse.set(p.sourceIndex, i);
  const total = next.layers.length;
  const sourceBytes = [...lastUse.keys()].reduce((n, j) => n + current.layers[j]!.size, 0);
  const totals = progressTotals(options.onProgress, {
    total: sourceBytes + next.layers.reduce((n, l) => n + l.size, 0),
  });
  const work = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'ocidelta-deep-'));
  try {
    const sources = new Map<number, Buffer>();
    const written = new Map<string, DeltaLayerFile>();
    const layers: DeepDeltaLayer[] = [];
    const sizes = new Map<string, number>();
    for (const [i, pair] of pairs.entries()) {
      throwIfAborted(options.signal, 'deep delta build');
      const layer = next.layers[i]!;
      const deltaFile = join(work, `layer-${i}.vcdiff`);
      const item = `layer ${i}`;
      const onBytes = (done: number) => totals.emit({ phase: 'encode', item, done, total: layer.size });
      const device = deviceOf(pair.sourceIndex);
      let encoded: { uncompressedSize: number; deltaSize: number; device: DeviceDecodeStats };
      if (pair.unchanged) {
        onBytes(0);
        const self = await writeSelfDelta(layer, deltaFile, `new layer ${i}`, {
          signal: options.signal,
          onBytes,
          afterWrite: (file) => deepDeltaTestHooks.afterEncode?.(file, i) ?? Promise.resolve(),
        });
        encoded = { ...self, device: selfDeltaDeviceStats(self.uncompressedSize, device) };
      } else {
        const source = await sourceOf(current, pair.sourceIndex, sources, totals, options);
        onBytes(0);
        encoded = await encodeLayer(source, layer, deltaFile, `new layer ${i}`, i, {
          ...options,
          device,
          onBytes,
        });
        if (lastUse.get(pair.sourceIndex) === i) sources.delete(pair.sourceIndex);
      }
      const srcPath = paths.get(pair.sourceIndex)!;
      sizes.set(layer.diffId, encoded.uncompressedSize);
      if (!written.has(layer.diffId)) {
        written.set(layer.diffId, {
          diffId: layer.diffId,
          deltaFile,
          deltaSize: encoded.deltaSize,
          sourcePath: srcPath,
        });
      }
      layers.push({
        index: i,
        diffId: layer.diffId,
        sourcePath: srcPath,
        sourceIndex: pair.sourceIndex,
        deltaSize: encoded.deltaSize,
        uncompressedSize: encoded.uncompressedSize,
        unchanged: pair.unchanged,
        device: encoded.device,
      });
    }
    totals.emit({ phase: 'write', item: basename(outPath), done: 0, total: 1, unit: 'items' });
    const size = await writeDeltaArchive(outPath, next, [...written.values()], sizes, {
      repoTags: options.repoTags,
      signal: options.signal,
    });
    totals.emit({ phase: 'write', item: basename(outPath), done: 1, total: 1, unit: 'items' });
    totals.emit({ phase: 'done', done: total, total, unit: 'items' });
    return { path: outPath, size, layers, device: deviceCost(layers, sourceWindow) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The current layer `index` uncompressed in memory (the encoder's source), loaded once. */
async function sourceOf(
  current: Image,
  index: number,
  sources: Map<number, Buffer>,
  totals: ReturnType<typeof progressTotals>,
  options: DeepDeltaOptions,
): Promise<Buffer> {
  const loaded = sources.get(index);
  if (loaded !== undefined) return loaded;
  const layer = current.layers[index]!;
  const item = `current layer ${index}`;
  const onBytes = (done: number) => totals.emit({ phase: 'source', item, done, total: layer.size });
  onBytes(0);
  const source = await loadUncompressedLayer(layer, item, { ...options, onBytes });
  sources.set(index, source);
  return source;
}
