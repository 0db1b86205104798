/**
 * One changed layer of a deep delta: decompress the current layer's tar into memory once (the
 * encoder's source, also used by the self-check: memory is O(source layer), the source bytes
 * plus the encoder's hash table of 1/4 to 1/2 their size), encode the new layer's decompressed
 * tar against it, and self-check the delta as it is written: the encoded bytes go to the delta
 * file and, at the same time, into our decoder (emulating the device's), whose output is hashed
 * and compared with the new layer's diff_id (the only pass that hashes the new layer). The check runs in this thread while the
 * encode workers match the next windows. A delta that fails the check is an error
 * (ERR_DELTA_SELF_CHECK), never an output.
 */
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  abortAware,
  type Digest,
  digestStream,
  HashingCounter,
  type Layer,
  OciDeltaError,
} from '@ocidelta/core';
import {
  DEFAULT_MAX_SOURCE_SIZE,
  type DeviceDecoder,
  type DeviceDecodeStats,
  decodeWindows,
  type Effort,
  encode,
  sharedBuffer,
} from '../vcdiff/index.js';

/**
 * Test seams, not public API: `afterEncode` may corrupt an unchanged layer's self-delta file
 * before its check; `tamperDelta` may replace a changed layer's encoded bytes on their way to
 * the file and the self-check.
 */
export const deepDeltaTestHooks: {
  afterEncode?: (deltaFile: string, index: number) => Promise<void>;
  tamperDelta?: (delta: Buffer, index: number) => Buffer | Promise<Buffer>;
} = {};

/** The encoder's output through `tamperDelta` (all of it at once: tests only). */
function tampered(delta: Readable, index: number): Readable {
  const tamper = deepDeltaTestHooks.tamperDelta;
  if (!tamper) return delta;
  return Readable.from(
    (async function* () {
      const parts: Buffer[] = [];
      for await (const c of delta) parts.push(c as Buffer);
      yield await tamper(Buffer.concat(parts), index);
    })(),
  );
}

/** A pass-through that also writes every chunk into `branch` (waiting for it to drain). */
function teeInto(branch: PassThrough): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, callback) {
      if (branch.write(chunk)) callback(null, chunk);
      else branch.once('drain', () => callback(null, chunk));
    },
    flush(callback) {
      branch.end();
      callback();
    },
  });
}

export interface LayerFiles {
  signal?: AbortSignal;
  /** The device's decoder: the encoder keeps copies within its reach, the self-check emulates it. */
  device?: DeviceDecoder;
  maxSourceSize?: number;
  /** Encode workers (see `EncodeOptions.jobs`). */
  jobs?: number;
  effort?: Effort;
  /** Progress: stored (compressed) bytes of the layer read so far, of its `size`. */
  onBytes?: (done: number) => void;
}

/**
 * `layer`'s decompressed tar in memory (the encoder's source and the self-check's), verified
 * against its diff_id. Decompressed straight into one growing buffer: no temp file written and
 * read back. A layer over `maxSourceSize` is refused with ERR_SOURCE_TOO_LARGE as soon as it gets
 * there. The buffer is shared memory (encode workers read it in place); capacity beyond the data
 * is never written, so it costs address space, not RSS.
 */
export async function loadUncompressedLayer(
  layer: Layer,
  what: string,
  options: LayerFiles = {},
): Promise<Buffer> {
  const max = options.maxSourceSize ?? DEFAULT_MAX_SOURCE_SIZE;
  const counter = new HashingCounter('sha256', { context: { layer: what, digest: layer.digest } });
  // A gzip layer is usually 2-4x smaller than its tar; start at 4x (bounded) and double as needed.
  let buf = sharedBuffer(Math.max(1 << 20, Math.min(max, layer.size * 4, MAX_INITIAL)));
  let fill = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (fill + chunk.length > max) {
        done(
          new OciDeltaError(
            'ERR_SOURCE_TOO_LARGE',
            `delta source ${what} (${layer.digest}) is more than the limit of ${max} bytes; ship the full image instead`,
            { size: fill + chunk.length, max, digest: layer.digest },
          ),
        );
        return;
      }
      if (fill + chunk.length > buf.length) {
        const grown = sharedBuffer(Math.min(max, Math.max(buf.length * 2, fill + chunk.length)));
        buf.copy(grown, 0, 0, fill);
        buf = grown;
      }
      buf.set(chunk, fill);
      fill += chunk.length;
      done();
    },
  });
  try {
    const stream = await layer.uncompressed({
      signal: options.signal,
      ...(options.onBytes ? { onStoredBytes: options.onBytes } : {}),
    });
    await pipeline(stream, counter, sink, {
      signal: options.signal,
    });
  } catch (err) {
    if (err instanceof OciDeltaError) throw err;
    throw abortAware(err, options.signal, what);
  }
  checkDiffId(layer, counter.digester.digest(), what);
  return buf.subarray(0, fill);
}

/** Largest first allocation of loadUncompressedLayer (grows past it by doubling). */
const MAX_INITIAL = 1 << 30;

function checkDiffId(layer: Layer, actual: Digest, what: string): void {
  if (actual !== layer.diffId) {
    throw new OciDeltaError(
      'ERR_DIGEST_MISMATCH',
      `${what} (${layer.digest}) decompresses to ${actual}, but the image config lists diff_id ${layer.diffId}`,
      { digest: layer.digest, expected: layer.diffId, actual },
    );
  }
}

export interface EncodedLayer {
  /** Size of the new layer's decompressed tar. */
  uncompressedSize: number;
  /** Size of the VCDIFF delta. */
  deltaSize: number;
  /** What decoding it costs the device (from the self-check's emulation). */
  device: DeviceDecodeStats;
}

/**
 * Encode `layer` (decompressed) against the decompressed source bytes into `deltaFile`,
 * self-checking the delta as it is written. The check compares what the delta rebuilds with the
 * layer's diff_id, which also proves the layer's own bytes: they are hashed once, there. When the
 * check fails, the layer is read again to tell a corrupt layer (ERR_DIGEST_MISMATCH) from a bad
 * delta (ERR_DELTA_SELF_CHECK).
 */
export async function encodeLayer(
  source: Buffer,
  layer: Layer,
  deltaFile: string,
  what: string,
  index: number,
  options: LayerFiles = {},
): Promise<EncodedLayer> {
  const counter = byteCounter();
  const target = await layer.uncompressed({
    signal: options.signal,
    ...(options.onBytes ? { onStoredBytes: options.onBytes } : {}),
  });
  target.on('error', (err) => counter.destroy(err));
  const delta = encode(source, target.pipe(counter), {
    signal: options.signal,
    sourceAccess: options.device?.sourceAccess,
    sourceWindow: options.device?.sourceWindow,
    ...(options.maxSourceSize !== undefined ? { maxSourceSize: options.maxSourceSize } : {}),
    ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
    ...(options.effort !== undefined ? { effort: options.effort } : {}),
  });
  // The self-check decodes what is written, while it is written.
  const checkInput = new PassThrough({ highWaterMark: 1 << 20 });
  const tee = teeInto(checkInput);
  let checkFailed = false;
  // The size is read when the check ends: the encoder has consumed (and counted) the whole layer.
  const checking = selfCheck(source, checkInput, layer.diffId, () => counter.bytes, what, {
    signal: options.signal,
    device: options.device,
  });
  checking.catch((err: unknown) => {
    checkFailed = true;
    tee.destroy(err as Error);
  });
  try {
    await pipeline(tampered(delta, index), tee, createWriteStream(deltaFile), { signal: options.signal });
  } catch (err) {
    target.destroy();
    checkInput.destroy();
    if (checkFailed) await explainFailure(checking, layer, what, options.signal); // throws
    throw abortAware(err, options.signal, deltaFile);
  }
  const device = await explainFailure(checking, layer, what, options.signal);
  return { uncompressedSize: counter.bytes, deltaSize: (await stat(deltaFile)).size, device };
}

/** Pass-through that counts the bytes going through it. */
function byteCounter(): Transform & { bytes: number } {
  const counter = Object.assign(
    new Transform({
      transform(chunk: Buffer, _enc, callback) {
        counter.bytes += chunk.length;
        callback(null, chunk);
      },
    }),
    { bytes: 0 },
  );
  return counter;
}

/**
 * `checking`, but a self-check that found the delta rebuilding something else than the diff_id
 * first reads the layer again: when the layer itself does not hash to its diff_id, that is the
 * error (ERR_DIGEST_MISMATCH), not the delta.
 */
async function explainFailure(
  checking: Promise<DeviceDecodeStats>,
  layer: Layer,
  what: string,
  signal: AbortSignal | undefined,
): Promise<DeviceDecodeStats> {
  try {
    return await checking;
  } catch (err) {
    if (err instanceof OciDeltaError && err.code === 'ERR_DELTA_SELF_CHECK' && !signal?.aborted) {
      const { digest } = await digestStream(await layer.uncompressed({ signal }));
      checkDiffId(layer, digest, what);
    }
    throw err;
  }
}

/**
 * Decode the `delta` stream against the source (file or bytes) as the device's stock xdelta3
 * would (its source cache emulated, see `DecoderSourceCache`) and compare the result with
 * `expected` and `expectedSize()` (read once decoding ended):
 * ERR_DEVICE_DECODE when the device's decoder could not serve a copy, ERR_DELTA_SELF_CHECK when
 * the delta is malformed or rebuilds something else. Returns what the decode costs the device.
 */
export async function selfCheck(
  source: string | Uint8Array,
  delta: Readable,
  expected: Digest,
  expectedSize: () => number,
  what: string,
  options: { signal?: AbortSignal; device?: DeviceDecoder } = {},
): Promise<DeviceDecodeStats> {
  const { signal } = options;
  let result: { digest: Digest; size: number };
  let stats: DeviceDecodeStats | undefined;
  try {
    result = await digestStream(
      decodeWindows(source, delta, {
        signal,
        device: options.device ?? {},
        onDeviceStats: (s) => {
          stats = s;
        },
      }),
    );
  } catch (err) {
    if (signal?.aborted) throw abortAware(err, signal, what);
    if (err instanceof OciDeltaError && err.code === 'ERR_DEVICE_DECODE') {
      throw new OciDeltaError(
        'ERR_DEVICE_DECODE',
        `${what}: ${err.message}`,
        { layer: what, expected, ...err.details },
        { cause: err },
      );
    }
    throw new OciDeltaError(
      'ERR_DELTA_SELF_CHECK',
      `self-check of the delta for ${what} failed: our decoder rejected it (${(err as Error).message})`,
      { layer: what, expected },
      { cause: err },
    );
  }
  const size = expectedSize();
  if (result.digest !== expected || result.size !== size) {
    throw new OciDeltaError(
      'ERR_DELTA_SELF_CHECK',
      `self-check of the delta for ${what} failed: it decodes to ${result.digest} (${result.size} bytes), expected ${expected} (${size} bytes)`,
      { layer: what, expected, actual: result.digest },
    );
  }
  return stats!;
}
