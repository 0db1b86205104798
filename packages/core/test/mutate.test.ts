// mutate: new images from old ones, the originals untouched, every blob readable and verified.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { digestOf } from '../src/digest.js';
import { OciLayout } from '../src/layout/oci-layout.js';
import { writeOciLayout } from '../src/layout/write-image.js';
import { MediaType } from '../src/media-types.js';
import { type Image, openVerified } from '../src/model.js';
import {
  appendLayers,
  imageFromBlobs,
  replaceLayer,
  withConfig,
  withLayerDescriptors,
} from '../src/mutate/index.js';
import { buildImage, collect, expectCode, MemorySource, tarOf } from './layout-fixtures.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Every blob of `image` read through its source and verified against its descriptor. */
async function readAll(image: Image): Promise<void> {
  for (const d of [image.manifest.config, ...image.manifest.layers])
    await collect(await openVerified(image.source, d));
}

async function newLayer(content: string) {
  const extra = new MemorySource();
  const tar = await tarOf([{ path: 'etc/extra', content }]);
  const stored = extra.put(gzipSync(tar));
  return {
    extra,
    layer: { descriptor: { mediaType: MediaType.OciLayerGzip, ...stored }, diffId: digestOf(tar) },
  };
}

describe('mutate', async () => {
  const base = await buildImage({ layers: [[{ path: 'a', content: 'a' }], [{ path: 'b', content: 'b' }]] });
  const before = Buffer.from(base.image.manifestBytes);

  it('appendLayers adds the layer, its diff_id and history; unknown config fields survive', async () => {
    const { extra, layer } = await newLayer('x');
    const withField = await withConfig(base.image, (c) => ({ ...c, 'x-vendor': { keep: true } }));
    const next = await appendLayers(
      withField,
      [{ ...layer, history: { created_by: 'test: append' } }],
      extra,
    );
    expect(next.layers.map((l) => l.digest)).toEqual([
      ...base.image.layers.map((l) => l.digest),
      layer.descriptor.digest,
    ]);
    expect(next.config.rootfs.diff_ids.at(-1)).toBe(layer.diffId);
    expect(next.config.history?.at(-1)).toMatchObject({ created_by: 'test: append' });
    expect(JSON.parse(Buffer.from(next.configBytes).toString())['x-vendor']).toEqual({ keep: true });
    expect(next.digest).not.toBe(base.image.digest);
    expect(Buffer.from(base.image.manifestBytes).equals(before)).toBe(true);
    await readAll(next);
  });

  it('replaceLayer swaps one layer and diff_id; an index out of range is a typed error', async () => {
    const { extra, layer } = await newLayer('y');
    const next = await replaceLayer(base.image, 0, layer, extra);
    expect(next.layers[0]!.digest).toBe(layer.descriptor.digest);
    expect(next.layers[1]!.digest).toBe(base.image.layers[1]!.digest);
    expect(next.config.rootfs.diff_ids[0]).toBe(layer.diffId);
    await readAll(next);
    await expectCode(replaceLayer(base.image, 2, layer, extra), 'ERR_INPUT', 'no layer 2');
  });

  it('withLayerDescriptors ships the same layers uncompressed, config bytes unchanged', async () => {
    const plain = new MemorySource();
    const descriptors = base.tars.map((t) => ({ mediaType: MediaType.OciLayer, ...plain.put(t) }));
    const next = await withLayerDescriptors(base.image, descriptors, plain);
    expect(next.configDigest).toBe(base.image.configDigest);
    expect(next.layers.map((l) => l.diffId)).toEqual(base.image.layers.map((l) => l.diffId));
    expect(next.layers.map((l) => l.mediaType)).toEqual([MediaType.OciLayer, MediaType.OciLayer]);
    await readAll(next);
    await expectCode(
      withLayerDescriptors(base.image, descriptors.slice(1), plain),
      'ERR_INPUT',
      '1 layer descriptors',
    );
  });

  it('imageFromBlobs builds an image a layout stores and reads back by name', async () => {
    const { extra, layer } = await newLayer('z');
    const image = await imageFromBlobs(
      {
        mediaType: MediaType.OciManifest,
        configMediaType: MediaType.OciConfig,
        config: { architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.diffId] } },
        layers: [layer.descriptor],
        annotations: { 'org.example': 'yes' },
      },
      extra,
    );
    expect(image.config.architecture).toBe('arm64');
    expect(image.manifest.annotations).toEqual({ 'org.example': 'yes' });
    const dir = await mkdtemp(join(tmpdir(), 'ocidelta-mutate-'));
    dirs.push(dir);
    await writeOciLayout(dir, [{ image, ref: 'v1' }]);
    const back = await (await OciLayout.open(dir)).image({ ref: 'v1' });
    expect(back.digest).toBe(image.digest);
    await readAll(back);
  });
});
