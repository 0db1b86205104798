// Built images against the real tools: `umoci unpack --rootless` gives exactly the input
// tree of a layered image (parent from the same spec), and `skopeo copy` accepts the OCI
// layout, oci-archive and docker-archive outputs.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import {
  buildImages,
  extractLayer,
  type Image,
  OciLayout,
  parseBuildSpec,
  treeOfLayers,
  writeBuildOutput,
} from '../src/index.js';
import { listTree, type TreeSpec, writeTree } from './build-helpers.js';

const run = promisify(execFile);

const ROOTFS: TreeSpec = {
  'etc/os-release': 'ID=test\n',
  'etc/old.conf': 'old',
  'usr/bin/tool': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
  'usr/lib/libx.so.1': 'lib',
  'usr/lib/libx.so': { link: 'libx.so.1' },
  'var/cache/a': 'a',
  'var/cache/b': 'b',
  'opt/private': { dir: 0o700 },
};
const APP: TreeSpec = {
  'etc/os-release': 'ID=test\n',
  'usr/bin/tool': { content: '#!/bin/sh\necho v2\n', mode: 0o755 },
  'usr/lib/libx.so.2': 'lib2',
  'usr/lib/libx.so': { link: 'libx.so.2' },
  'var/cache/c': 'c',
  'opt/private': { dir: 0o700 },
  'app/run': { content: '#!/bin/sh\nexec tool\n', mode: 0o755 },
  'app/data/big.bin': 'x'.repeat(70_000),
};

const SPEC = `
images:
  - os: linux
    architecture: amd64
    layers: [rootfs]
    tags: [base]
    annotations: {org.opencontainers.image.title: base}
  - parent: 0
    os: linux
    layers: [app]
    tags: [app, app-latest]
    config:
      Entrypoint: [/app/run]
      Env: [MODE=prod]
      ExposedPorts: [8080/tcp]
      WorkingDir: /app
`;

describe.skipIf(!haveBinaries('umoci', 'skopeo'))('image build with umoci and skopeo', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-build-interop-'));
    await writeTree(join(work, 'rootfs'), ROOTFS);
    await writeTree(join(work, 'app'), APP);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function build(format: 'oci' | 'docker' = 'oci') {
    const store = await OciLayout.create(
      join(work, `store-${format}-${Math.random().toString(36).slice(2)}`),
    );
    const result = await buildImages(parseBuildSpec(SPEC), {
      store,
      baseDir: work,
      format,
      mtime: 1_700_000_000,
    });
    return result;
  }

  it('umoci unpacks each image to exactly its input tree; builds are reproducible', async () => {
    const first = await build();
    const second = await build();
    expect(second.images.map((i) => i.image.digest)).toEqual(first.images.map((i) => i.image.digest));
    const layout = join(work, 'layout');
    await writeBuildOutput(first.images, { transport: 'oci', path: layout });
    for (const [tag, input] of [
      ['base', 'rootfs'],
      ['app', 'app'],
    ] as const) {
      const bundle = join(work, `bundle-${tag}`);
      await run('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, bundle]);
      expect(await listTree(join(bundle, 'rootfs'))).toEqual(await listTree(join(work, input)));
    }
    const app = first.images[1]?.image;
    expect(app?.layers.length).toBe(2);
    expect(app?.config.config?.Entrypoint).toEqual(['/app/run']);
  });

  it('skopeo accepts the OCI layout, oci-archive and docker-archive outputs', async () => {
    const oci = await build();
    await writeBuildOutput(oci.images, { transport: 'oci-archive', path: join(work, 'images.tar') });
    const docker = await build('docker');
    await writeBuildOutput(docker.images, { transport: 'docker-archive', path: join(work, 'docker.tar') });
    await run('skopeo', [
      '--insecure-policy',
      'copy',
      `oci-archive:${join(work, 'images.tar')}:app`,
      `oci:${join(work, 'copied')}:app`,
    ]);
    const copied = await OciLayout.open(join(work, 'copied'));
    expect((await copied.image({ ref: 'app' })).digest).toBe(oci.images[1]?.image.digest);
    const { stdout } = await run('skopeo', [
      'inspect',
      `docker-archive:${join(work, 'docker.tar')}:app-latest`,
    ]);
    const info = JSON.parse(stdout) as { Architecture: string; Layers: string[] };
    expect(info.Architecture).toBe('amd64');
    expect(info.Layers.length).toBe(2);
    const { stdout: raw } = await run('skopeo', [
      'inspect',
      '--raw',
      `docker-archive:${join(work, 'docker.tar')}:base`,
    ]);
    expect(JSON.parse(raw).mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const bundle = join(work, 'bundle-docker');
    await run('skopeo', [
      '--insecure-policy',
      'copy',
      `docker-archive:${join(work, 'docker.tar')}:app-latest`,
      `oci:${join(work, 'from-docker')}:x`,
    ]);
    await run('umoci', ['unpack', '--rootless', '--image', `${join(work, 'from-docker')}:x`, bundle]);
    expect(await listTree(join(bundle, 'rootfs'))).toEqual(await listTree(join(work, 'app')));
    expect(JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')).process.cwd).toBe('/app');
  });

  it('reads layers umoci wrote (whiteouts, "." entries) and builds on top of them', async () => {
    const img = join(work, 'umoci-img');
    const b = join(work, 'umoci-bundle');
    const rootfs = join(b, 'rootfs');
    await run('umoci', ['init', '--layout', img]);
    await run('umoci', ['new', '--image', `${img}:t`]);
    await run('umoci', ['unpack', '--rootless', '--image', `${img}:t`, b]);
    await writeTree(rootfs, {
      'etc/a': 'a',
      'etc/d/x': 'x',
      'etc/d/y': 'y',
      'usr/bin/b': { content: 'b', mode: 0o755 },
    });
    await run('umoci', ['repack', '--image', `${img}:t`, b]);
    await rm(b, { recursive: true, force: true });
    await run('umoci', ['unpack', '--rootless', '--image', `${img}:t`, b]);
    await rm(join(rootfs, 'etc/a'));
    await rm(join(rootfs, 'etc/d'), { recursive: true });
    await writeTree(rootfs, { 'etc/d/z': 'z' });
    await run('umoci', ['repack', '--image', `${img}:t2`, b]);
    const expected = await listTree(rootfs);

    const layout = await OciLayout.open(img);
    const t2 = await layout.image({ ref: 't2' });
    const out = join(work, 'ours-from-umoci');
    for (const layer of t2.layers) await extractLayer(layer, out);
    expect(await listTree(out)).toEqual(expected);
    const tree = await treeOfLayers(t2.layers);
    expect([...tree.keys()].sort()).toEqual(Object.keys(expected).sort());

    // a child of the umoci image: our layer holds only the difference
    await writeTree(join(work, 'child'), { 'etc/d/z': 'z2', 'usr/bin/b': { content: 'b', mode: 0o755 } });
    const store = await OciLayout.create(join(work, 'child-store'));
    const spec = parseBuildSpec(
      `images:\n  - {parent: "oci:umoci-img:t2", os: linux, architecture: amd64, layers: [child], tags: [child]}\n`,
    );
    const built = await buildImages(spec, { store, baseDir: work });
    const child = built.images[0]?.image;
    if (!child) throw new Error('no image');
    const entries = await layerEntryNames(child.layers.at(-1) as Image['layers'][number]);
    expect(entries).toEqual(['etc/', 'etc/d/', 'etc/d/z']);
    await writeBuildOutput(built.images, { transport: 'oci', path: join(work, 'child-out') });
    await run('umoci', [
      'unpack',
      '--rootless',
      '--image',
      `${join(work, 'child-out')}:child`,
      join(work, 'child-bundle'),
    ]);
    expect(await listTree(join(work, 'child-bundle', 'rootfs'))).toEqual(await listTree(join(work, 'child')));
    await built.close();
  });
});

// BuildStream's OCI element keys and multi-platform tags, read back by umoci and skopeo.
const OVERLAY: TreeSpec = {
  'etc/os-release': 'ID=overlay\n',
  'var/cache': 'now a file',
  'srv/www/index.html': '<p>hi</p>',
};

describe.skipIf(!haveBinaries('umoci', 'skopeo'))(
  'image build: BuildStream keys and multi-platform tags',
  () => {
    let work: string;
    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'ocidelta-build-bst-'));
      await writeTree(join(work, 'rootfs'), ROOTFS);
      await writeTree(join(work, 'overlay'), OVERLAY);
      await writeTree(join(work, 'app'), APP);
      // What staging rootfs then overlay into one directory gives (var/cache/* replaced by a file).
      const { 'var/cache/a': _a, 'var/cache/b': _b, ...rest } = ROOTFS;
      await writeTree(join(work, 'merged'), { ...rest, ...OVERLAY });
    });
    afterAll(async () => {
      await rm(work, { recursive: true, force: true });
    });

    const BST = (mode: 'oci' | 'docker') => `
mode: ${mode}
gzip: false
annotations: {org.example.pipeline: "42"}
images:
  - os: linux
    architecture: amd64
    layer: [rootfs, overlay]
    tags: [base]
    config: {Memory: 536870912, MemorySwap: -1, CpuShares: 512}
  - parent: {image: 0}
    os: linux
    layer: app
    tags: [app]
`;

    it('mode/gzip/layer/parent/annotations/Memory: umoci unpacks the merged layer and the child', async () => {
      const store = await OciLayout.create(join(work, 'bst-store'));
      const built = await buildImages(parseBuildSpec(BST('oci')), {
        store,
        baseDir: work,
        mtime: 1_700_000_000,
      });
      const [base, app] = built.images.map((i) => i.image);
      if (!base || !app) throw new Error('no images');
      expect(base.manifest.layers.map((l) => l.mediaType)).toEqual([
        'application/vnd.oci.image.layer.v1.tar',
      ]);
      // an uncompressed layer's digest is its diff_id
      expect(base.manifest.layers[0]?.digest).toBe(base.config.rootfs.diff_ids[0]);
      expect(base.config.config).toMatchObject({ Memory: 536870912, MemorySwap: -1, CpuShares: 512 });
      expect(app.layers.length).toBe(2);
      expect(app.layers[0]?.digest).toBe(base.layers[0]?.digest);
      const layout = join(work, 'bst-layout');
      await writeBuildOutput(
        built.images,
        { transport: 'oci', path: layout },
        { annotations: built.annotations },
      );
      const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
      expect(index.annotations).toEqual({ 'org.example.pipeline': '42' });
      expect(index.manifests.map((m: { platform?: unknown }) => m.platform)).toEqual([
        { architecture: 'amd64', os: 'linux' },
        { architecture: 'amd64', os: 'linux' },
      ]);
      for (const [tag, input] of [
        ['base', 'merged'],
        ['app', 'app'],
      ] as const) {
        const bundle = join(work, `bst-bundle-${tag}`);
        await run('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, bundle]);
        expect(await listTree(join(bundle, 'rootfs'))).toEqual(await listTree(join(work, input)));
      }
      await built.close();

      const docker = await buildImages(parseBuildSpec(BST('docker')), {
        store: await OciLayout.create(join(work, 'bst-docker-store')),
        baseDir: work,
      });
      const dockerApp = docker.images[1]?.image;
      expect(docker.format).toBe('docker');
      expect(dockerApp?.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
      expect(dockerApp?.manifest.layers.map((l) => l.mediaType)).toEqual([
        'application/vnd.docker.image.rootfs.diff.tar',
        'application/vnd.docker.image.rootfs.diff.tar',
      ]);
      await writeBuildOutput(docker.images, { transport: 'docker-archive', path: join(work, 'bst.tar') });
      const { stdout } = await run('skopeo', ['inspect', `docker-archive:${join(work, 'bst.tar')}:app`]);
      expect((JSON.parse(stdout) as { Layers: string[] }).Layers.length).toBe(2);
    });

    const MULTI = `
annotations: {org.opencontainers.image.source: "https://example.com/src"}
images:
  - {os: linux, architecture: amd64, layers: [rootfs], tags: [multi, amd64-only]}
  - {os: linux, architecture: arm64, variant: v8, layers: [app], tags: [multi]}
  - {os: linux, architecture: arm, variant: v7, os.features: [sse4], layers: [overlay], tags: [multi]}
`;

    it('images sharing a tag form one index with platform descriptors; skopeo selects each platform', async () => {
      const built = await buildImages(parseBuildSpec(MULTI), {
        store: await OciLayout.create(join(work, 'multi-store')),
        baseDir: work,
      });
      for (const [kind, path] of [
        ['oci', join(work, 'multi-layout')],
        ['oci-archive', join(work, 'multi.tar')],
      ] as const) {
        await writeBuildOutput(built.images, { transport: kind, path }, { annotations: built.annotations });
      }
      const layout = join(work, 'multi-layout');
      const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
      expect(index.annotations).toEqual({ 'org.opencontainers.image.source': 'https://example.com/src' });
      const multi = index.manifests.find(
        (m: { annotations?: Record<string, string> }) =>
          m.annotations?.['org.opencontainers.image.ref.name'] === 'multi',
      );
      expect(multi.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      const single = index.manifests.find(
        (m: { annotations?: Record<string, string> }) =>
          m.annotations?.['org.opencontainers.image.ref.name'] === 'amd64-only',
      );
      expect(single.platform).toEqual({ architecture: 'amd64', os: 'linux' });
      const nested = JSON.parse(
        await readFile(join(layout, 'blobs', 'sha256', multi.digest.slice('sha256:'.length)), 'utf8'),
      );
      expect(nested.manifests.map((m: { platform: unknown }) => m.platform)).toEqual([
        { architecture: 'amd64', os: 'linux' },
        { architecture: 'arm64', os: 'linux', variant: 'v8' },
        { architecture: 'arm', os: 'linux', variant: 'v7', 'os.features': ['sse4'] },
      ]);
      expect(nested.annotations).toEqual(index.annotations);
      const layersOf = (n: number) => built.images[n]?.image.manifest.layers.map((l) => l.digest);
      for (const [arch, variant, layers] of [
        ['amd64', '', layersOf(0)],
        ['arm64', 'v8', layersOf(1)],
        ['arm', 'v7', layersOf(2)],
      ] as const) {
        for (const ref of [`oci:${layout}:multi`, `oci-archive:${join(work, 'multi.tar')}:multi`]) {
          const { stdout } = await run('skopeo', [
            '--override-arch',
            arch,
            ...(variant ? ['--override-variant', variant] : []),
            'inspect',
            ref,
          ]);
          // skopeo's Digest is the index's; the layers tell which image it selected
          const info = JSON.parse(stdout) as { Architecture: string; Digest: string; Layers: string[] };
          expect(info.Architecture).toBe(arch);
          expect(info.Digest).toBe(multi.digest);
          expect(info.Layers).toEqual(layers);
        }
      }
      await run('skopeo', [
        '--insecure-policy',
        'copy',
        '--all',
        `oci:${layout}:multi`,
        `oci:${join(work, 'multi-copy')}:m`,
      ]);
      const copy = await OciLayout.open(join(work, 'multi-copy'));
      expect((await copy.index({ ref: 'm' })).digest).toBe(multi.digest);
      await expect(
        writeBuildOutput(built.images, { transport: 'docker-archive', path: join(work, 'multi-docker.tar') }),
      ).rejects.toThrow(/docker-archive cannot hold several platforms under one tag \("multi"\)/);
      await built.close();
    });
  },
);

/** Entry names of a layer tar, in order. */
async function layerEntryNames(layer: Image['layers'][number]): Promise<string[]> {
  const ex = extract();
  const names: string[] = [];
  const stream = await layer.uncompressed();
  const consume = (async () => {
    for await (const entry of ex) {
      names.push(entry.header.name);
      entry.resume();
    }
  })();
  stream.pipe(ex);
  await consume;
  return names;
}
