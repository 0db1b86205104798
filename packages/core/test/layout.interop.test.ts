/**
 * Interop of our layouts and archives with skopeo and umoci: they read what we write (same
 * manifests/digests), and we read what they write.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import {
  digestOf,
  digestStream,
  type Image,
  loadImage,
  MediaType,
  OciLayout,
  readDockerArchive,
  readImageArchive,
  readOciArchive,
  writeDockerArchive,
  writeOciArchive,
  writeOciLayout,
} from '../src/index.js';
import { buildImage, collect, MemorySource, tarOf } from './layout-fixtures.js';

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const skopeo = (...args: string[]) => run('skopeo', ['--insecure-policy', ...args]);
const rawDigest = (ref: string) => digestOf(skopeo('inspect', '--raw', ref));

/** Every layer's uncompressed bytes hash to its diff_id (reads through our model). */
async function expectLayersMatchDiffIds(image: Image): Promise<void> {
  for (const layer of image.layers) {
    expect((await digestStream(await layer.uncompressed())).digest).toBe(layer.diffId);
  }
}

describe.skipIf(!haveBinaries('skopeo', 'umoci'))('layout interop with skopeo and umoci', () => {
  let dir: string;
  let oci: Image;
  let docker: Image;
  let ourLayout: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocidelta-layout-interop-'));
    oci = (
      await buildImage({
        layers: [
          [
            { path: 'etc/os-release', content: 'ID=ocidelta\n' },
            { path: 'usr/bin/tool', content: Buffer.alloc(5000, 3) },
          ],
          [{ path: 'app/config.json', content: '{"v":1}\n' }],
        ],
      })
    ).image;
    docker = (
      await buildImage({
        layers: [[{ path: 'srv/data.txt', content: 'docker flavor\n' }]],
        flavor: 'docker',
        seed: 'docker',
      })
    ).image;
    ourLayout = join(dir, 'ours');
    await writeOciLayout(ourLayout, [
      { image: oci, ref: 'v1' },
      { image: docker, ref: 'dock' },
    ]);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('skopeo reads our layout: same manifest bytes; a copy keeps the digest', async () => {
    expect(skopeo('inspect', '--raw', `oci:${ourLayout}:v1`)).toBe(Buffer.from(oci.manifestBytes).toString());
    // skopeo only resolves OCI-typed index entries; a Docker-typed one beside them does not disturb it.
    expect(() => skopeo('inspect', '--raw', `oci:${ourLayout}:dock`)).toThrow(/no descriptor found/);
    const copy = join(dir, 'skopeo-copy');
    skopeo('copy', `oci:${ourLayout}:v1`, `oci:${copy}:copied`);
    const theirs = await OciLayout.open(copy);
    const img = await theirs.image({ ref: 'copied' });
    expect(img.digest).toBe(oci.digest);
    expect(img.layers.map((l) => l.digest)).toEqual(oci.layers.map((l) => l.digest));
    await expectLayersMatchDiffIds(img);
  });

  it('umoci unpacks our layout', async () => {
    const bundle = join(dir, 'bundle');
    run('umoci', ['unpack', '--rootless', '--image', `${ourLayout}:v1`, bundle]);
    expect(await readFile(join(bundle, 'rootfs', 'etc', 'os-release'), 'utf8')).toBe('ID=ocidelta\n');
    expect(await readFile(join(bundle, 'rootfs', 'app', 'config.json'), 'utf8')).toBe('{"v":1}\n');
    expect((await readFile(join(bundle, 'rootfs', 'usr', 'bin', 'tool'))).length).toBe(5000);
  });

  it('skopeo reads our oci-archive with the same digests', async () => {
    const file = join(dir, 'ours-oci.tar');
    await writeOciArchive(file, [
      { image: oci, ref: 'v1' },
      { image: docker, ref: 'dock' },
    ]);
    expect(rawDigest(`oci-archive:${file}:v1`)).toBe(oci.digest);
    expect((await readOciArchive(file)).entries.map((e) => e.image.digest)).toEqual([
      oci.digest,
      docker.digest,
    ]);
    const copy = join(dir, 'from-oci-archive');
    skopeo('copy', `oci-archive:${file}:v1`, `oci:${copy}:x`);
    expect((await (await OciLayout.open(copy)).image({ ref: 'x' })).digest).toBe(oci.digest);
  });

  it('skopeo reads our docker-archive (stored and uncompressed layers)', async () => {
    const stored = join(dir, 'ours-docker.tar');
    await writeDockerArchive(stored, [{ image: oci, repoTags: ['ocidelta/test:1'] }]);
    const c1 = join(dir, 'from-docker-stored');
    skopeo('copy', `docker-archive:${stored}:ocidelta/test:1`, `oci:${c1}:x`);
    const i1 = await (await OciLayout.open(c1)).image({ ref: 'x' });
    expect(i1.configDigest).toBe(oci.configDigest);
    expect(i1.layers.map((l) => l.diffId)).toEqual(oci.layers.map((l) => l.diffId));
    await expectLayersMatchDiffIds(i1);

    const flat = join(dir, 'ours-docker-flat.tar');
    await writeDockerArchive(flat, [{ image: oci, repoTags: ['ocidelta/test:1'] }], {
      layers: 'uncompressed',
    });
    const raw = JSON.parse(skopeo('inspect', '--raw', `docker-archive:${flat}`));
    expect(raw.config.digest).toBe(oci.configDigest);
    expect(raw.layers.map((l: { digest: string }) => l.digest)).toEqual(oci.layers.map((l) => l.diffId));
    const c2 = join(dir, 'from-docker-flat');
    skopeo('copy', `docker-archive:${flat}`, `oci:${c2}:x`);
    const i2 = await (await OciLayout.open(c2)).image({ ref: 'x' });
    expect(i2.configDigest).toBe(oci.configDigest);
    // skopeo recompresses the layers for its oci: destination; the content (diff_ids) is the same.
    expect(i2.layers.map((l) => l.diffId)).toEqual(oci.layers.map((l) => l.diffId));
    await expectLayersMatchDiffIds(i2);
  });

  it('we read what skopeo writes: oci-archive and docker-archive', async () => {
    const ociArchive = join(dir, 'skopeo-oci.tar');
    skopeo('copy', `oci:${ourLayout}:v1`, `oci-archive:${ociArchive}:tagged`);
    const a = await readOciArchive(ociArchive);
    const img = await a.image({ ref: 'tagged' });
    expect(img.digest).toBe(rawDigest(`oci-archive:${ociArchive}:tagged`));
    expect(img.digest).toBe(oci.digest);
    await expectLayersMatchDiffIds(img);

    const dockerArchive = join(dir, 'skopeo-docker.tar');
    skopeo('copy', `oci:${ourLayout}:v1`, `docker-archive:${dockerArchive}:example.com/team/app:7`);
    const d = await readImageArchive(dockerArchive);
    expect(d.format).toBe('docker-archive');
    const dimg = await d.image({ ref: 'example.com/team/app:7' });
    expect(dimg.configDigest).toBe(oci.configDigest);
    expect(dimg.layers.map((l) => l.diffId)).toEqual(oci.layers.map((l) => l.diffId));
    await expectLayersMatchDiffIds(dimg);
    // What skopeo itself reports for the archive: same config and layer digests as our view.
    const theirs = JSON.parse(skopeo('inspect', '--raw', `docker-archive:${dockerArchive}`));
    expect(theirs.config.digest).toBe(dimg.configDigest);
    expect(theirs.layers.map((l: { digest: string }) => l.digest)).toEqual(dimg.layers.map((l) => l.digest));
    // And our docker-archive reader copes with what skopeo wrote being written again by us.
    const rewritten = join(dir, 'rewritten.tar');
    await writeDockerArchive(rewritten, [{ image: dimg, repoTags: ['again:1'] }]);
    expect((await readDockerArchive(rewritten)).entries[0]!.image.configDigest).toBe(oci.configDigest);
  });

  it('we read layouts written by umoci and get the manifests skopeo sees', async () => {
    const layout = join(dir, 'umoci');
    run('umoci', ['init', '--layout', layout]);
    run('umoci', ['new', '--image', `${layout}:base`]);
    const files = join(dir, 'umoci-files');
    await mkdir(join(files, 'etc'), { recursive: true });
    await writeFile(join(files, 'etc', 'hello'), 'hello from umoci\n');
    run('umoci', ['insert', '--rootless', '--image', `${layout}:base`, join(files, 'etc'), '/etc']);
    const ours = await OciLayout.open(layout);
    const img = await ours.image({ ref: 'base' });
    expect(img.digest).toBe(rawDigest(`oci:${layout}:base`));
    expect(img.layers).toHaveLength(1);
    await expectLayersMatchDiffIds(img);
    // Our writer adds to a layout umoci made, and umoci still reads it.
    await writeOciLayout(layout, [{ image: oci, ref: 'ours' }]);
    const bundle = join(dir, 'umoci-bundle');
    run('umoci', ['unpack', '--rootless', '--image', `${layout}:ours`, bundle]);
    expect(await readFile(join(bundle, 'rootfs', 'etc', 'os-release'), 'utf8')).toBe('ID=ocidelta\n');
    expect((await ours.image({ ref: 'base' })).digest).toBe(img.digest);
  });
});

describe.skipIf(!haveBinaries('skopeo', 'zstd'))('zstd layers (compressed by zstd(1))', () => {
  it('decompress into an uncompressed docker-archive that skopeo reads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidelta-zstd-'));
    try {
      const tar = await tarOf([{ path: 'etc/zstd.txt', content: 'zstd layer\n'.repeat(100) }]);
      const zst = execFileSync('zstd', ['-q', '-c', '-19'], { input: tar });
      const source = new MemorySource();
      const layer = source.put(zst);
      const config = source.put(
        Buffer.from(
          JSON.stringify({
            architecture: 'amd64',
            os: 'linux',
            rootfs: { type: 'layers', diff_ids: [digestOf(tar)] },
          }),
        ),
      );
      const manifestBytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: { mediaType: MediaType.OciConfig, ...config },
          layers: [{ mediaType: MediaType.OciLayerZstd, ...layer }],
        }),
      );
      const image = await loadImage(source, manifestBytes);
      const layout = join(dir, 'layout');
      await writeOciLayout(layout, [{ image, ref: 'z' }]);
      expect(rawDigest(`oci:${layout}:z`)).toBe(image.digest);
      const file = join(dir, 'flat.tar');
      await writeDockerArchive(file, [{ image, repoTags: ['zstd:1'] }], { layers: 'uncompressed' });
      const raw = JSON.parse(skopeo('inspect', '--raw', `docker-archive:${file}`));
      expect(raw.layers.map((l: { digest: string }) => l.digest)).toEqual([digestOf(tar)]);
      const back = await readDockerArchive(file);
      expect(await collect(await back.entries[0]!.image.layers[0]!.compressed())).toEqual(tar);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
