/**
 * Streaming VCDIFF decoder for what xdelta3 emits without secondary compression and what our
 * encoder writes: the RFC 3284 default code table, VCD_SOURCE windows, the xdelta3 Adler-32
 * extension, an optional app header. Holds the source in memory and one window at a time.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { OciDeltaError, type Progress, throwIfAborted, writeFileAtomic } from '@ocidelta/core';
import { AddressCache } from './address-cache.js';
import { ChunkReader } from './byte-reader.js';
import { HARD_MAX_SOURCE_SIZE, loadSource } from './source.js';
import { DecoderSourceCache, type DeviceDecoder, type DeviceDecodeStats } from './source-cache.js';
import { readVarint } from './varint.js';
import { decodeWindow } from './window-decoder.js';
import { VCD_ADLER32, VCD_SOURCE, VCD_TARGET } from './window-encoder.js';

export const VCDIFF_MAGIC = [0xd6, 0xc3, 0xc4, 0x00] as const;
const VCD_DECOMPRESS = 0x01;
const VCD_CODETABLE = 0x02;
const VCD_APPHEADER = 0x04;
/** Largest window (source segment + target, or a delta window) we accept: 2^32 like xdelta3. */
const MAX_WINDOW = 2 ** 32;
/** Largest target window accepted (xdelta3 3.0.x refuses more than 16 MiB). */
const MAX_TARGET_WINDOW = 64 * 1024 * 1024;

export interface DecodeOptions {
  signal?: AbortSignal;
  /** Called after each window with the target bytes produced so far. */
  onProgress?: (p: Progress<'decode'>) => void;
  /**
   * Decode as the device's stock xdelta3 3.0.x would: replay every source copy through an
   * emulation of its source cache (see `DecoderSourceCache`); a copy it could not serve fails the
   * stream with ERR_DEVICE_DECODE (target offset, source offset, why).
   */
  device?: DeviceDecoder;
  /** With `device`: called once at the end with what decoding cost the device. */
  onDeviceStats?: (stats: DeviceDecodeStats) => void;
}

function vcdiffError(message: string, details: Record<string, unknown> = {}): OciDeltaError {
  return new OciDeltaError('ERR_VCDIFF', `VCDIFF: ${message}`, details);
}

/** Parse a varint at the reader's position, buffering as needed. */
async function varint(r: ChunkReader, what: string): Promise<number> {
  await r.need(10);
  const [v, p] = readVarint(r.bytes, r.pos, r.end, what);
  r.pos = p;
  return v;
}

async function byte(r: ChunkReader, what: string): Promise<number> {
  if (!(await r.need(1))) throw vcdiffError(`truncated delta (${what})`);
  return r.bytes[r.pos++] as number;
}

async function* decodeChunks(
  source: string | Uint8Array,
  delta: AsyncIterable<Uint8Array>,
  options: DecodeOptions,
  reuse = false,
): AsyncGenerator<Buffer> {
  const { signal } = options;
  // With `reuse`, every window is rebuilt into one buffer (grown to the largest window).
  let scratch: Buffer | undefined;
  const r = new ChunkReader(delta);
  try {
    throwIfAborted(signal, 'VCDIFF decode');
    if (!(await r.need(5))) throw vcdiffError('delta too short for a VCDIFF header');
    for (let i = 0; i < 4; i++) {
      if (r.bytes[r.pos + i] !== VCDIFF_MAGIC[i]) {
        throw vcdiffError('bad magic: not a VCDIFF delta (expected D6 C3 C4 00)');
      }
    }
    r.pos += 4;
    const hdr = await byte(r, 'Hdr_Indicator');
    if (hdr & VCD_DECOMPRESS)
      throw vcdiffError('secondary compression is not supported (encode with xdelta3 -S none)');
    if (hdr & VCD_CODETABLE) throw vcdiffError('custom code tables are not supported');
    if (hdr & ~(VCD_DECOMPRESS | VCD_CODETABLE | VCD_APPHEADER)) {
      throw vcdiffError(`unknown Hdr_Indicator bits 0x${hdr.toString(16)}`);
    }
    if (hdr & VCD_APPHEADER) {
      const len = await varint(r, 'app header length');
      if (!(await r.need(len))) throw vcdiffError('truncated app header');
      r.pos += len;
    }
    const src = await loadSource(source, HARD_MAX_SOURCE_SIZE, signal);
    const device = options.device ? new DecoderSourceCache(src.length, options.device) : undefined;
    const cache = new AddressCache();
    let index = 0;
    let done = 0;
    while (!(await r.atEnd())) {
      throwIfAborted(signal, 'VCDIFF decode');
      const win = await byte(r, 'Win_Indicator');
      if (win & VCD_TARGET) throw vcdiffError(`window ${index}: VCD_TARGET windows are not supported`);
      if (win & ~(VCD_SOURCE | VCD_TARGET | VCD_ADLER32)) {
        throw vcdiffError(`window ${index}: unknown Win_Indicator bits 0x${win.toString(16)}`);
      }
      let segment: Uint8Array = src.subarray(0, 0);
      let segStart = 0;
      if (win & VCD_SOURCE) {
        const segLen = await varint(r, 'source segment length');
        const segPos = await varint(r, 'source segment position');
        if (segLen > MAX_WINDOW || segPos + segLen > src.length) {
          throw vcdiffError(
            `window ${index}: source segment [${segPos}, ${segPos + segLen}) is outside the source (${src.length} bytes)`,
            { window: index, segPos, segLen, sourceSize: src.length },
          );
        }
        segment = src.subarray(segPos, segPos + segLen);
        segStart = segPos;
      }
      const encLen = await varint(r, 'delta encoding length');
      if (encLen > MAX_WINDOW)
        throw vcdiffError(`window ${index}: delta encoding length ${encLen} too large`);
      if (!(await r.need(encLen)))
        throw vcdiffError(`window ${index}: truncated delta (window needs ${encLen} bytes)`);
      const body = r.bytes;
      const start = r.pos;
      const end = start + encLen;
      let p = start;
      const next = (what: string): number => {
        const [v, q] = readVarint(body, p, end, what);
        p = q;
        return v;
      };
      const targetLength = next('target window length');
      if (targetLength > MAX_TARGET_WINDOW) {
        throw vcdiffError(`window ${index}: target window of ${targetLength} bytes is too large`);
      }
      if (p >= end) throw vcdiffError(`window ${index}: truncated window header`);
      const deltaInd = body[p++] as number;
      if (deltaInd !== 0) {
        throw vcdiffError(
          `window ${index}: compressed sections (Delta_Indicator ${deltaInd}) are not supported`,
        );
      }
      const dataLen = next('data section length');
      const instLen = next('instruction section length');
      const addrLen = next('address section length');
      let checksum: number | undefined;
      if (win & VCD_ADLER32) {
        if (p + 4 > end) throw vcdiffError(`window ${index}: truncated checksum`);
        checksum = body.readUInt32BE(p);
        p += 4;
      }
      if (p + dataLen + instLen + addrLen !== end) {
        throw vcdiffError(
          `window ${index}: section lengths do not match the delta encoding length ${encLen}`,
        );
      }
      const data = body.subarray(p, p + dataLen);
      p += dataLen;
      const inst = body.subarray(p, p + instLen);
      p += instLen;
      const addr = body.subarray(p, p + addrLen);
      const base = done;
      const onSourceCopy = device
        ? (offset: number, length: number, targetPos: number) => {
            const miss = device.copy(segStart + offset, length);
            if (miss) {
              throw new OciDeltaError(
                'ERR_DEVICE_DECODE',
                `the device's xdelta3 would fail at target offset ${base + targetPos} (window ${index}): ${miss.reason}`,
                { window: index, targetOffset: base + targetPos, ...miss, ...device.stats() },
              );
            }
          }
        : undefined;
      if (reuse && (scratch === undefined || scratch.length < targetLength))
        scratch = Buffer.allocUnsafe(targetLength);
      const out = decodeWindow(
        { segment, targetLength, data, inst, addr, adler32: checksum, index, onSourceCopy },
        cache,
        scratch,
      );
      r.pos = end;
      done += out.length;
      options.onProgress?.({ phase: 'decode', done });
      index++;
      yield out;
    }
    if (device) options.onDeviceStats?.(device.stats());
  } finally {
    await r.close();
  }
}

/**
 * Decode a VCDIFF `delta` against `source` (a file path or the bytes), streaming the target.
 * The source is held in memory. Errors (ERR_VCDIFF: bad magic, unsupported features, checksum
 * mismatch, out-of-bounds copy) are emitted on the returned stream.
 */
export function decode(
  source: string | Uint8Array,
  delta: Readable | AsyncIterable<Uint8Array>,
  options: DecodeOptions = {},
): Readable {
  return Readable.from(decodeChunks(source, delta as AsyncIterable<Uint8Array>, options), {
    objectMode: false,
  });
}

/**
 * {@link decode} for a consumer that is done with each window's bytes before it asks for the next
 * (a hash, a checksum): every window is rebuilt into the same buffer, so a delta of any size
 * allocates one window's memory instead of one per window.
 */
export function decodeWindows(
  source: string | Uint8Array,
  delta: Readable | AsyncIterable<Uint8Array>,
  options: DecodeOptions = {},
): AsyncGenerator<Buffer> {
  return decodeChunks(source, delta as AsyncIterable<Uint8Array>, options, true);
}

/** Decode file `deltaPath` against `sourcePath` into `outPath` (written to a temp name, then renamed). */
export async function decodeFile(
  sourcePath: string,
  deltaPath: string,
  outPath: string,
  options: DecodeOptions = {},
): Promise<{ size: number }> {
  const size = await writeFileAtomic(outPath, decode(sourcePath, createReadStream(deltaPath), options), {
    signal: options.signal,
  });
  return { size };
}
