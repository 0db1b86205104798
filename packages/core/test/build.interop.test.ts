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
  feedTar,
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
  await Promise.all([feedTar(stream, ex), consume]);
  return names;
}
