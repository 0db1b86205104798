/**
 * One changed layer of a deep delta: stream the current layer's decompressed tar to a temp file,
 * load it once (the encoder's source, also used by the self-check: memory is O(source layer),
 * the source bytes plus the encoder's hash table of 1/4 to 1/2 their size), encode the new
 * layer's decompressed tar against it while hashing it, then self-check the delta by decoding it with our
 * decoder and comparing the result with the new layer's diff_id. A delta that fails the check is
 * an error (ERR_DELTA_SELF_CHECK), never an output.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import {
  abortAware,
  type Digest,
  digestStream,
  HashingCounter,
  type Layer,
  OciDeltaError,
} from '@ocidelta/core';
import { DEFAULT_MAX_SOURCE_SIZE, decode, encode } from '../vcdiff/index.js';

/** Test seam: lets a test corrupt a delta between encoding and the self-check. Not public API. */
export const deepDeltaTestHooks: { afterEncode?: (deltaFile: string, index: number) => Promise<void> } = {};

export interface LayerFiles {
  signal?: AbortSignal;
  maxSourceSize?: number;
  /** Encoding progress: target bytes consumed so far (after each window). */
  onBytes?: (done: number) => void;
}

/** Write `layer`'s decompressed tar to `file`, verified against its diff_id. Returns its size. */
export async function writeUncompressedLayer(
  layer: Layer,
  file: string,
  what: string,
  options: LayerFiles = {},
): Promise<number> {
  const counter = new HashingCounter('sha256', { context: { layer: what, digest: layer.digest } });
  try {
    await pipeline(await layer.uncompressed({ signal: options.signal }), counter, createWriteStream(file), {
      signal: options.signal,
    });
  } catch (err) {
    throw abortAware(err, options.signal, file);
  }
  checkDiffId(layer, counter, what);
  return counter.digester.size;
}

function checkDiffId(layer: Layer, counter: HashingCounter, what: string): void {
  const actual = counter.digester.digest();
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
}

/**
 * Encode `layer` (decompressed) against the decompressed source file into `deltaFile`, then
 * self-check it. The new layer's bytes are verified against its diff_id while they stream in.
 */
export async function encodeLayer(
  sourceFile: string,
  layer: Layer,
  deltaFile: string,
  what: string,
  index: number,
  options: LayerFiles = {},
): Promise<EncodedLayer> {
  // Load the source once for both the encoder and the self-check's decoder (each would read the
  // whole file otherwise, and two copies may be alive at once before GC). One over the size limit
  // is left to the encoder, which refuses it with ERR_SOURCE_TOO_LARGE before reading it.
  const { size: sourceSize } = await stat(sourceFile);
  const source: string | Buffer =
    sourceSize > (options.maxSourceSize ?? DEFAULT_MAX_SOURCE_SIZE) ? sourceFile : await readFile(sourceFile);
  const counter = new HashingCounter('sha256', { context: { layer: what, digest: layer.digest } });
  const target = await layer.uncompressed({ signal: options.signal });
  target.on('error', (err) => counter.destroy(err));
  const delta = encode(source, target.pipe(counter), {
    signal: options.signal,
    ...(options.onBytes ? { onProgress: (p: { done: number }) => options.onBytes?.(p.done) } : {}),
    ...(options.maxSourceSize !== undefined ? { maxSourceSize: options.maxSourceSize } : {}),
  });
  try {
    await pipeline(delta, createWriteStream(deltaFile), { signal: options.signal });
  } catch (err) {
    target.destroy();
    throw abortAware(err, options.signal, deltaFile);
  }
  checkDiffId(layer, counter, what);
  const uncompressedSize = counter.digester.size;
  await deepDeltaTestHooks.afterEncode?.(deltaFile, index);
  await selfCheck(source, deltaFile, layer.diffId, uncompressedSize, what, options.signal);
  return { uncompressedSize, deltaSize: (await stat(deltaFile)).size };
}

/** Decode `deltaFile` against the source (file or bytes) with our decoder; throw ERR_DELTA_SELF_CHECK unless it rebuilds `expected`. */
export async function selfCheck(
  source: string | Uint8Array,
  deltaFile: string,
  expected: Digest,
  expectedSize: number,
  what: string,
  signal?: AbortSignal,
): Promise<void> {
  let result: { digest: Digest; size: number };
  try {
    result = await digestStream(decode(source, createReadStream(deltaFile), { signal }));
  } catch (err) {
    if (signal?.aborted) throw abortAware(err, signal, deltaFile);
    throw new OciDeltaError(
      'ERR_DELTA_SELF_CHECK',
      `self-check of the delta for ${what} failed: our decoder rejected it (${(err as Error).message})`,
      { layer: what, expected },
      { cause: err },
    );
  }
  if (result.digest !== expected || result.size !== expectedSize) {
    throw new OciDeltaError(
      'ERR_DELTA_SELF_CHECK',
      `self-check of the delta for ${what} failed: it decodes to ${result.digest} (${result.size} bytes), expected ${expected} (${expectedSize} bytes)`,
      { layer: what, expected, actual: result.digest },
    );
  }
}
