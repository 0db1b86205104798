/**
 * Deltas at the limits of the device's decoder, decoded by the real stock `xdelta3 -d -s` exactly
 * as the app update module calls it, including a gzip-compressed source it reads through
 * `gzip -dc` (non-seekable: only the last 32 blocks of 2 MiB it read are reachable).
 *
 * 1. Hand-made deltas at the ring's boundaries: the real decoder and our emulation
 *    (`DecoderSourceCache`, used by the encoder and every self-check) must agree copy for copy.
 * 2. Deep deltas of a ~160 MiB layer (2.5x the 64 MiB window) whose next version has its files in
 *    another tar order (content moved far), for every device store mode.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { blobEntryName, type Image, OciDeltaError, writeDockerArchive } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { buildDeepDelta, type CurrentOrigin, type DeviceStore } from '../src/deep/index.js';
import { decode, encode } from '../src/vcdiff/index.js';
import { I_COPY_SOURCE, InstructionList } from '../src/vcdiff/instructions.js';
import { DecoderSourceCache } from '../src/vcdiff/source-cache.js';
import { ByteWriter } from '../src/vcdiff/varint.js';
import { WindowEncoder } from '../src/vcdiff/window-encoder.js';
import { runDevice } from './device-steps.js';
import { bigLayerFiles, updatedFiles } from './fixtures/big-layers.js';
import { type BuiltImage, buildImage, prng, tarOf } from './fixtures/images.js';

const MiB = 1024 * 1024;
const BLOCK = 2 * MiB;

function sha256(buf: Uint8Array): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

/** A delta of one window per copy `[offset, length]` of `src`, and the target it rebuilds. */
function copiesDelta(src: Buffer, copies: [number, number][]): { delta: Buffer; target: Buffer } {
  const out = new ByteWriter(1 << 16);
  out.bytes(Uint8Array.of(0xd6, 0xc3, 0xc4, 0, 0));
  const enc = new WindowEncoder();
  const parts: Buffer[] = [];
  for (const [offset, length] of copies) {
    const list = new InstructionList();
    list.reset();
    list.push(I_COPY_SOURCE, length, offset);
    enc.encode(src.subarray(offset, offset + length), length, list, out);
    parts.push(src.subarray(offset, offset + length));
  }
  return { delta: Buffer.from(out.view()), target: Buffer.concat(parts) };
}

/** Our delta of `target` against `source` for a decoder reading the source as `access`. */
async function encodeBytes(
  source: Buffer,
  target: Buffer,
  access: 'seekable' | 'sequential',
): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of encode(source, Readable.from([target]), { sourceAccess: access }))
    parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Stock `xdelta3 -d -s SOURCE DELTA OUT`, as the app module calls it (a gzip SOURCE is piped through gzip -dc). */
function stockDecode(source: string, delta: string, out: string) {
  return spawnSync('xdelta3', ['-d', '-f', '-s', source, delta, out], { encoding: 'utf8' });
}

let root: string;

describe.skipIf(!haveBinaries('xdelta3', 'gzip', 'tar'))('device decoder limits with stock xdelta3', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ocidelta-limits-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  describe('the emulated source cache agrees with the real decoder', () => {
    let src: Buffer;
    beforeAll(() => {
      src = prng(5)(100 * MiB);
      writeFileSync(join(root, 'src.bin'), src);
      writeFileSync(join(root, 'src.bin.gz'), gzipSync(src, { level: 1 }));
    });

    const cases: { name: string; copies: [number, number][]; sequentialOk: boolean }[] = [
      {
        name: 'a copy 31 blocks behind the newest',
        copies: [
          [40 * BLOCK, 1000],
          [9 * BLOCK, 1000],
        ],
        sequentialOk: true,
      },
      {
        name: 'a copy 32 blocks behind the newest',
        copies: [
          [40 * BLOCK, 1000],
          [8 * BLOCK + 5, 1000],
        ],
        sequentialOk: false,
      },
      {
        name: 'block 0 after a copy straddling into block 32',
        copies: [
          [32 * BLOCK - 10, 20],
          [0, 100],
        ],
        sequentialOk: false,
      },
      {
        name: 'block 0 after a copy ending in block 31 (the first 64 MiB)',
        copies: [
          [32 * BLOCK - 10, 10],
          [0, 100],
        ],
        sequentialOk: true,
      },
      {
        name: 'far back and forth inside the first 64 MiB',
        copies: [
          [60 * MiB, 4 * MiB],
          [0, 8 * MiB],
          [30 * MiB, 1],
        ],
        sequentialOk: true,
      },
    ];
    for (const c of cases) {
      it(`${c.name}: ${c.sequentialOk ? 'decodes' : 'fails'} from a gzip source, decodes from a plain one`, () => {
        const { delta, target } = copiesDelta(src, c.copies);
        const file = join(root, 'case.vcdiff');
        writeFileSync(file, delta);
        const gz = stockDecode(join(root, 'src.bin.gz'), file, join(root, 'out-gz'));
        const plain = stockDecode(join(root, 'src.bin'), file, join(root, 'out'));
        expect(plain.status, plain.stderr).toBe(0);
        expect(sha256(readFileSync(join(root, 'out')))).toBe(sha256(target));
        if (c.sequentialOk) {
          expect(gz.status, gz.stderr).toBe(0);
          expect(sha256(readFileSync(join(root, 'out-gz')))).toBe(sha256(target));
        } else {
          expect(gz.status).not.toBe(0);
          expect(gz.stderr).toMatch(/non-seekable source/);
        }
        // The emulation says the same, copy for copy.
        const seq = new DecoderSourceCache(src.length, { sourceAccess: 'sequential' });
        const misses = c.copies.map(([o, l]) => seq.copy(o, l)).filter((m) => m !== undefined);
        expect(misses.length === 0).toBe(c.sequentialOk);
        const lru = new DecoderSourceCache(src.length, { sourceAccess: 'seekable' });
        expect(c.copies.every(([o, l]) => lru.copy(o, l) === undefined)).toBe(true);
      });
    }
  });

  describe('deep deltas of a 160 MiB layer with its files in another order', () => {
    let v1: BuiltImage;
    let v2: BuiltImage;
    let v1Files: ReturnType<typeof bigLayerFiles>;
    beforeAll(async () => {
      v1Files = bigLayerFiles(160);
      const small = [{ path: 'etc/version', content: 'v1\n' }];
      v1 = await buildImage(join(root, 'v1'), { tag: 'v1', gzipLevel: 1, layers: [v1Files, small] });
      v2 = await buildImage(join(root, 'v2'), {
        tag: 'v2',
        gzipLevel: 1,
        layers: [updatedFiles(v1Files, { reorder: true }), [{ path: 'etc/version', content: 'v2\n' }]],
      });
    }, 300_000);

    const modes: {
      name: string;
      store: DeviceStore;
      origin: CurrentOrigin;
      layers: 'uncompressed' | 'stored';
      access: string;
    }[] = [
      { name: 'classic', store: 'classic', origin: 'registry', layers: 'uncompressed', access: 'seekable' },
      {
        name: 'containerd, pulled (gzip source)',
        store: 'containerd',
        origin: 'registry',
        layers: 'stored',
        access: 'sequential',
      },
      {
        name: 'containerd, from artifact',
        store: 'containerd',
        origin: 'artifact',
        layers: 'uncompressed',
        access: 'seekable',
      },
    ];
    for (const mode of modes) {
      it(`rebuilds every layer with stock xdelta3 on a ${mode.name} device`, async () => {
        const dir = await mkdtemp(join(root, 'dev-'));
        await writeDockerArchive(join(dir, 'current.tar'), [{ image: v1.image, repoTags: ['app:v1'] }], {
          layers: mode.layers,
        });
        const t0 = performance.now();
        const res = await buildDeepDelta(v1.image, v2.image, join(dir, 'image.img'), {
          deviceStore: mode.store,
          currentOrigin: mode.origin,
          repoTags: ['app:v2'],
          tmpDir: dir,
        });
        const base = res.layers[0]!;
        const t1 = performance.now();
        process.stderr.write(
          `${mode.name}: delta ${base.deltaSize} of ${base.uncompressedSize}, device reads ${base.device.sourceBytesRead}, ${Math.round(t1 - t0)} ms\n`,
        );
        expect(base.unchanged).toBe(false);
        expect(base.uncompressedSize).toBeGreaterThan(2.4 * 64 * MiB);
        expect(base.device.sourceAccess).toBe(mode.access);
        // Content moved far: still a delta well below the layer (the ring keeps 64 MiB reachable).
        expect(base.deltaSize).toBeLessThan(
          base.uncompressedSize * (mode.access === 'sequential' ? 0.75 : 0.1),
        );
        // A stream is read at most once; a seekable file at least its first -B, re-reads on top.
        expect(base.device.sourceBytesRead).toBeGreaterThanOrEqual(64 * MiB);
        if (mode.access === 'sequential')
          expect(base.device.sourceBytesRead).toBeLessThanOrEqual(base.device.sourceSize);
        expect(res.device.sourceBytesRead).toBeGreaterThanOrEqual(base.device.sourceBytesRead);
        const run = runDevice(dir);
        process.stderr.write(`device steps ${Math.round(performance.now() - t1)} ms\n`);
        expect(run.status, run.output.slice(-2000)).toBe(0);
        for (const diffId of v2.image.config.rootfs.diff_ids) {
          expect(sha256(readFileSync(join(dir, 'new', blobEntryName(diffId))))).toBe(diffId);
        }
        await rm(dir, { recursive: true, force: true });
      });
    }

    it('content in order stays in reach: a file moved from the end to the front does not drag the decoder ahead', async () => {
      // The greedy choice (copy the moved file from 150 MiB ahead) would make the decoder read past
      // everything the rest of the layer copies in order, leaving it all out of reach.
      const dir = await mkdtemp(join(root, 'moved-'));
      const moved = [v1Files[v1Files.length - 1]!, ...v1Files.slice(0, -1)];
      const current = await tarOf(v1Files);
      const next = await tarOf(moved);
      const sizes: Record<string, number> = {};
      for (const access of ['seekable', 'sequential'] as const) {
        const delta = await encodeBytes(current, next, access);
        sizes[access] = delta.length;
        writeFileSync(join(dir, `${access}.vcdiff`), delta);
      }
      // Sequential: at most the moved file (256 KiB) more than the seekable delta.
      expect(sizes.sequential!).toBeLessThan(sizes.seekable! + 300 * 1024);
      const blob = join(dir, 'blob.gz');
      writeFileSync(blob, gzipSync(current, { level: 1 }));
      const r = stockDecode(blob, join(dir, 'sequential.vcdiff'), join(dir, 'out'));
      expect(r.status, r.stderr).toBe(0);
      expect(sha256(readFileSync(join(dir, 'out')))).toBe(sha256(next));
      await rm(dir, { recursive: true, force: true });
    });

    it('an unbounded delta against the gzip source fails in stock xdelta3 and in the emulation alike', async () => {
      const dir = await mkdtemp(join(root, 'unbounded-'));
      const current = await bytesOf(v1.image, 0);
      const next = await bytesOf(v2.image, 0);
      const delta = await encodeBytes(current, next, 'seekable');
      writeFileSync(join(dir, 'layer.vcdiff'), delta);
      const blob = join(dir, 'blob.gz');
      writeFileSync(blob, gzipSync(current, { level: 1 }));
      const real = stockDecode(blob, join(dir, 'layer.vcdiff'), join(dir, 'out'));
      expect(real.status).not.toBe(0);
      expect(real.stderr).toMatch(/non-seekable source/);
      const err = await drain(
        decode(current, Readable.from([delta]), { device: { sourceAccess: 'sequential' } }),
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OciDeltaError);
      expect((err as OciDeltaError).code).toBe('ERR_DEVICE_DECODE');
      expect((err as OciDeltaError).details.targetOffset).toBeTypeOf('number');
      // The same delta from a plain file decodes (far copies only cost re-reads there).
      execFileSync('sh', ['-c', `gzip -dc < ${blob} > ${join(dir, 'plain')}`]);
      const plain = stockDecode(join(dir, 'plain'), join(dir, 'layer.vcdiff'), join(dir, 'out'));
      expect(plain.status).toBe(0);
      expect(sha256(readFileSync(join(dir, 'out')))).toBe(sha256(next));
      await rm(dir, { recursive: true, force: true });
    });
  });
});

async function bytesOf(image: Image, index: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await image.layers[index]!.uncompressed()) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // discard
  }
}
