// `ocidelta chain` against the real docker-registry: a three-level tree (a two-platform base,
// a runtime on it per platform, an app on the runtime) plus an independent image; dry run
// states, publish, published images left alone, a version bump rebuilding the children, a
// selection, a loop, and a failed build that stops only its descendants. Results are read
// back with skopeo and unpacked with umoci.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { listTree, writeTree } from '../../core/test/build-helpers.js';
import {
  type RunningRegistry,
  skopeo,
  skopeoInspect,
  skopeoInspectRaw,
  startRegistry,
} from '../../registry/test/harness/index.js';
import type { ChainEntry } from '../src/chain/run.js';
import { runCapture } from './support.js';

const exec = promisify(execFile);

interface ChainJson {
  order: ChainEntry[];
}

describe.skipIf(!haveBinaries('docker-registry', 'skopeo', 'umoci'))('ocidelta chain', () => {
  let reg: RunningRegistry;
  let work: string;
  let tree: string;
  let prefix: string;

  const chain = async (args: string[], dir = tree) => {
    const r = await runCapture(['chain', dir, '--prefix', prefix, '--insecure', ...args], {
      cwd: work,
      env: { SOURCE_DATE_EPOCH: '1700000000' },
    });
    return { ...r, json: () => JSON.parse(r.out) as ChainJson };
  };
  const states = (j: ChainJson) => Object.fromEntries(j.order.map((e) => [e.name, e.state]));

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-chain-'));
    reg = await startRegistry();
    prefix = `${reg.host}/team`;
    tree = join(work, 'tree');
    await writeTree(join(tree, 'base'), {
      VERSION: '1.0\n',
      'image.yaml':
        'images:\n' +
        '  - {os: linux, architecture: amd64, layers: [rootfs-amd64]}\n' +
        '  - {os: linux, architecture: arm64, variant: v8, layers: [rootfs-arm64]}\n',
      'rootfs-amd64/etc/os-release': 'ID=base\nARCH=amd64\n',
      'rootfs-amd64/bin/sh': { content: '#!amd64', mode: 0o755 },
      'rootfs-arm64/etc/os-release': 'ID=base\nARCH=arm64\n',
      'rootfs-arm64/bin/sh': { content: '#!arm64', mode: 0o755 },
    });
    await writeTree(join(tree, 'runtime'), {
      changelog:
        'runtime (2.1-1) bookworm; urgency=medium\n\n  * Node 20.\n\n -- Team <t@example.com>  Mon, 30 Nov 2026 10:00:00 +0000\n\n' +
        'runtime (2.0-1) bookworm; urgency=medium\n\n  * First.\n',
      'image.yaml':
        'images:\n' +
        '  - {parent: "@base", os: linux, architecture: amd64, layers: [fs-amd64], config: {Env: [RUNTIME=2]}}\n' +
        '  - {parent: "@base", os: linux, architecture: arm64, variant: v8, layers: [fs-arm64]}\n',
      'fs-amd64/etc/os-release': 'ID=base\nARCH=amd64\n',
      'fs-amd64/bin/sh': { content: '#!amd64', mode: 0o755 },
      'fs-amd64/usr/lib/runtime': 'rt-amd64',
      'fs-arm64/etc/os-release': 'ID=base\nARCH=arm64\n',
      'fs-arm64/bin/sh': { content: '#!arm64', mode: 0o755 },
      'fs-arm64/usr/lib/runtime': 'rt-arm64',
    });
    await writeTree(join(tree, 'app'), {
      VERSION: '3.0.1\n',
      'image.yaml':
        'images:\n  - {parent: "@runtime", os: linux, architecture: amd64, layers: [fs], config: {Cmd: [/app/run]}}\n',
      'fs/etc/os-release': 'ID=base\nARCH=amd64\n',
      'fs/bin/sh': { content: '#!amd64', mode: 0o755 },
      'fs/usr/lib/runtime': 'rt-amd64',
      'fs/app/run': { content: '#!/bin/sh\n', mode: 0o755 },
    });
    await writeTree(join(tree, 'tools'), {
      VERSION: '7\n',
      'image.yaml': 'images:\n  - {os: linux, architecture: amd64, layers: [fs]}\n',
      'fs/usr/bin/tool': { content: 'tool', mode: 0o755 },
    });
    await writeTree(join(tree, 'docs'), { 'README.md': 'not an image: no image.yaml\n' });
  });

  afterAll(async () => {
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('dry run: parents first, every image to_build on an empty registry', async () => {
    const r = await chain(['--dry-run', '--json']);
    expect(r.code, r.err).toBe(0);
    const j = r.json();
    expect(j.order.map((e) => [e.name, e.ref, e.state, e.parents])).toEqual([
      ['base', `${prefix}/base:1.0`, 'to_build', []],
      ['runtime', `${prefix}/runtime:2.1-1`, 'to_build', ['base']],
      ['app', `${prefix}/app:3.0.1`, 'to_build', ['runtime']],
      ['tools', `${prefix}/tools:7`, 'to_build', []],
    ]);
    // nothing was pushed
    expect((await chain(['--dry-run', '--json'])).json().order.every((e) => e.state === 'to_build')).toBe(
      true,
    );
  });

  it('--publish builds, verifies and pushes in order; the results are what the specs say', async () => {
    const r = await chain(['--publish', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(states(r.json())).toEqual({
      base: 'published',
      runtime: 'published',
      app: 'published',
      tools: 'published',
    });
    const base = JSON.parse(await skopeoInspectRaw(`${prefix}/base:1.0`)) as {
      mediaType: string;
      manifests: { platform: { architecture: string } }[];
    };
    expect(base.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(base.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    // the runtime's arm64 image builds on the base's arm64 image
    const baseArm = await skopeo([
      '--override-arch',
      'arm64',
      '--override-variant',
      'v8',
      'inspect',
      '--tls-verify=false',
      '--no-creds',
      `docker://${prefix}/base:1.0`,
    ]);
    const rtArm = await skopeo([
      '--override-arch',
      'arm64',
      '--override-variant',
      'v8',
      'inspect',
      '--tls-verify=false',
      '--no-creds',
      `docker://${prefix}/runtime:2.1-1`,
    ]);
    const baseLayers = (JSON.parse(baseArm) as { Layers: string[] }).Layers;
    const rtLayers = (JSON.parse(rtArm) as { Layers: string[] }).Layers;
    expect(rtLayers.slice(0, 1)).toEqual(baseLayers);
    expect(rtLayers.length).toBe(2);
    const app = await skopeoInspect(`${prefix}/app:3.0.1`);
    expect((app.Layers as string[]).length).toBe(3);
    expect(app.Env).toEqual(['RUNTIME=2']);
    await skopeo([
      'copy',
      '--src-tls-verify=false',
      '--src-no-creds',
      `docker://${prefix}/app:3.0.1`,
      `oci:${join(work, 'app-oci')}:x`,
    ]);
    await exec('umoci', [
      'unpack',
      '--rootless',
      '--image',
      `${join(work, 'app-oci')}:x`,
      join(work, 'app-bundle'),
    ]);
    expect(await listTree(join(work, 'app-bundle', 'rootfs'))).toEqual(
      await listTree(join(tree, 'app', 'fs')),
    );
  });

  it('published images are left alone; a new parent version rebuilds its descendants only', async () => {
    const again = await chain(['--dry-run', '--json']);
    expect(Object.values(states(again.json()))).toEqual(['published', 'published', 'published', 'published']);
    const before = await skopeoInspect(`${prefix}/app:3.0.1`);
    await writeFile(
      join(tree, 'runtime', 'changelog'),
      'runtime (2.2-1) bookworm; urgency=medium\n\n  * Node 22.\n\n -- Team <t@example.com>  Tue, 1 Dec 2026 10:00:00 +0000\n',
    );
    await writeFile(join(tree, 'runtime', 'fs-amd64', 'usr', 'lib', 'runtime'), 'rt-amd64 v2.2');
    const plan = (await chain(['--dry-run', '--json'])).json();
    expect(plan.order.map((e) => [e.name, e.state, e.reason])).toEqual([
      ['base', 'published', undefined],
      ['runtime', 'to_build', 'new'],
      ['app', 'to_build', 'parent'],
      ['tools', 'published', undefined],
    ]);
    const text = await chain(['--dry-run']);
    expect(text.out).toMatch(
      /to_build\s+app\s+\S+app:3\.0\.1\s+\(parents: runtime; rebuilt: a parent is rebuilt\)/,
    );
    const selected = (await chain(['--dry-run', '--json', '--select', 'runt*'])).json();
    expect(selected.order.map((e) => e.name)).toEqual(['base', 'runtime']);
    const r = await chain(['--publish', '--json', '--select', 'app']);
    expect(r.code, r.err).toBe(0);
    expect(states(r.json())).toEqual({ base: 'published', runtime: 'published', app: 'published' });
    const after = await skopeoInspect(`${prefix}/app:3.0.1`);
    // the app was rebuilt on the new runtime (builds are reproducible: same inputs, same digest)
    expect(after.Digest).not.toBe(before.Digest);
    const runtime = await skopeoInspect(`${prefix}/runtime:2.2-1`);
    expect((after.Layers as string[]).slice(0, 2)).toEqual(runtime.Layers);
    const none = await chain(['--dry-run', '--select', 'nothing-*']);
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/--select nothing-\* matches no image of the tree/);
  });

  it('refuses a loop, naming it', async () => {
    const loop = join(work, 'loop');
    for (const [name, parent] of [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'a'],
    ] as const) {
      await writeTree(join(loop, name), {
        VERSION: '1\n',
        'image.yaml': `images:\n  - {parent: "@${parent}", os: linux, architecture: amd64}\n`,
      });
    }
    const r = await chain(['--dry-run'], loop);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/dependency loop: a -> b -> c -> a/);
  });

  it('a failed build stops its descendants and reports the rest (exit 2)', async () => {
    const broken = join(work, 'broken');
    await writeTree(join(broken, 'root'), {
      VERSION: '1\n',
      'image.yaml': 'images:\n  - {os: linux, architecture: amd64, layers: [missing-dir]}\n',
    });
    await writeTree(join(broken, 'leaf'), {
      VERSION: '1\n',
      'image.yaml': 'images:\n  - {parent: "@root", os: linux, layers: [fs]}\n',
      'fs/x': 'x',
    });
    await writeTree(join(broken, 'other'), {
      VERSION: '1\n',
      'image.yaml': 'images:\n  - {os: linux, architecture: amd64, layers: [fs]}\n',
      'fs/y': 'y',
    });
    const r = await chain(['--publish', '--json'], broken);
    expect(r.code).toBe(2);
    const byName = Object.fromEntries(r.json().order.map((e) => [e.name, e]));
    expect(byName.root?.state).toBe('error');
    expect(byName.root?.error).toMatch(/layer directory .*missing-dir does not exist/);
    expect(byName.leaf).toMatchObject({ state: 'to_build', blockedBy: 'root' });
    expect(byName.other?.state).toBe('published');
    await skopeoInspect(`${prefix}/other:1`);
    await expect(skopeoInspect(`${prefix}/leaf:1`)).rejects.toThrow();
  });
});
