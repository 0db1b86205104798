import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  digestOf,
  dockerArchiveMetadata,
  MediaType,
  readDockerArchive,
  readImageArchive,
  writeDockerArchive,
} from '../src/index.js';
import {
  buildImage,
  collect,
  expectCode,
  handTar,
  listTar,
  type MemorySource,
  tarOf,
  twoLayers,
} from './layout-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-archive-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('docker-archive', () => {
  it('writes the Docker >= 25 form with stored layers and reads it back', async () => {
    const a = await twoLayers();
    const file = join(dir, 'd.tar');
    await writeDockerArchive(file, [
      { image: a.image, repoTags: ['myapp:1.0', 'registry.local:5000/team/app:2'] },
    ]);
    const files = await listTar(file);
    const manifestJson = JSON.parse(files.get('manifest.json')!.toString());
    expect(manifestJson).toEqual([
      {
        Config: `blobs/sha256/${a.image.configDigest.slice(7)}`,
        RepoTags: ['myapp:1.0', 'registry.local:5000/team/app:2'],
        Layers: a.image.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
      },
    ]);
    const index = JSON.parse(files.get('index.json')!.toString());
    expect(index.manifests.map((m: { annotations: unknown }) => m.annotations)).toEqual([
      {
        'io.containerd.image.name': 'docker.io/library/myapp:1.0',
        'org.opencontainers.image.ref.name': '1.0',
      },
      {
        'io.containerd.image.name': 'registry.local:5000/team/app:2',
        'org.opencontainers.image.ref.name': '2',
      },
    ]);
    expect(JSON.parse(files.get('repositories')!.toString())).toEqual({
      myapp: { '1.0': a.image.layers[1]!.digest.slice(7) },
      'registry.local:5000/team/app': { '2': a.image.layers[1]!.digest.slice(7) },
    });
    const archive = await readDockerArchive(file);
    expect(archive.entries).toHaveLength(1);
    expect(archive.entries[0]!.image.digest).toBe(a.image.digest);
    expect(archive.entries[0]!.refs).toContain('myapp:1.0');
    expect((await archive.image({ ref: 'registry.local:5000/team/app:2' })).digest).toBe(a.image.digest);
    // Names match after normalization too.
    expect((await archive.image({ ref: 'docker.io/library/myapp:1.0' })).digest).toBe(a.image.digest);
    await expectCode(archive.image({ ref: 'myapp:2.0' }), 'ERR_MANIFEST_UNKNOWN', 'myapp:2.0');
    expect((await readImageArchive(file)).format).toBe('docker-archive');
  });

  it("'uncompressed' stores layers by diff_id and rewrites the manifest, config unchanged", async () => {
    const a = await twoLayers();
    const file = join(dir, 'u.tar');
    await writeDockerArchive(file, [{ image: a.image, repoTags: ['app:1'] }], { layers: 'uncompressed' });
    const files = await listTar(file);
    for (const tar of a.tars) expect(files.get(`blobs/sha256/${digestOf(tar).slice(7)}`)).toEqual(tar);
    for (const l of a.image.layers) expect(files.has(`blobs/sha256/${l.digest.slice(7)}`)).toBe(false);
    const archive = await readDockerArchive(file);
    const img = archive.entries[0]!.image;
    expect(img.configDigest).toBe(a.image.configDigest);
    expect(img.digest).not.toBe(a.image.digest);
    expect(img.manifest.layers.map((l) => [l.mediaType, l.digest, l.size])).toEqual(
      a.tars.map((t) => [MediaType.OciLayer, digestOf(t), t.length]),
    );
    expect(img.layers.map((l) => l.diffId)).toEqual(a.image.layers.map((l) => l.diffId));
    expect(await collect(await img.layers[1]!.compressed())).toEqual(a.tars[1]);
  });

  it("'uncompressed' fails when a layer does not decompress to its diff_id", async () => {
    const a = await twoLayers();
    // Keep the descriptor digest valid but make the diff_id wrong by swapping in another image's layer.
    const b = await buildImage({ layers: [[{ path: 'y', content: 'y' }]] });
    const imageWithWrongDiffId = {
      ...a.image,
      layers: [{ ...b.image.layers[0]!, diffId: a.image.layers[0]!.diffId }],
    };
    await expectCode(
      writeDockerArchive(join(dir, 'w.tar'), [{ image: imageWithWrongDiffId }], { layers: 'uncompressed' }),
      'ERR_DIGEST_MISMATCH',
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('docker metadata for uncompressed layers needs their sizes and uses docker media types for docker images', async () => {
    const d = await buildImage({ layers: [[{ path: 'z', content: 'z' }]], flavor: 'docker' });
    expect(() => dockerArchiveMetadata([{ image: d.image }], { layers: 'uncompressed' })).toThrow(
      /uncompressed size/,
    );
    const meta = dockerArchiveMetadata([{ image: d.image }], {
      layers: 'uncompressed',
      uncompressedSizes: new Map([[d.image.layers[0]!.diffId, d.tars[0]!.length]]),
    });
    const m = JSON.parse(meta.manifests[0]!.bytes.toString());
    expect(m.mediaType).toBe(MediaType.DockerManifest);
    expect(m.layers[0]).toEqual({
      mediaType: MediaType.DockerLayer,
      digest: digestOf(d.tars[0]!),
      size: d.tars[0]!.length,
    });
    expect(meta.repositories).toBeUndefined();
  });

  it('reads a containerd-store docker save: a multi-platform index with only one platform exported', async () => {
    const amd = await twoLayers();
    const source = amd.image.source as MemorySource;
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          {
            mediaType: MediaType.OciManifest,
            digest: amd.image.digest,
            size: amd.image.manifestBytes.byteLength,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: MediaType.OciManifest,
            digest: digestOf('arm64 manifest not exported'),
            size: 10,
            platform: { os: 'linux', architecture: 'arm64' },
          },
        ],
      }),
    );
    const blobs = [...source.blobs].map(([d, data]) => ({ name: `blobs/sha256/${d.slice(7)}`, data }));
    const manifestJson = JSON.stringify([
      {
        Config: `blobs/sha256/${amd.image.configDigest.slice(7)}`,
        RepoTags: ['multi:1'],
        Layers: amd.image.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
      },
    ]);
    const indexJson = (d: string) =>
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: MediaType.OciIndex,
            digest: d,
            size: index.length,
            annotations: { 'io.containerd.image.name': 'docker.io/library/multi:1' },
          },
        ],
      });
    const file = join(dir, 'containerd.tar');
    await handTar(file, [
      ...blobs,
      { name: `blobs/sha256/${digestOf(index).slice(7)}`, data: index },
      { name: 'index.json', data: indexJson(digestOf(index)) },
      { name: 'manifest.json', data: manifestJson },
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    ]);
    const archive = await readDockerArchive(file);
    expect(archive.entries.map((e) => e.image.digest)).toEqual([amd.image.digest]);
    expect(archive.entries[0]!.refs).toEqual(['docker.io/library/multi:1', 'multi:1']);
    expect((await archive.image({ ref: 'multi:1' })).digest).toBe(amd.image.digest);
    expect((await archive.image({ platform: 'linux/amd64' })).digest).toBe(amd.image.digest);
    await expectCode(archive.image({ platform: 'linux/arm64' }), 'ERR_BLOB_UNKNOWN');

    // Without the index blob, manifest.json alone still gives the image (same config and layers).
    const partial = join(dir, 'partial.tar');
    await handTar(partial, [
      ...blobs,
      { name: 'index.json', data: indexJson(digestOf(index)) },
      { name: 'manifest.json', data: manifestJson },
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    ]);
    const fallback = await readDockerArchive(partial);
    const img = fallback.entries[0]!.image;
    expect(img.configDigest).toBe(amd.image.configDigest);
    expect(img.layers.map((l) => l.digest)).toEqual(amd.image.layers.map((l) => l.digest));
    expect(fallback.entries[0]!.refs).toEqual(['multi:1']);
  });

  it('reads the legacy form (<id>/layer.tar, <id>.json, symlinked layers, gzip layers)', async () => {
    const t1 = await tarOf([{ path: 'a', content: 'a' }]);
    const t2 = await tarOf([{ path: 'b', content: 'b' }]);
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'arm64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [digestOf(t1), digestOf(t2)] },
      }),
    );
    const id = digestOf(config).slice(7);
    const g2 = gzipSync(t2);
    const file = join(dir, 'legacy.tar');
    await handTar(file, [
      { name: 'l1/layer.tar', data: t1 },
      { name: 'l1/VERSION', data: '1.0' },
      { name: 'l2/layer.tar.gz', data: g2 },
      { name: 'l3/layer.tar', type: 'symlink', linkname: '../l1/layer.tar' },
      { name: `${id}.json`, data: config },
      {
        name: 'manifest.json',
        data: JSON.stringify([
          { Config: `${id}.json`, RepoTags: ['legacy:1'], Layers: ['l3/layer.tar', 'l2/layer.tar.gz'] },
        ]),
      },
      { name: 'repositories', data: '{"legacy":{"1":"l2"}}' },
    ]);
    const archive = await readImageArchive(file);
    expect(archive.format).toBe('docker-archive');
    const img = await archive.image({ ref: 'legacy:1' });
    expect(img.configDigest).toBe(digestOf(config));
    expect(img.mediaType).toBe(MediaType.DockerManifest);
    expect(img.layers.map((l) => [l.mediaType, l.digest])).toEqual([
      [MediaType.DockerLayer, digestOf(t1)],
      [MediaType.DockerLayerGzip, digestOf(g2)],
    ]);
    expect(await collect(await img.layers[0]!.uncompressed())).toEqual(t1);
    expect(await collect(await img.layers[1]!.uncompressed())).toEqual(t2);

    const escaping = join(dir, 'escape.tar');
    await handTar(escaping, [
      { name: 'l1/layer.tar', type: 'symlink', linkname: '../../outside' },
      { name: `${id}.json`, data: config },
      {
        name: 'manifest.json',
        data: JSON.stringify([{ Config: `${id}.json`, Layers: ['l1/layer.tar', 'l1/layer.tar'] }]),
      },
    ]);
    await expectCode(readDockerArchive(escaping), 'ERR_UNSAFE_PATH', 'outside');
  });
});

describe('archives holding several images', () => {
  it('one image under two tags opens unnamed; two images unnamed is an error listing both', async () => {
    const a = await twoLayers();
    const b = await buildImage({ layers: [[{ path: 'etc/b', content: 'b' }]] });
    const one = join(dir, 'one.tar');
    await writeDockerArchive(one, [{ image: a.image, repoTags: ['app:1', 'app:latest'] }]);
    expect((await (await readImageArchive(one)).image()).digest).toBe(a.image.digest);
    const two = join(dir, 'two.tar');
    await writeDockerArchive(two, [
      { image: a.image, repoTags: ['app:1'] },
      { image: b.image, repoTags: ['other:2'] },
    ]);
    const archive = await readImageArchive(two);
    await expect(archive.image()).rejects.toMatchObject({
      code: 'ERR_MANIFEST_UNKNOWN',
      message: expect.stringMatching(
        /holds 2 images \(docker\.io\/library\/app:1, docker\.io\/library\/other:2\)/,
      ),
    });
    expect((await archive.image({ ref: 'other:2' })).digest).toBe(b.image.digest);
  });
});
