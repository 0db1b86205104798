// Image build: tree diffs (whiteouts, opaque markers), deterministic layer tars, safe
// extraction, spec parsing with line numbers, parents from OCI layouts.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyLayerToTree,
  buildImages,
  diffTrees,
  extractLayer,
  extractLayerTar,
  isOciDeltaError,
  layerBlobStream,
  layerTarStream,
  mergeTrees,
  namedImages,
  OciLayout,
  parseBuildSpec,
  scanDirectory,
  type Tree,
  writeBuildOutput,
} from '../src/index.js';
import { listTree, type TreeSpec, writeTree } from './build-helpers.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ocidelta-build-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let counter = 0;
const fresh = (name: string) => join(work, `${name}-${counter++}`);

/** A tree's metadata without the on-disk source paths. */
function strip(tree: Tree): Record<string, unknown> {
  return Object.fromEntries([...tree].map(([p, e]) => [p, { ...e, source: undefined }]));
}

const BASE: TreeSpec = {
  'etc/conf': 'a=1\n',
  'bin/tool': { content: '#!/bin/sh\n', mode: 0o755 },
  'lib/link': { link: '../bin/tool' },
  'gone/deep/file': 'bye',
  'replaced/one': '1',
  'replaced/two': '2',
  'kept/one': '1',
  'kept/two': '2',
  typechange: 'file now',
};
const NEXT: TreeSpec = {
  'etc/conf': 'a=2\n',
  'bin/tool': { content: '#!/bin/sh\n', mode: 0o755 },
  'lib/link': { link: '../etc/conf' },
  'replaced/three': '3',
  'kept/one': '1',
  'typechange/inner': 'dir now',
  'new/sub/file': { content: 'x', mode: 0o600 },
};

describe('diffTrees', () => {
  it('emits changes, whiteouts and opaque markers that turn base into target', async () => {
    const base = await scanDirectory(await writeTree(fresh('base'), BASE));
    const target = await scanDirectory(await writeTree(fresh('next'), NEXT));
    const entries = diffTrees(base, target);
    const names = entries.map((e) => e.path);
    expect(names).toContain('.wh.gone');
    expect(names).not.toContain('gone/deep/.wh.file');
    expect(names).toContain('replaced/.wh..wh..opq');
    expect(names).toContain('kept/.wh.two');
    expect(names).toContain('.wh.typechange');
    // unchanged files are not repeated
    expect(names).not.toContain('bin/tool');
    expect(names).not.toContain('kept/one');
    const applied: Tree = new Map(base);
    // What an extractor does with the layer tar of the entries.
    await applyLayerToTree(applied, layerTarStream(entries), 'diff');
    expect(strip(applied)).toEqual(strip(target));
  });

  it('from an empty base lists the whole tree, parents before children', async () => {
    const target = await scanDirectory(await writeTree(fresh('t'), NEXT));
    const entries = diffTrees(new Map(), target);
    expect(entries.every((e) => e.type !== 'whiteout')).toBe(true);
    expect(entries.map((e) => e.path).sort()).toEqual([...target.keys()].sort());
    const at = (p: string) => entries.findIndex((e) => e.path === p);
    expect(at('new')).toBeLessThan(at('new/sub'));
    expect(at('new/sub')).toBeLessThan(at('new/sub/file'));
  });
});

describe('layer tars', () => {
  it('extracting the layers in order reproduces the last directory exactly', async () => {
    const a = await writeTree(fresh('a'), BASE);
    const b = await writeTree(fresh('b'), NEXT);
    const out = fresh('out');
    let base: Tree = new Map();
    for (const dir of [a, b]) {
      const target = await scanDirectory(dir);
      const produced = layerBlobStream(diffTrees(base, target), { compression: 'none' });
      await extractLayerTar(produced.stream, out);
      base = target;
    }
    expect(await listTree(out)).toEqual(await listTree(b));
  });

  it('is reproducible: same tree, same bytes; the mtime changes them; the gzip header is fixed', async () => {
    const digestOf = async (dir: string, mtime?: number) => {
      const produced = layerBlobStream(diffTrees(new Map(), await scanDirectory(dir)), { mtime });
      const chunks: Buffer[] = [];
      for await (const c of produced.stream) chunks.push(c as Buffer);
      return { bytes: Buffer.concat(chunks), diffId: produced.diffId().digest };
    };
    const one = await digestOf(await writeTree(fresh('r1'), NEXT), 1_700_000_000);
    const two = await digestOf(await writeTree(fresh('r2'), NEXT), 1_700_000_000);
    const other = await digestOf(await writeTree(fresh('r3'), NEXT), 1_600_000_000);
    expect(one.bytes.equals(two.bytes)).toBe(true);
    expect(one.diffId).toBe(two.diffId);
    expect(other.diffId).not.toBe(one.diffId);
    expect([...one.bytes.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    // entries carry uid/gid 0 and the fixed mtime (ustar fields of the first header)
    const tar = gunzipSync(one.bytes);
    expect(Number.parseInt(tar.subarray(108, 116).toString(), 8)).toBe(0);
    expect(Number.parseInt(tar.subarray(116, 124).toString(), 8)).toBe(0);
    expect(Number.parseInt(tar.subarray(136, 147).toString(), 8)).toBe(1_700_000_000);
  });

  it('takes the mtime from SOURCE_DATE_EPOCH and rejects a malformed one', async () => {
    const dir = await writeTree(fresh('sde'), { f: 'x' });
    const store = await OciLayout.create(fresh('store'));
    const spec = parseBuildSpec('images:\n  - {os: linux, architecture: amd64, layers: [.]}\n');
    const built = await buildImages(spec, { store, baseDir: dir, env: { SOURCE_DATE_EPOCH: '86400' } });
    expect(built.images[0]?.image.config.created).toBe('1970-01-02T00:00:00Z');
    await expect(
      buildImages(spec, { store, baseDir: dir, env: { SOURCE_DATE_EPOCH: 'yesterday' } }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
  });
});

/** A tar built by hand (hostile entries). */
async function handTar(
  entries: { name: string; type?: 'file' | 'symlink' | 'directory'; body?: string; linkname?: string }[],
) {
  const p = pack();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if ((e.type ?? 'file') === 'file') p.entry({ name: e.name, mode: 0o644 }, e.body ?? '', done);
      else p.entry({ name: e.name, type: e.type, linkname: e.linkname, mode: 0o755 }, done);
    });
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('extractLayerTar safety', () => {
  it('refuses path traversal', async () => {
    const tar = await handTar([{ name: '../escape', body: 'x' }]);
    const err = await extractLayerTar(Readable.from([tar]), fresh('x')).catch((e: unknown) => e);
    expect(isOciDeltaError(err, 'ERR_UNSAFE_PATH')).toBe(true);
  });

  it('never follows a symlink out of the directory', async () => {
    const outside = fresh('outside');
    await writeTree(outside, { keep: 'safe' });
    const dir = fresh('inside');
    const tar = await handTar([
      { name: 'esc', type: 'symlink', linkname: outside },
      { name: 'esc/pwned', body: 'owned' },
      { name: 'up', type: 'symlink', linkname: '../../../../../../..' },
      { name: 'up/pwned2', body: 'owned' },
    ]);
    await extractLayerTar(Readable.from([tar]), dir);
    expect(await listTree(outside)).toEqual({ keep: expect.stringMatching(/^f /) });
    // resolved as if dir were the root: the absolute target lands under dir
    expect(await readFile(join(dir, outside, 'pwned'), 'utf8')).toBe('owned');
    expect(await readFile(join(dir, 'pwned2'), 'utf8')).toBe('owned');
  });

  it('applies whiteouts and opaque markers to what is already there', async () => {
    const dir = await writeTree(fresh('wh'), { 'a/x': '1', 'a/y': '2', 'b/z': '3', c: '4' });
    const tar = await handTar([
      { name: 'a/.wh..wh..opq' },
      { name: 'a/new', body: 'n' },
      { name: '.wh.c' },
      { name: 'b/.wh.z' },
    ]);
    const result = await extractLayerTar(Readable.from([tar]), dir);
    expect(result.whiteouts).toBe(3);
    expect(Object.keys(await listTree(dir))).toEqual(['a', 'a/new', 'b']);
  });
});

describe('extractLayerTar containment (hostile layers)', () => {
  /** A sandbox: `parent/keep` beside `parent/target`, so a write to either parent shows. */
  async function sandbox() {
    const parent = fresh('sandbox');
    await writeTree(parent, { keep: 'safe', 'target/old': 'o' });
    return { parent, target: join(parent, 'target') };
  }

  it('refuses a whiteout of ".." (".wh...") instead of removing the parent of the target', async () => {
    const { parent, target } = await sandbox();
    const err = await extractLayerTar(Readable.from([await handTar([{ name: '.wh...' }])]), target).catch(
      (e: unknown) => e,
    );
    expect(isOciDeltaError(err, 'ERR_UNSAFE_PATH')).toBe(true);
    expect(await readFile(join(parent, 'keep'), 'utf8')).toBe('safe');
    expect(await readFile(join(target, 'old'), 'utf8')).toBe('o');
  });

  it('refuses a whiteout of "." (".wh..") in a subdirectory, keeping the directory', async () => {
    const { target } = await sandbox();
    const err = await extractLayerTar(
      Readable.from([await handTar([{ name: 'sub/', type: 'directory' }, { name: 'sub/.wh..' }])]),
      target,
    ).catch((e: unknown) => e);
    expect(isOciDeltaError(err, 'ERR_UNSAFE_PATH')).toBe(true);
    expect(await readFile(join(target, 'old'), 'utf8')).toBe('o');
  });

  it('does not chmod or touch outside through a symlink that replaced a directory entry', async () => {
    const { parent, target } = await sandbox();
    const outside = join(parent, 'outside');
    await writeTree(outside, { f: 'x' });
    const { chmod, stat } = await import('node:fs/promises');
    await chmod(outside, 0o755);
    const before = await stat(outside);
    // `d/` (mode 0700, mtime 1970) is recorded for the final pass, then `d` becomes a symlink
    // to outside; `d/sub/` then resolves in the root, and the final pass must not follow `d`.
    const p = pack();
    const add = (h: Parameters<typeof p.entry>[0]) =>
      new Promise<void>((res, rej) => p.entry(h, (e?: Error | null) => (e ? rej(e) : res())));
    await add({ name: 'd/', type: 'directory', mode: 0o700, mtime: new Date(0) });
    await add({ name: 'd', type: 'symlink', linkname: outside });
    await add({ name: 'e/', type: 'directory', mode: 0o700, mtime: new Date(0) });
    await add({ name: 'e', type: 'symlink', linkname: '../outside' });
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
    await extractLayerTar(Readable.from([Buffer.concat(chunks)]), target);
    const after = await stat(outside);
    expect(after.mode & 0o7777).toBe(0o755);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(await listTree(parent)).toMatchObject({ keep: expect.stringMatching(/^f /) });
  });

  it('applies a whiteout below a symlinked directory inside the root only', async () => {
    const { parent, target } = await sandbox();
    const tar = await handTar([
      { name: 'link', type: 'symlink', linkname: '..' },
      { name: 'link/.wh.keep' },
      { name: 'abs', type: 'symlink', linkname: parent },
      { name: 'abs/.wh.keep' },
    ]);
    await extractLayerTar(Readable.from([tar]), target);
    expect(await readFile(join(parent, 'keep'), 'utf8')).toBe('safe');
  });
});

describe('parseBuildSpec', () => {
  it('maps alias errors to ERR_INPUT with file:line (no ReferenceError escapes)', () => {
    const text = 'images:\n  - os: linux\n    architecture: *arch\n';
    expect(() => parseBuildSpec(text, 's.yaml')).toThrowError(
      expect.objectContaining({
        code: 'ERR_INPUT',
        message: expect.stringMatching(/^s\.yaml:3:\d+: .*alias/),
      }),
    );
  });

  it('points at the line of an unknown key', () => {
    const text = [
      'images:',
      '  - os: linux',
      '    architecture: amd64',
      '    config:',
      '      Usr: root',
      '',
    ].join('\n');
    let err: unknown;
    try {
      parseBuildSpec(text, 'spec.yaml');
    } catch (e) {
      err = e;
    }
    expect(isOciDeltaError(err, 'ERR_INPUT')).toBe(true);
    expect((err as Error).message).toMatch(/^spec\.yaml:5:7: images\.0\.config\.Usr: unknown key "Usr"/);
  });

  it('points at a bad value and at a missing required field', () => {
    expect(() => parseBuildSpec('images:\n  - os: linux\n    layers: nope\n', 's.yaml')).toThrow(
      /s\.yaml:3:13: images\.0\.layers/,
    );
    expect(() => parseBuildSpec('images:\n  - architecture: amd64\n', 's.yaml')).toThrow(
      /s\.yaml:2:5: images\.0\.os/,
    );
    expect(() => parseBuildSpec('images: [\n', 's.yaml')).toThrow(/s\.yaml:\d+:\d+: invalid YAML/);
  });

  it('normalizes ports, volumes and durations', () => {
    const spec = parseBuildSpec(
      [
        'images:',
        '  - os: linux',
        '    config:',
        '      ExposedPorts: [80/tcp]',
        '      Volumes: {/data: {}}',
        '      Healthcheck: {Test: [CMD, "true"], Interval: 30s, Retries: 3}',
      ].join('\n'),
    );
    const config = spec.images[0]?.config;
    expect(config?.ExposedPorts).toEqual({ '80/tcp': {} });
    expect(config?.Volumes).toEqual({ '/data': {} });
    expect(config?.Healthcheck?.Interval).toBe(30_000_000_000);
  });
});

describe('buildImages', () => {
  it('builds on a parent from an OCI layout: only the difference goes in the new layer', async () => {
    const root = fresh('parent');
    await writeTree(join(root, 'base'), BASE);
    await writeTree(join(root, 'app'), NEXT);
    const store = await OciLayout.create(join(root, 'layout'));
    const first = await buildImages(
      parseBuildSpec(
        'images:\n  - {os: linux, architecture: arm64, variant: v8, layers: [base], tags: [base], config: {Env: [A=1, B=2], Labels: {x: "1"}}}\n',
      ),
      {
        store,
        baseDir: root,
      },
    );
    await writeBuildOutput(first.images, { transport: 'oci', path: join(root, 'layout') });
    await writeFile(
      join(root, 'spec.yaml'),
      'images:\n  - parent: oci:layout:base\n    os: linux\n    layers: [app]\n    tags: [app]\n    config: {Env: [B=3, C=4], Labels: {y: "2"}, User: app}\n',
    );
    const spec = parseBuildSpec(await readFile(join(root, 'spec.yaml'), 'utf8'));
    const second = await buildImages(spec, { store: await OciLayout.create(fresh('store2')), baseDir: root });
    const app = second.images[0]?.image;
    const base = first.images[0]?.image;
    if (!app || !base) throw new Error('no image');
    expect(app.config.architecture).toBe('arm64');
    expect(app.layers.length).toBe(2);
    expect(app.layers[0]?.digest).toBe(base.layers[0]?.digest);
    expect(app.config.config?.Env).toEqual(['A=1', 'B=3', 'C=4']);
    expect(app.config.config?.Labels).toEqual({ x: '1', y: '2' });
    expect(app.config.history?.length).toBe(2);
    const out = fresh('unpacked');
    for (const layer of app.layers) await extractLayer(layer, out);
    expect(await listTree(out)).toEqual(await listTree(join(root, 'app')));
    await second.close();

    // the same parent from an oci-archive gives the same image
    await writeBuildOutput(first.images, { transport: 'oci-archive', path: join(root, 'base.tar') });
    const fromArchive = await buildImages(
      parseBuildSpec(
        'images:\n  - parent: oci-archive:base.tar:base\n    os: linux\n    layers: [app]\n    tags: [app]\n    config: {Env: [B=3, C=4], Labels: {y: "2"}, User: app}\n',
      ),
      { store: await OciLayout.create(fresh('store3')), baseDir: root },
    );
    expect(fromArchive.images[0]?.image.digest).toBe(app.digest);
    await fromArchive.close();
    await expect(
      buildImages(parseBuildSpec('images:\n  - {parent: "oci:layout:nope", os: linux}\n'), {
        store: await OciLayout.create(fresh('store4')),
        baseDir: root,
      }),
    ).rejects.toMatchObject({ code: 'ERR_MANIFEST_UNKNOWN' });
  });

  it('refuses one tag on two images of one platform; two platforms share it as an index', async () => {
    const store = await OciLayout.create(fresh('dup'));
    const spec = parseBuildSpec(
      'images:\n  - {os: linux, architecture: arm64, tags: [x]}\n  - {os: linux, architecture: arm64, variant: v8, tags: [x]}\n',
    );
    // linux/arm64 and linux/arm64/v8 are one platform once normalized
    await expect(buildImages(spec, { store })).rejects.toThrow(
      /images\[1\]\.tags: "x" is already the tag of images\[0\], which has the same platform linux\/arm64/,
    );
    const two = await buildImages(
      parseBuildSpec(
        'images:\n  - {os: linux, architecture: amd64, tags: [x]}\n  - {os: linux, architecture: arm64, tags: [x, y]}\n',
      ),
      { store },
    );
    const entries = namedImages(two.images);
    expect(entries.map((e) => ('index' in e ? `index ${e.ref}` : `image ${e.ref}`))).toEqual([
      'index x',
      'image y',
    ]);
  });

  it('merges the directories of one `layer` in order; refuses layer with layers', async () => {
    const root = fresh('merge');
    await writeTree(join(root, 'a'), { 'd/one': '1', 'd/two': '2', keep: 'a', over: 'a' });
    await writeTree(join(root, 'b'), { d: 'file now', over: 'b', extra: { link: 'over' } });
    const a = await scanDirectory(join(root, 'a'));
    const b = await scanDirectory(join(root, 'b'));
    const merged = mergeTrees([a, b]);
    expect([...merged.keys()].sort()).toEqual(['d', 'extra', 'keep', 'over']);
    expect(merged.get('d')?.type).toBe('file');
    expect(merged.get('over')?.digest).toBe(b.get('over')?.digest);
    expect(merged.get('keep')?.digest).toBe(a.get('keep')?.digest);
    expect(() =>
      parseBuildSpec('images:\n  - {os: linux, architecture: amd64, layer: a, layers: [b]}\n', 'x.yaml'),
    ).toThrow(/x\.yaml:2:\d+: images\.0\.layer: give either layer or layers, not both/);
    expect(() => parseBuildSpec('mode: podman\nimages:\n  - {os: linux}\n', 'm.yaml')).toThrow(
      /m\.yaml:1:7: mode:/,
    );
    const spec = parseBuildSpec(
      'images:\n  - {os: linux, architecture: amd64}\n  - {parent: {image: 0}, os: linux}\n',
    );
    expect(spec.images[1]?.parent).toBe(0);
  });
});
