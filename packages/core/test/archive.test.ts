import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  digestOf,
  dockerArchiveMetadata,
  isOciDeltaError,
  MediaType,
  readDockerArchive,
  readImageArchive,
  readOciArchive,
  TarIndex,
  TarWriter,
  writeDockerArchive,
  writeOciArchive,
} from '../src/index.js';
import { buildImage, collect, type MemorySource, tarOf } from './layout-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-archive-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectCode(p: Promise<unknown>, code: string, mentions?: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isOciDeltaError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  if (mentions) expect((err as Error).message).toContain(mentions);
}

/** Entries of a tar as read by an independent reader (tar-stream). */
async function listTar(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      collect(stream).then((b) => {
        out.set(header.name, b);
        next();
      }, reject);
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  ex.end(await readFile(file));
  await done;
  return out;
}

/** Write a tar by hand with tar-stream (for hostile or foreign archives). */
async function handTar(
  file: string,
  entries: { name: string; data?: string | Buffer; type?: 'symlink'; linkname?: string }[],
): Promise<void> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) {
    if (e.type === 'symlink') p.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else p.entry({ name: e.name }, Buffer.from(e.data ?? ''));
  }
  p.finalize();
  await done;
  await writeFile(file, Buffer.concat(chunks));
}

const twoLayers = () =>
  buildImage({
    layers: [
      [
        { path: 'etc/os-release', content: 'ID=test\n' },
        { path: 'bin/tool', content: Buffer.alloc(3000, 7) },
      ],
      [{ path: 'app/main.js', content: 'console.log(1)\n' }],
    ],
  });

describe('oci-archive', () => {
  it('round-trips images with names, readable by an independent tar reader', async () => {
    const a = await twoLayers();
    const b = await buildImage({ layers: [[{ path: 'x', content: 'x' }]], flavor: 'docker', seed: 'b' });
    const file = join(dir, 'out.tar');
    await writeOciArchive(file, [
      { image: a.image, ref: 'v1' },
      { image: b.image, ref: 'localhost:5000/b:2' },
    ]);
    const files = await listTar(file);
    expect(JSON.parse(files.get('oci-layout')!.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(digestOf(files.get(`blobs/sha256/${a.image.digest.slice(7)}`)!)).toBe(a.image.digest);
    expect([...(await readdir(dir))]).toEqual(['out.tar']);

    const archive = await readOciArchive(file);
    expect(archive.format).toBe('oci-archive');
    expect(archive.entries.map((e) => e.image.digest)).toEqual([a.image.digest, b.image.digest]);
    expect(archive.entries[1]!.refs).toEqual(['localhost:5000/b:2', '2']);
    const img = await archive.image({ ref: 'v1' });
    expect(await collect(await img.layers[0]!.uncompressed())).toEqual(a.tars[0]);
    expect((await archive.image({ ref: 'localhost:5000/b:2' })).configDigest).toBe(b.image.configDigest);
    expect((await readImageArchive(file)).format).toBe('oci-archive');
    await archive.close();
  });

  it('writes long entry names with pax headers that tar(1) and our index read back', async () => {
    const file = join(dir, 'long.tar');
    const long = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
    const tar = await TarWriter.create(file);
    await tar.addBuffer(long, Buffer.from('long'));
    const streamed = await tar.addStream(
      'unknown-size',
      Readable.from([Buffer.from('abc'), Buffer.from('def')]),
    );
    expect(streamed).toBe(6);
    await tar.commit();
    const listed = execFileSync('tar', ['tf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(listed).toEqual([long, 'unknown-size']);
    const index = await TarIndex.scan(file);
    expect(await index.read(index.get(long)!)).toEqual(Buffer.from('long'));
    expect(await index.read(index.get('unknown-size')!)).toEqual(Buffer.from('abcdef'));
  });

  it('indexes long names written by tar(1) in GNU and pax formats', async () => {
    const src = join(dir, 'src');
    const deep = join('a'.repeat(90), 'b'.repeat(90), 'c'.repeat(40));
    await mkdir(join(src, deep), { recursive: true });
    await writeFile(join(src, deep, 'file.txt'), 'deep content');
    for (const format of ['gnu', 'pax']) {
      const file = join(dir, `${format}.tar`);
      execFileSync('tar', [`--format=${format}`, '-cf', file, '-C', src, '.']);
      const index = await TarIndex.scan(file);
      const entry = index.get(`${deep}/file.txt`);
      expect(entry, format).toBeDefined();
      expect(await index.read(entry!)).toEqual(Buffer.from('deep content'));
    }
  });

  it('an aborted write leaves no output', async () => {
    const a = await twoLayers();
    const ac = new AbortController();
    ac.abort();
    const file = join(dir, 'aborted.tar');
    await expectCode(writeOciArchive(file, [{ image: a.image }], { signal: ac.signal }), 'ERR_ABORTED');
    await expectCode(
      writeDockerArchive(file, [{ image: a.image }], { signal: ac.signal, layers: 'uncompressed' }),
      'ERR_ABORTED',
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('a failed write leaves no output and no temp file', async () => {
    const a = await twoLayers();
    const source = a.image.source as MemorySource;
    source.blobs.set(a.image.layers[1]!.digest, Buffer.from('tampered'));
    const file = join(dir, 'bad.tar');
    await expectCode(writeOciArchive(file, [{ image: a.image }]), 'ERR_SIZE_MISMATCH');
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports a wrong digest inside an archive when the blob is read', async () => {
    const a = await twoLayers();
    const file = join(dir, 'x.tar');
    await writeOciArchive(file, [{ image: a.image }]);
    const files = await listTar(file);
    const layerName = `blobs/sha256/${a.image.layers[0]!.digest.slice(7)}`;
    const original = files.get(layerName)!;
    const forged = Buffer.from(original);
    forged[forged.length - 5] = forged[forged.length - 5]! ^ 0xff;
    await handTar(
      file,
      [...files].map(([name, data]) => ({ name, data: name === layerName ? forged : data })),
    );
    const archive = await readOciArchive(file);
    await expectCode(collect(await archive.entries[0]!.image.layers[0]!.compressed()), 'ERR_DIGEST_MISMATCH');
  });

  it('rejects truncated, non-tar, unsafe and inconsistent archives with typed errors naming the file', async () => {
    const a = await twoLayers();
    const good = join(dir, 'good.tar');
    await writeOciArchive(good, [{ image: a.image }]);
    const cut = join(dir, 'cut.tar');
    await writeFile(cut, await readFile(good));
    await truncate(cut, (await stat(good)).size - 3000);
    await expectCode(readOciArchive(cut), 'ERR_TRUNCATED', cut);

    const notTar = join(dir, 'not.tar');
    await writeFile(notTar, Buffer.alloc(2048, 'x'));
    await expectCode(readImageArchive(notTar), 'ERR_INVALID_ARCHIVE', notTar);

    for (const evil of ['../evil', '/etc/evil', 'blobs/../../evil']) {
      const f = join(dir, 'evil.tar');
      await handTar(f, [
        { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
        { name: evil, data: 'x' },
      ]);
      await expectCode(readOciArchive(f), 'ERR_UNSAFE_PATH', evil);
    }

    const files = await listTar(good);
    const noBlob = join(dir, 'noblob.tar');
    const dropped = `blobs/sha256/${a.image.layers[1]!.digest.slice(7)}`;
    await handTar(
      noBlob,
      [...files].filter(([n]) => n !== dropped).map(([name, data]) => ({ name, data })),
    );
    const archive = await readOciArchive(noBlob);
    await expectCode(archive.entries[0]!.image.layers[1]!.compressed(), 'ERR_BLOB_UNKNOWN', noBlob);

    const badIndex = join(dir, 'badindex.tar');
    await handTar(badIndex, [
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', data: '{oops' },
    ]);
    await expectCode(readOciArchive(badIndex), 'ERR_INVALID_LAYOUT', 'index.json');

    const unknownMt = join(dir, 'unknownmt.tar');
    const weird = Buffer.from('{"schemaVersion":2,"mediaType":"application/x-weird"}');
    await handTar(unknownMt, [
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: `blobs/sha256/${digestOf(weird).slice(7)}`, data: weird },
      {
        name: 'index.json',
        data: JSON.stringify({
          schemaVersion: 2,
          manifests: [{ mediaType: 'application/x-weird', digest: digestOf(weird), size: weird.length }],
        }),
      },
    ]);
    await expectCode(readOciArchive(unknownMt), 'ERR_UNSUPPORTED_MEDIA_TYPE', 'application/x-weird');
  });
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
