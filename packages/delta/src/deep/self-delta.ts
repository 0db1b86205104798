/**
 * The self-delta of an unchanged layer (new diff_id == the paired current layer's diff_id), built
 * without a source index: every target window of the encoder's size (8 MiB) is one VCDIFF window
 * whose source segment is the same range of the source, a single COPY of the whole window from
 * address 0 (mode 0 / VCD_SELF, size written out) and the xdelta3 Adler-32 of the window.
 * The layer's decompressed bytes are streamed once (never stored): they are hashed against the
 * diff_id and their per-window Adler-32s computed on the way, since they are the source's bytes.
 *
 * Self-check (streaming, no source needed): the written delta is read back and decoded
 * instruction by instruction; it must be exactly the window-aligned whole-window copies of
 * `[0, size)` with the Adler-32s of the verified bytes. A pure copy of `[0, size)` of a source
 * whose diff_id is the new diff_id rebuilds the new layer, so this is equivalent to decoding it
 * against the source and comparing the result with the diff_id (the tests also decode these
 * deltas with our decoder and with stock `xdelta3 -d -s`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { abortAware, HashingCounter, type Layer, OciDeltaError } from '@ocidelta/core';
import { adler32 } from '../vcdiff/adler32.js';
import { copyOpcode } from '../vcdiff/code-table.js';
import { VCDIFF_MAGIC } from '../vcdiff/decoder.js';
import {
  DecoderSourceCache,
  type DeviceDecoder,
  type DeviceDecodeStats,
  MAX_WINDOW_SIZE,
} from '../vcdiff/index.js';
import { ByteWriter, varintSize } from '../vcdiff/varint.js';

const VCD_SOURCE = 0x01;
const VCD_ADLER32 = 0x04;
/** RFC 3284 default code table: COPY, size 0 (written as a varint), mode 0 (VCD_SELF). */
const COPY_SIZE0_MODE0 = copyOpcode(0, 0);

/** Adler-32 of `buf`, continuing from `adler` (1 for a fresh checksum). */
export function adler32Update(adler: number, buf: Uint8Array): number {
  return adler32(buf, 0, buf.length, adler);
}

/**
 * The self-delta of a layer of `size` bytes whose windows (of `windowSize` bytes, the last one
 * shorter) have the Adler-32s `adlers`. An empty layer gets one empty window, as the encoder
 * writes it.
 */
export function selfDelta(size: number, adlers: readonly number[], windowSize = MAX_WINDOW_SIZE): Buffer {
  const out = new ByteWriter(64 + adlers.length * 24);
  out.bytes(Uint8Array.from(VCDIFF_MAGIC));
  out.byte(0); // Hdr_Indicator
  if (size === 0) {
    // Win_Indicator, delta length, target length 0, Delta_Indicator, 3 empty sections, Adler-32 of nothing.
    out.bytes(Uint8Array.of(VCD_ADLER32, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1));
    return Buffer.from(out.buf.subarray(0, out.length));
  }
  let offset = 0;
  for (const adler of adlers) {
    const n = Math.min(windowSize, size - offset);
    const instLength = 1 + varintSize(n);
    // Target window length, Delta_Indicator, data/inst/addr section lengths, Adler-32, inst, addr.
    const bodyLength = varintSize(n) + 1 + 1 + varintSize(instLength) + 1 + 4 + instLength + 1;
    out.byte(VCD_SOURCE | VCD_ADLER32);
    out.varint(n); // source segment length
    out.varint(offset); // source segment position
    out.varint(bodyLength);
    out.varint(n); // target window length
    out.byte(0); // Delta_Indicator
    out.varint(0); // data section
    out.varint(instLength);
    out.varint(1); // address section: one varint 0
    out.bytes(
      Uint8Array.of((adler >>> 24) & 0xff, (adler >>> 16) & 0xff, (adler >>> 8) & 0xff, adler & 0xff),
    );
    out.byte(COPY_SIZE0_MODE0);
    out.varint(n);
    out.byte(0); // the COPY's address
    offset += n;
  }
  return Buffer.from(out.buf.subarray(0, out.length));
}

/** Streams a layer's bytes and records the Adler-32 of every window. */
class WindowAdlers {
  readonly adlers: number[] = [];
  private adler = 1;
  private fill = 0;
  constructor(private readonly windowSize: number) {}
  update(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.windowSize - this.fill, chunk.length - off);
      this.adler = adler32Update(this.adler, chunk.subarray(off, off + n));
      this.fill += n;
      off += n;
      if (this.fill === this.windowSize) this.flush();
    }
  }
  flush(): void {
    if (this.fill === 0) return;
    this.adlers.push(this.adler);
    this.adler = 1;
    this.fill = 0;
  }
}

/** What the self-delta needs of a layer. */
export type SelfDeltaLayer = Pick<Layer, 'digest' | 'diffId' | 'uncompressed'>;

export interface SelfDeltaOptions {
  signal?: AbortSignal;
  /** Progress: stored (compressed) bytes of the layer read so far. */
  onBytes?: (done: number) => void;
  /** Test seam: runs between writing the delta and its self-check. */
  afterWrite?: (deltaFile: string) => Promise<void>;
}

/**
 * Write the self-delta of the unchanged `layer` to `deltaFile` (streaming its decompressed bytes
 * once, verified against its diff_id) and self-check it. Returns the layer's decompressed size
 * and the delta's size.
 */
export async function writeSelfDelta(
  layer: SelfDeltaLayer,
  deltaFile: string,
  what: string,
  options: SelfDeltaOptions = {},
): Promise<{ uncompressedSize: number; deltaSize: number }> {
  const counter = new HashingCounter('sha256', { context: { layer: what, digest: layer.digest } });
  const windows = new WindowAdlers(MAX_WINDOW_SIZE);
  try {
    await pipeline(
      await layer.uncompressed({
        signal: options.signal,
        ...(options.onBytes ? { onStoredBytes: options.onBytes } : {}),
      }),
      counter,
      async (source: AsyncIterable<Uint8Array>) => {
        for await (const chunk of source) {
          windows.update(chunk);
        }
      },
      { signal: options.signal },
    );
  } catch (err) {
    throw abortAware(err, options.signal, deltaFile);
  }
  windows.flush();
  const actual = counter.digester.digest();
  if (actual !== layer.diffId) {
    throw new OciDeltaError(
      'ERR_DIGEST_MISMATCH',
      `${what} (${layer.digest}) decompresses to ${actual}, but the image config lists diff_id ${layer.diffId}`,
      { digest: layer.digest, expected: layer.diffId, actual },
    );
  }
  const size = counter.digester.size;
  const delta = selfDelta(size, windows.adlers);
  await writeFile(deltaFile, delta);
  await options.afterWrite?.(deltaFile);
  await checkSelfDelta(await readFile(deltaFile), size, windows.adlers, what);
  return { uncompressedSize: size, deltaSize: delta.length };
}

function selfCheckError(what: string, reason: string): OciDeltaError {
  return new OciDeltaError('ERR_DELTA_SELF_CHECK', `self-check of the delta for ${what} failed: ${reason}`, {
    layer: what,
  });
}

/**
 * Decode the self-delta `delta` without its source: throw ERR_DELTA_SELF_CHECK unless every
 * window copies exactly its own range of the source, the windows cover `[0, size)` in order and
 * carry the Adler-32s of the verified bytes.
 */
export function checkSelfDelta(
  delta: Uint8Array,
  size: number,
  adlers: readonly number[],
  what: string,
): void {
  let pos = 0;
  const fail = (reason: string): never => {
    throw selfCheckError(what, `${reason} at delta offset ${pos}`);
  };
  const byte = (): number => {
    if (pos >= delta.length) fail('truncated delta');
    return delta[pos++] as number;
  };
  const int = (): number => {
    let v = 0;
    for (let k = 0; k < 9; k++) {
      const b = byte();
      v = v * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) return v;
    }
    return fail('varint too long');
  };
  for (const m of VCDIFF_MAGIC) if (byte() !== m) fail('bad VCDIFF magic');
  if (byte() !== 0) fail('unexpected Hdr_Indicator');
  const expected = size === 0 ? [1] : adlers;
  let offset = 0;
  for (const [w, adler] of expected.entries()) {
    const n = size === 0 ? 0 : Math.min(MAX_WINDOW_SIZE, size - offset);
    const indicator = byte();
    if (n > 0) {
      if (indicator !== (VCD_SOURCE | VCD_ADLER32)) fail(`window ${w} is not a source window with Adler-32`);
      if (int() !== n || int() !== offset)
        fail(`window ${w} does not use source range [${offset}, ${offset + n})`);
    } else if (indicator !== VCD_ADLER32) {
      fail('the empty window has an unexpected Win_Indicator');
    }
    const bodyLen = int();
    const bodyStart = pos;
    if (int() !== n) fail(`window ${w} does not have ${n} target bytes`);
    if (byte() !== 0) fail(`window ${w} has a Delta_Indicator`);
    const dataLen = int();
    const instLen = int();
    const addrLen = int();
    const stored = ((byte() << 24) | (byte() << 16) | (byte() << 8) | byte()) >>> 0;
    if (stored !== adler) fail(`window ${w} has Adler-32 ${stored}, the layer's bytes have ${adler}`);
    if (dataLen !== 0) fail(`window ${w} adds data`);
    const instEnd = pos + instLen;
    if (n > 0) {
      if (byte() !== COPY_SIZE0_MODE0 || int() !== n || pos !== instEnd) {
        fail(`window ${w} is not one COPY of the whole window`);
      }
      if (addrLen !== 1 || byte() !== 0) fail(`window ${w} does not copy from source address 0`);
    } else if (instLen !== 0 || addrLen !== 0) {
      fail('the empty window has instructions');
    }
    if (pos - bodyStart !== bodyLen) fail(`window ${w} has a wrong delta encoding length`);
    offset += n;
  }
  if (offset !== size) fail(`the windows cover ${offset} of ${size} bytes`);
  if (pos !== delta.length) fail('trailing bytes after the last window');
}

/**
 * What decoding the self-delta of a `size`-byte layer costs the device: its windows copy
 * `[0, size)` in order, replayed through the emulated decoder cache (always within reach).
 */
export function selfDeltaDeviceStats(
  size: number,
  device: DeviceDecoder = {},
  windowSize = MAX_WINDOW_SIZE,
): DeviceDecodeStats {
  const cache = new DecoderSourceCache(size, device);
  for (let off = 0; off < size; off += windowSize) {
    const miss = cache.copy(off, Math.min(windowSize, size - off));
    if (miss) throw selfCheckError(`a layer of ${size} bytes`, miss.reason);
  }
  return cache.stats();
}
