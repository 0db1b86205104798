/**
 * Parallel gzip (the pigz / klauspost pgzip technique, which mender-artifact itself uses): the
 * input is cut into blocks that are deflated concurrently on libuv's thread pool (node:zlib's
 * async API), each primed with the previous 32 KiB as dictionary and ended with a sync flush,
 * then concatenated in order into ONE standard gzip member (header, deflate blocks, final empty
 * block, CRC-32, size). Any gzip reader (Go, zlib, `tar -xz`) reads it as a normal stream.
 *
 * Blocks that do not shrink are written as stored blocks, and after such a block the following
 * ones are only probed (a 16 KiB sample is deflated) and stored while the sample does not
 * shrink either, like klauspost/compress skips incompressible input: already-compressed
 * payloads (images.tar.gz) cost almost nothing. Memory is bounded by `concurrency` blocks.
 */
import * as zlib from 'node:zlib';
import { OciDeltaError } from '../errors.js';

export interface ParallelGzipOptions {
  /** Compression level 1-9 (default 6). */
  level?: number;
  /** Input bytes per block (default 1 MiB). */
  blockSize?: number;
  /** Blocks compressed at once (default 4: libuv's default thread pool size). */
  concurrency?: number;
  /** Bytes of a block deflated to probe whether it compresses, after an incompressible block (16 KiB). */
  probeSize?: number;
  signal?: AbortSignal;
}

const DICT = 32 * 1024;

let crcTable: Int32Array | undefined;
function crc32js(data: Uint8Array, crc: number): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

type Crc32 = (data: Uint8Array, value?: number) => number;
const nativeCrc32 = (zlib as unknown as { crc32?: Crc32 }).crc32;

/** CRC-32 (gzip's), continuing from `crc`; native zlib.crc32 when the runtime has it. */
export function crc32(data: Uint8Array, crc = 0): number {
  return nativeCrc32 ? nativeCrc32(data, crc) : crc32js(data, crc);
}

function deflateBlock(block: Buffer, dictionary: Buffer | undefined, level: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // memLevel 9 (a larger hash table): ~15% less CPU than the default 8 at the same level.
    const opts: zlib.ZlibOptions = { level, memLevel: 9, finishFlush: zlib.constants.Z_SYNC_FLUSH };
    if (dictionary) opts.dictionary = dictionary;
    zlib.deflateRaw(block, opts, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/**
 * `data` as stored (uncompressed) deflate blocks, at a byte boundary, not final: 5-byte headers
 * and slices of `data` (no copy).
 */
export function storedBlocks(data: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += 0xffff) {
    const n = Math.min(0xffff, data.length - off);
    parts.push(
      Buffer.from([0x00, n & 0xff, n >> 8, ~n & 0xff, (~n >> 8) & 0xff]),
      data.subarray(off, off + n),
    );
  }
  return parts;
}

/** A block that shrinks by less than this is "incompressible". */
const INCOMPRESSIBLE = 0.98;

/** Re-cut a byte stream into blocks of exactly `size` bytes (the last may be shorter). */
async function* blocks(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let buf = Buffer.allocUnsafe(size);
  let fill = 0;
  for await (const chunk of source) {
    let off = 0;
    while (off < chunk.byteLength) {
      const n = Math.min(size - fill, chunk.byteLength - off);
      buf.set(chunk.subarray(off, off + n), fill);
      fill += n;
      off += n;
      if (fill === size) {
        yield buf;
        buf = Buffer.allocUnsafe(size);
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}

/** gzip `source` into a single gzip member, compressing blocks in parallel. */
export async function* parallelGzip(
  source: AsyncIterable<Uint8Array>,
  options: ParallelGzipOptions = {},
): AsyncGenerator<Buffer> {
  const level = options.level ?? 6;
  const blockSize = options.blockSize ?? 1 << 20;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const probeSize = options.probeSize ?? 16 * 1024;
  // mtime 0, no name, XFL 0, OS 3 (Unix): the header node:zlib writes.
  yield Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3]);
  let crc = 0;
  let total = 0;
  let storing = false;
  // While storing, probe every `probeGap`-th block only; the gap doubles (up to 8) while the
  // probes keep failing.
  let probeGap = 1;
  let sinceProbe = 0;
  let previous: Buffer | undefined;
  const inFlight: Array<{ block: Buffer; out: Promise<Buffer | undefined> }> = [];

  /** While storing: deflate a sample first (on the pool); store the block if it does not shrink. */
  const probeThenDeflate = async (
    block: Buffer,
    dictionary: Buffer | undefined,
  ): Promise<Buffer | undefined> => {
    if (++sinceProbe < probeGap) return undefined;
    sinceProbe = 0;
    const sample = block.subarray(0, probeSize);
    const probe = await deflateBlock(sample, undefined, level);
    if (probe.length >= sample.length * INCOMPRESSIBLE) {
      probeGap = Math.min(probeGap * 2, 8);
      return undefined;
    }
    storing = false;
    probeGap = 1;
    return deflateBlock(block, dictionary, level);
  };

  const settle = async (): Promise<Buffer[]> => {
    const { block, out } = inFlight.shift()!;
    const compressed = await out;
    if (compressed === undefined) return storedBlocks(block);
    if (compressed.length >= block.length * INCOMPRESSIBLE) storing = true;
    return compressed.length <= block.length ? [compressed] : storedBlocks(block);
  };

  for await (const block of blocks(source, blockSize)) {
    if (options.signal?.aborted) {
      throw new OciDeltaError('ERR_ABORTED', 'gzip aborted', {}, { cause: options.signal.reason });
    }
    crc = crc32(block, crc);
    total += block.length;
    const dictionary = previous
      ? previous.subarray(previous.length - Math.min(DICT, previous.length))
      : undefined;
    const out = storing ? probeThenDeflate(block, dictionary) : deflateBlock(block, dictionary, level);
    // Avoid an unhandled rejection while the promise waits in the queue.
    out.catch(() => {});
    inFlight.push({ block, out });
    previous = block;
    if (inFlight.length >= concurrency) yield* await settle();
  }
  while (inFlight.length > 0) yield* await settle();
  const trailer = Buffer.alloc(10);
  // Final empty fixed-Huffman block (BFINAL=1) then CRC-32 and ISIZE, little-endian.
  trailer[0] = 0x03;
  trailer[1] = 0x00;
  trailer.writeUInt32LE(crc >>> 0, 2);
  trailer.writeUInt32LE(total % 2 ** 32, 6);
  yield trailer;
}
