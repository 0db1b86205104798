import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  blobEntryName,
  digestOf,
  isOciDeltaError,
  type Layer,
  MediaType,
  readDockerArchive,
  TarIndex,
  writeDockerArchive,
  writeTarFile,
} from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deepDeltaTestHooks, encodeLayer, loadUncompressedLayer } from '../src/deep/encode-layer.js';
import {
  applyDeepDelta,
  buildDeepDelta,
  buildDeepDeltaTo,
  type DeepDeltaProgress,
  verifyDeepDelta,
} from '../src/deep/index.js';
import { decode, encode } from '../src/vcdiff/index.js';
import {
  type AppImages,
  appFiles,
  appImages,
  type BuiltImage,
  baseFiles,
  binaryish,
  buildImage,
} from './fixtures/images.js';
import { collect } from './vcdiff-helpers.js';

let root: string;
let imgs: AppImages;
let docker: AppImages;
let three: BuiltImage;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ocidelta-deep-test-'));
  imgs = await appImages(join(root, 'oci'));
  docker = await appImages(join(root, 'docker'), { flavor: 'docker' });
  three = await buildImage(join(root, 'three'), {
    tag: 'v3',
    layers: [baseFiles(), appFiles(2), appFiles(3).slice(-2)],
  });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function errorOf(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { code: isOciDeltaError(err) ? err.code : undefined, message: (err as Error).message };
  }
  throw new Error('expected the promise to reject');
}

const hex = (d: string) => d.slice(d.indexOf(':') + 1);

describe('buildDeepDelta', () => {
  it('buildDeepDeltaTo streams the same image.img into a sink and leaves no temp file', async () => {
    const file = join(root, 'to-file.img');
    await buildDeepDelta(imgs.v1.image, imgs.v2.image, file, { repoTags: ['app:v2'] });
    const tmpDir = await mkdtemp(join(root, 'sink-tmp-'));
    const chunks: Buffer[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => chunks.push(c));
    const result = await buildDeepDeltaTo(imgs.v1.image, imgs.v2.image, sink, {
      repoTags: ['app:v2'],
      tmpDir,
    });
    expect(Buffer.concat(chunks).equals(await readFile(file))).toBe(true);
    expect(result.size).toBe(Buffer.concat(chunks).length);
    expect(sink.writableEnded).toBe(false);
    expect(await readdir(tmpDir)).toEqual([]);
  });

  it('writes the new image archive with .vcdiff + .source per layer and an uncompressed manifest', async () => {
    const out = join(root, 'v1-v2.img');
    const events: DeepDeltaProgress[] = [];
    const result = await buildDeepDelta(imgs.v1.image, imgs.v2.image, out, {
      repoTags: ['registry.example/app:v2'],
      onProgress: (e) => events.push(e),
    });
    const { v1, v2 } = { v1: imgs.v1.image, v2: imgs.v2.image };
    expect(result.path).toBe(out);
    expect(result.layers.map((l) => l.diffId)).toEqual(v2.config.rootfs.diff_ids);
    expect(result.layers.map((l) => l.unchanged)).toEqual([true, false]);
    expect(result.layers.map((l) => l.sourcePath)).toEqual(v1.layers.map((l) => blobEntryName(l.diffId)));
    // The base layer is identical: a self-delta of a few bytes. The app layer changed a little.
    const [base, app] = result.layers as [(typeof result.layers)[0], (typeof result.layers)[0]];
    expect(base.deltaSize).toBeLessThan(Math.max(256, base.uncompressedSize / 500));
    expect(app.deltaSize).toBeLessThan(app.uncompressedSize / 5);
    expect(events.at(-1)?.phase).toBe('done');
    const encodes = events.filter((e) => e.phase === 'encode');
    expect([...new Set(encodes.map((e) => e.item))]).toEqual(['layer 0', 'layer 1']);
    // Byte progress of the app layer ends at its stored size; the source was read first.
    expect(encodes.filter((e) => e.item === 'layer 1').at(-1)?.done).toBe(v2.layers[1]?.size);
    const sources = events.filter((e) => e.phase === 'source');
    expect(sources.at(-1)).toMatchObject({ item: 'current layer 1', done: v1.layers[1]?.size });
    // Overall: stored bytes of the source read and of both new layers, ending at the total.
    const expected = (v1.layers[1]?.size ?? 0) + v2.layers.reduce((n, l) => n + l.size, 0);
    expect(events.filter((e) => e.phase === 'encode').at(-1)?.overall).toEqual({
      done: expected,
      total: expected,
    });

    const tar = await TarIndex.scan(out);
    const names = [...tar.entries.keys()];
    for (const [i, layer] of v2.layers.entries()) {
      const blob = blobEntryName(layer.diffId);
      expect(names).toContain(`${blob}.vcdiff`);
      expect(names).not.toContain(blob);
      expect(names).not.toContain(blobEntryName(layer.digest));
      const source = (await tar.read(tar.entries.get(`${blob}.source`)!)).toString();
      expect(source).toBe(`${blobEntryName(v1.layers[i]!.diffId)}\n`);
      expect(tar.entries.get(`${blob}.vcdiff`)!.size).toBe(result.layers[i]!.deltaSize);
    }
    expect(names).toEqual(expect.arrayContaining(['oci-layout', 'index.json', 'manifest.json']));
    // Config unchanged, byte for byte.
    const config = await tar.read(tar.entries.get(blobEntryName(v2.configDigest))!);
    expect(digestOf(config)).toBe(v2.configDigest);
    // index.json -> manifest blob referencing uncompressed layers by diff_id.
    const index = JSON.parse((await tar.read(tar.entries.get('index.json')!)).toString());
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0].annotations['io.containerd.image.name']).toBe('registry.example/app:v2');
    const manifestBytes = await tar.read(tar.entries.get(blobEntryName(index.manifests[0].digest))!);
    expect(digestOf(manifestBytes)).toBe(index.manifests[0].digest);
    const manifest = JSON.parse(manifestBytes.toString());
    expect(manifest.config.digest).toBe(v2.configDigest);
    expect(manifest.layers).toEqual(
      v2.layers.map((l, i) => ({
        mediaType: MediaType.OciLayer,
        digest: l.diffId,
        size: result.layers[i]!.uncompressedSize,
      })),
    );
    const dockerManifest = JSON.parse((await tar.read(tar.entries.get('manifest.json')!)).toString());
    expect(dockerManifest[0].Config).toBe(blobEntryName(v2.configDigest));
    expect(dockerManifest[0].Layers).toEqual(v2.layers.map((l) => blobEntryName(l.diffId)));
    expect(dockerManifest[0].RepoTags).toEqual(['registry.example/app:v2']);
  });

  it('names sources by compressed digest for a containerd device that pulled the current image', async () => {
    const out = join(root, 'containerd.img');
    const result = await buildDeepDelta(imgs.v1.image, imgs.v2.image, out, { deviceStore: 'containerd' });
    expect(result.layers.map((l) => l.sourcePath)).toEqual(
      imgs.v1.image.layers.map((l) => `blobs/sha256/${hex(l.digest)}`),
    );
    expect(imgs.v1.image.layers[0]!.digest).not.toBe(imgs.v1.image.layers[0]!.diffId);
    const artifact = await buildDeepDelta(imgs.v1.image, imgs.v2.image, out, {
      deviceStore: 'containerd',
      currentOrigin: 'artifact',
    });
    expect(artifact.layers.map((l) => l.sourcePath)).toEqual(
      imgs.v1.image.layers.map((l) => `blobs/sha256/${hex(l.diffId)}`),
    );
  });

  it('keeps Docker media types for a Docker v2 image', async () => {
    const out = join(root, 'docker.img');
    await buildDeepDelta(docker.v1.image, docker.v2.image, out);
    const tar = await TarIndex.scan(out);
    const index = JSON.parse((await tar.read(tar.entries.get('index.json')!)).toString());
    const manifest = JSON.parse(
      (await tar.read(tar.entries.get(blobEntryName(index.manifests[0].digest))!)).toString(),
    );
    expect(manifest.mediaType).toBe(MediaType.DockerManifest);
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      MediaType.DockerLayer,
      MediaType.DockerLayer,
    ]);
  });

  it('gives tiny deltas for an unchanged image', async () => {
    const result = await buildDeepDelta(imgs.v2.image, imgs.v2.image, join(root, 'same.img'));
    expect(result.layers.every((l) => l.unchanged)).toBe(true);
    for (const l of result.layers) expect(l.deltaSize).toBeLessThan(Math.max(256, l.uncompressedSize / 500));
  });

  it('never reads the current image for unchanged layers', async () => {
    const untouchable = {
      ...imgs.v2.image,
      layers: imgs.v2.image.layers.map((l) => ({
        ...l,
        uncompressed: () => Promise.reject(new Error(`current layer ${l.digest} was read`)),
        compressed: () => Promise.reject(new Error(`current layer ${l.digest} was read`)),
      })),
    };
    const result = await buildDeepDelta(untouchable, imgs.v2.image, join(root, 'same-untouched.img'));
    expect(result.layers.map((l) => l.unchanged)).toEqual(imgs.v2.image.layers.map(() => true));
  });

  it('fails the self-check on a corrupted delta of an unchanged layer and writes nothing', async () => {
    const out = join(root, 'corrupt-same.img');
    deepDeltaTestHooks.afterEncode = async (file, index) => {
      if (index !== 0) return;
      const bytes = await readFile(file);
      bytes.writeUInt8((bytes[bytes.length - 1] ?? 0) ^ 0x01, bytes.length - 1); // the last COPY's address
      await writeFile(file, bytes);
    };
    try {
      const err = await errorOf(buildDeepDelta(imgs.v2.image, imgs.v2.image, out));
      expect(err.code).toBe('ERR_DELTA_SELF_CHECK');
      expect(err.message).toContain('new layer 0');
    } finally {
      deepDeltaTestHooks.afterEncode = undefined;
    }
    expect(existsSync(out)).toBe(false);
  });

  it('bounds copies for a compressed containerd source and fails a delta the device could not decode', async () => {
    // Four 64 KiB files, reversed in v2; a device -B of 64 KiB keeps only 32 blocks of 2 KiB.
    const files = [0, 1, 2, 3].map((i) => ({ path: `lib/f${i}.so`, content: binaryish(60 + i, 64 * 1024) }));
    const a = (await buildImage(join(root, 'rev-a'), { tag: 'a', layers: [files] })).image;
    const b = (await buildImage(join(root, 'rev-b'), { tag: 'b', layers: [[...files].reverse()] })).image;
    const small = { sourceWindow: 64 * 1024 };
    const seekable = await buildDeepDelta(a, b, join(root, 'rev-classic.img'), small);
    const bounded = await buildDeepDelta(a, b, join(root, 'rev-ctrd.img'), {
      ...small,
      deviceStore: 'containerd',
    });
    expect(seekable.layers[0]!.device.sourceAccess).toBe('seekable');
    expect(bounded.layers[0]!.device.sourceAccess).toBe('sequential');
    // The bound costs size here (the reversed files are out of reach), and the device reads each
    // source byte at most once (a stream), at least the first -B.
    expect(bounded.layers[0]!.deltaSize).toBeGreaterThan(seekable.layers[0]!.deltaSize * 4);
    const { sourceBytesRead, sourceSize } = bounded.layers[0]!.device;
    expect(sourceBytesRead).toBeLessThanOrEqual(sourceSize);
    expect(sourceBytesRead).toBeGreaterThan(64 * 1024);
    expect(bounded.device.decoderMemory).toBe(64 * 1024 + 16 * 1024 * 1024);
    // The unbounded delta in its place: the device-emulating self-check refuses it.
    const out = join(root, 'rev-broken.img');
    deepDeltaTestHooks.tamperDelta = async () => {
      const source = await loadUncompressedLayer(a.layers[0]!, 'a');
      const target = await loadUncompressedLayer(b.layers[0]!, 'b');
      const parts: Buffer[] = [];
      for await (const c of encode(source, Readable.from([target]))) parts.push(c as Buffer);
      return Buffer.concat(parts);
    };
    try {
      const err = await errorOf(buildDeepDelta(a, b, out, { ...small, deviceStore: 'containerd' }));
      expect(err.code).toBe('ERR_DEVICE_DECODE');
      expect(err.message).toMatch(/new layer 0: .*xdelta3 would fail at target offset \d+/);
    } finally {
      deepDeltaTestHooks.tamperDelta = undefined;
    }
    expect(existsSync(out)).toBe(false);
  });

  it('encodes a layer beyond the current count against the current top layer', async () => {
    const result = await buildDeepDelta(imgs.v1.image, three.image, join(root, 'three.img'));
    expect(result.layers.map((l) => l.sourceIndex)).toEqual([0, 1, 1]);
    expect(result.layers[2]!.sourcePath).toBe(blobEntryName(imgs.v1.image.layers[1]!.diffId));
  });

  it('refuses when the current image has more layers than the new one, writing nothing', async () => {
    const out = join(root, 'none.img');
    const err = await errorOf(buildDeepDelta(three.image, imgs.v2.image, out));
    expect(err.code).toBe('ERR_NO_DEEP_DELTA');
    expect(err.message).toContain('3 layers');
    expect(existsSync(out)).toBe(false);
  });

  /** With layer 1's delta passed through `tamper`, v1 -> v2 fails its self-check and writes nothing. */
  async function expectTamperedRejected(out: string, tamper: (delta: Buffer) => Buffer): Promise<void> {
    deepDeltaTestHooks.tamperDelta = (bytes, index) => (index === 1 ? tamper(bytes) : bytes);
    try {
      const err = await errorOf(buildDeepDelta(imgs.v1.image, imgs.v2.image, out));
      expect(err.code).toBe('ERR_DELTA_SELF_CHECK');
      expect(err.message).toContain('new layer 1');
    } finally {
      deepDeltaTestHooks.tamperDelta = undefined;
    }
    expect(existsSync(out)).toBe(false);
  }

  it('fails the self-check on a corrupted delta and writes nothing', async () => {
    await expectTamperedRejected(join(root, 'corrupt.img'), (bytes) => {
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff; // last byte of the last window's data/instructions
      return bytes;
    });
  });

  it('a delta the check rejects early (while it is still being written) fails without hanging', async () => {
    const out = join(root, 'corrupt-early.img');
    // A bad window header followed by more data, then a truncated delta.
    await expectTamperedRejected(out, (b) => Buffer.concat([b.subarray(0, 9), Buffer.alloc(3 << 20, 0xee)]));
    await expectTamperedRejected(out, (b) => b.subarray(0, Math.floor(b.length / 2)));
  });

  it('passes ERR_SOURCE_TOO_LARGE through for a source over maxSourceSize, writing nothing', async () => {
    const out = join(root, 'too-large.img');
    const err = await errorOf(buildDeepDelta(imgs.v1.image, imgs.v2.image, out, { maxSourceSize: 1024 }));
    expect(err.code).toBe('ERR_SOURCE_TOO_LARGE');
    expect(existsSync(out)).toBe(false);
  });

  it('stops with ERR_ABORTED when aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await errorOf(
      buildDeepDelta(imgs.v1.image, imgs.v2.image, join(root, 'aborted.img'), { signal: ac.signal }),
    );
    expect(err.code).toBe('ERR_ABORTED');
  });
});

describe('applyDeepDelta', () => {
  const cases = [
    { name: 'classic', store: 'classic' as const, layers: 'uncompressed' as const },
    { name: 'containerd (pulled)', store: 'containerd' as const, layers: 'stored' as const },
  ];
  for (const c of cases) {
    it(`rebuilds the new image from a ${c.name} docker save archive`, async () => {
      const dir = await mkdtemp(join(root, 'apply-'));
      const current = join(dir, 'current.tar');
      await writeDockerArchive(current, [{ image: imgs.v1.image, repoTags: ['app:v1'] }], {
        layers: c.layers,
      });
      const img = join(dir, 'image.img');
      await buildDeepDelta(imgs.v1.image, imgs.v2.image, img, { deviceStore: c.store, repoTags: ['app:v2'] });
      const out = join(dir, 'new.tar');
      await applyDeepDelta(current, img, out);
      const rebuilt = await readDockerArchive(out);
      expect(rebuilt.entries).toHaveLength(1);
      const image = rebuilt.entries[0]!.image;
      expect(image.configDigest).toBe(imgs.v2.image.configDigest);
      expect(image.layers.map((l) => l.digest)).toEqual(imgs.v2.image.config.rootfs.diff_ids);
      const names = [...(await TarIndex.scan(out)).entries.keys()];
      expect(names.filter((n) => n.endsWith('.vcdiff') || n.endsWith('.source'))).toEqual([]);
      // Every layer streams back to its diff_id.
      for (const layer of image.layers) {
        const chunks: Buffer[] = [];
        for await (const c of await layer.uncompressed()) chunks.push(c as Buffer);
        expect(digestOf(Buffer.concat(chunks))).toBe(layer.diffId);
      }
    });
  }

  it('names the missing source when the device store mode is wrong', async () => {
    const dir = await mkdtemp(join(root, 'apply-wrong-'));
    const current = join(dir, 'current.tar');
    await writeDockerArchive(current, [{ image: imgs.v1.image, repoTags: ['app:v1'] }], { layers: 'stored' });
    const img = join(dir, 'image.img');
    await buildDeepDelta(imgs.v1.image, imgs.v2.image, img, { deviceStore: 'classic' });
    const out = join(dir, 'new.tar');
    const err = await errorOf(applyDeepDelta(current, img, out));
    expect(err.code).toBe('ERR_INVALID_ARCHIVE');
    expect(err.message).toContain(blobEntryName(imgs.v1.image.layers[0]!.diffId));
    expect(existsSync(out)).toBe(false);
  });
  it('refuses a delta entry not named by a digest: its result could not be verified', async () => {
    const dir = await mkdtemp(join(root, 'apply-name-'));
    const current = join(dir, 'current.tar');
    await writeDockerArchive(current, [{ image: imgs.v1.image, repoTags: ['app:v1'] }]);
    const img = join(dir, 'image.img');
    await buildDeepDelta(imgs.v1.image, imgs.v2.image, img, { deviceStore: 'classic' });
    const index = await TarIndex.scan(img);
    const renamed = join(dir, 'renamed.img');
    await writeTarFile(renamed, async (tar) => {
      for (const e of index.entries.values()) {
        const name = e.name.replace(
          /^blobs\/sha256\/[0-9a-f]{64}(?=\.(vcdiff|source)$)/,
          'blobs/sha256/evil',
        );
        if (e.type === 'directory') await tar.addDirectory(e.name);
        else if (e.type === 'file') await tar.addStream(name, index.open(e), { size: e.size });
      }
    });
    expect([...(await TarIndex.scan(renamed)).entries.keys()]).toContain('blobs/sha256/evil.vcdiff');
    const out = join(dir, 'new.tar');
    const err = await errorOf(applyDeepDelta(current, renamed, out));
    expect(err.code).toBe('ERR_INVALID_ARCHIVE');
    expect(err.message).toContain('blobs/sha256/evil.vcdiff is not named by a digest');
    expect(existsSync(out)).toBe(false);
  });
});

describe('verifyDeepDelta', () => {
  it('passes a delta that rebuilds the new image and refuses one for another current image or a tampered one', async () => {
    const dir = await mkdtemp(join(root, 'verify-'));
    const img = join(dir, 'image.img');
    await buildDeepDelta(imgs.v1.image, imgs.v2.image, img, { deviceStore: 'classic' });
    await verifyDeepDelta(imgs.v1.image, imgs.v2.image, img);
    // The same delta checked against another new image: its manifest does not describe it.
    const wrongNew = await errorOf(verifyDeepDelta(imgs.v1.image, imgs.v1.image, img));
    expect(wrongNew.code).toBe('ERR_DELTA_SELF_CHECK');
    // A byte of one layer's VCDIFF changed: the rebuilt layer no longer hashes to its diff_id.
    const index = await TarIndex.scan(img);
    const vcdiff = [...index.entries.values()].find((e) => e.name.endsWith('.vcdiff') && e.size > 64)!;
    const bytes = await readFile(img);
    bytes[vcdiff.offset + vcdiff.size - 8] = bytes[vcdiff.offset + vcdiff.size - 8]! ^ 0xff;
    const tampered = join(dir, 'tampered.img');
    await writeFile(tampered, bytes);
    const err = await errorOf(verifyDeepDelta(imgs.v1.image, imgs.v2.image, tampered));
    expect(err.code).toMatch(/^ERR_(DELTA_SELF_CHECK|VCDIFF)$/);
  });
});

// A layer stub whose tar is `data` streamed in 64 KiB chunks; `size` (the compressed size the
// loader sizes its first buffer from) is tiny, so the buffer has to grow several times.
const stubLayer = (data: Buffer, diffId = digestOf(data)): Layer =>
  ({
    digest: digestOf(Buffer.from('compressed')),
    diffId,
    size: 10,
    uncompressed: async () =>
      Readable.from(
        (function* () {
          for (let off = 0; off < data.length; off += 65536) yield data.subarray(off, off + 65536);
        })(),
      ),
  }) as unknown as Layer;

describe('loadUncompressedLayer', () => {
  const data = Buffer.alloc(3 * 1024 * 1024 + 12345);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;

  it('returns the whole decompressed tar, growing past its first buffer', async () => {
    const got = await loadUncompressedLayer(stubLayer(data), 'current layer 0');
    expect(got.length).toBe(data.length);
    expect(got.equals(data)).toBe(true);
  });

  it('refuses a tar whose digest is not the diff_id', async () => {
    const wrong = digestOf(Buffer.from('other'));
    const err = await errorOf(loadUncompressedLayer(stubLayer(data, wrong), 'current layer 3'));
    expect(err.code).toBe('ERR_DIGEST_MISMATCH');
    expect(err.message).toContain('current layer 3');
  });

  it('refuses a tar over maxSourceSize with ERR_SOURCE_TOO_LARGE', async () => {
    const err = await errorOf(
      loadUncompressedLayer(stubLayer(data), 'current layer 1', { maxSourceSize: 2 * 1024 * 1024 }),
    );
    expect(err.code).toBe('ERR_SOURCE_TOO_LARGE');
    expect(err.message).toContain('current layer 1');
  });
});

describe('encodeLayer', () => {
  const source = Buffer.alloc(9 * 1024 * 1024);
  for (let i = 0; i < source.length; i++) source[i] = (i * 2654435761) >>> 24;
  const next = Buffer.concat([source.subarray(4096), Buffer.from('new content at the end')]);

  it('writes a delta that rebuilds the layer, hashing its bytes only in the self-check', async () => {
    const file = join(root, 'encode-layer-ok.vcdiff');
    const got = await encodeLayer(source, stubLayer(next), file, 'new layer 0', 0, { jobs: 1 });
    expect(got.uncompressedSize).toBe(next.length);
    const rebuilt = await collect(decode(source, Readable.from([await readFile(file)])));
    expect(rebuilt.equals(next)).toBe(true);
  });

  it('tells a new layer that does not hash to its diff_id (ERR_DIGEST_MISMATCH) from a bad delta', async () => {
    const wrong = digestOf(Buffer.from('other'));
    const file = join(root, 'encode-layer-wrong.vcdiff');
    const err = await errorOf(
      encodeLayer(source, stubLayer(next, wrong), file, 'new layer 2', 2, { jobs: 1 }),
    );
    expect(err.code).toBe('ERR_DIGEST_MISMATCH');
    expect(err.message).toContain('new layer 2');
    expect(err.message).toContain(wrong);
  });
});
