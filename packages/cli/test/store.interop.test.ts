/**
 * Build farms through the registry (real docker-registry, images pushed with skopeo): runners
 * with separate caches share deep deltas and release records in a store repository. Runner B
 * takes A's deltas from the store; runner C, with an empty cache and no git history, finds the
 * previous release there; two runners racing on one store both produce valid artifacts; a
 * poisoned store entry is rejected with a warning and computed again; `store ls|prune`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestOf, Reference } from '@ocidelta/core';
import { readArtifact } from '@ocidelta/core/mender';
import { RegistryClient } from '@ocidelta/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import {
  buildTestLayout,
  pseudoRandom,
  type RunningRegistry,
  skopeoPushLayout,
  startRegistry,
  type TestLayerSpec,
} from '../../registry/test/harness/index.js';
import { type BuildAppOptions, buildAppArtifact } from '../src/app/build-app-artifact.js';
import { deltaTag } from '../src/app/store-format.js';
import { runCli } from '../src/cli.js';
import { deltaImageCommand } from '../src/commands/delta-image.js';
import { storeLsCommand, storePruneCommand } from '../src/commands/store.js';
import { writeComposeProject } from './app-helpers.js';
import { captureIO } from './support.js';

const PLATFORM = 'linux/arm64';
const layer = (seed: string, size: number, patch?: string): TestLayerSpec => {
  const bin = pseudoRandom(size, seed);
  if (patch) bin.write(patch, 1000);
  return { files: { 'usr/lib/data.bin': bin, 'etc/version': `${seed} ${patch ?? ''}\n` } };
};
const IMAGES: Record<string, TestLayerSpec[]> = {
  'web:v1': [layer('web-base', 256 * 1024), layer('web-app', 64 * 1024)],
  'web:v2': [layer('web-base', 256 * 1024), layer('web-app', 64 * 1024, 'CHANGED')],
  'db:v1': [layer('db-base', 128 * 1024)],
  'db:v2': [layer('db-base', 128 * 1024, 'PATCH')],
};

describe.skipIf(!haveBinaries('docker-registry', 'skopeo'))('build farms: the store in a registry', () => {
  let dir: string;
  let registry: RunningRegistry;
  let store: string;
  const ref = (name: string) => `${registry.host}/farm/${name}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocidelta-store-'));
    registry = await startRegistry({ deleteEnabled: true });
    store = `${registry.host}/ocidelta/store`;
    for (const [name, layers] of Object.entries(IMAGES)) {
      const layout = await buildTestLayout(
        join(dir, 'layouts', name.replace(':', '-')),
        [{ platform: { os: 'linux', architecture: 'arm64' }, layers }],
        { tag: 'latest', index: true },
      );
      await skopeoPushLayout(layout, registry.host, `farm/${name}`);
    }
  }, 120_000);
  afterAll(async () => {
    await registry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A runner: its own project checkout (no git) and cache directory. */
  async function runner(
    name: string,
    version: string,
    tag: 'v1' | 'v2',
    extra: Partial<BuildAppOptions> = {},
  ) {
    const compose = await writeComposeProject(join(dir, name), `p-${version}`, version, {
      web: ref(`web:${tag}`),
      db: ref(`db:${tag}`),
    });
    const warnings: string[] = [];
    const result = await buildAppArtifact({
      composeFile: compose,
      deviceTypes: ['dev'],
      platform: PLATFORM,
      manifestName: 'farm',
      version,
      store,
      cacheDir: join(dir, name, 'cache'),
      cwd: join(dir, name),
      env: {},
      artifactFilename: join(dir, name, `farm-${version}.mender`),
      onEvent: (e) => {
        if (e.type === 'log' && e.level === 'warn') warnings.push(e.message);
      },
      ...extra,
    });
    return { result, warnings };
  }

  it('runner A computes and shares; B takes the deltas from the store; C finds the release there', async () => {
    // Release 1 recorded in the store by runner A.
    const a1 = await runner('a', '1', 'v1', { record: true });
    expect(a1.result.storeRecorded).toBe(`${registry.host}/ocidelta/store`);
    // Runner A builds release 2 against it: computes both deltas and pushes them.
    const a2 = await runner('a', '2', 'v2');
    expect(a2.result.previous?.source).toBe('cache');
    expect(a2.result.services.map((s) => [s.service, s.mode, s.deltaFrom])).toEqual([
      ['db', 'delta', 'computed'],
      ['web', 'delta', 'computed'],
    ]);
    // Runner B: empty cache, no git: the previous release and both deltas come from the store.
    const b2 = await runner('b', '2', 'v2');
    expect(b2.result.previous).toMatchObject({ source: 'store', version: '1' });
    expect(b2.result.services.map((s) => s.deltaFrom)).toEqual(['store', 'store']);
    expect(b2.warnings).toEqual([]);
    const [ia, ib] = [
      await readArtifact(a2.result.artifactFile!),
      await readArtifact(b2.result.artifactFile!),
    ];
    expect(ib.payloads).toEqual(ia.payloads); // same images.tar.gz content, byte for byte
    // Runner C: nothing but the store; records release 2 there.
    const c2 = await runner('c', '2', 'v2', { dryRun: true });
    expect(c2.result.previous).toMatchObject({ source: 'store', version: '1' });
  }, 120_000);

  it('a poisoned store entry is rejected with a warning and computed again, never shipped', async () => {
    // Overwrite the web delta's tag with a record of the right key and a garbage image.img.
    const client = new RegistryClient({ useDockerConfig: false });
    try {
      const repo = Reference.parse(`${store}:x`);
      const list = await client.listTags(repo);
      const webTag = list.find((t) => t.startsWith('delta-'))!;
      const m = await client.getManifest(repo.withTag(webTag));
      const manifest = JSON.parse(m.bytes.toString()) as { layers: { digest: string; size: number }[] };
      const junk = Buffer.from(pseudoRandom(manifest.layers[0]!.size, 'junk'));
      await client.uploadBlob(repo, junk, { digest: digestOf(junk), size: junk.length });
      manifest.layers[0] = { ...manifest.layers[0]!, digest: digestOf(junk), size: junk.length };
      await client.putManifest(repo.withTag(webTag), Buffer.from(JSON.stringify(manifest)), m.mediaType);
    } finally {
      await client.close();
    }
    const d2 = await runner('d', '2', 'v2');
    expect(d2.warnings.join('\n')).toMatch(/the store's delta is unusable .*computing it/);
    expect(d2.result.services.map((s) => s.deltaFrom).sort()).toEqual(['computed', 'store']);
    // The recomputed delta replaced the poisoned one: the next runner takes both from the store.
    const e2 = await runner('e', '2', 'v2');
    expect(e2.result.services.map((s) => s.deltaFrom)).toEqual(['store', 'store']);
    expect(e2.warnings).toEqual([]);
  }, 120_000);

  it('two runners racing on one key both produce valid artifacts', async () => {
    const fresh = `${registry.host}/ocidelta/race`;
    const [r1, r2] = await Promise.all([
      runner('r1', '2', 'v2', {
        store: fresh,
        previousManifest: join(dir, 'a', 'cache', 'manifests', 'farm', 'previous_artifact.json'),
      }),
      runner('r2', '2', 'v2', {
        store: fresh,
        previousManifest: join(dir, 'a', 'cache', 'manifests', 'farm', 'previous_artifact.json'),
      }),
    ]);
    for (const r of [r1, r2]) {
      expect(r.warnings).toEqual([]);
      expect(r.result.services.every((s) => s.mode === 'delta')).toBe(true);
      expect((await readArtifact(r.result.artifactFile!)).payloads.map((p) => p.name).sort()).toEqual([
        'images.tar.gz',
        'manifests.tar.gz',
      ]);
    }
    // Content-addressed: both pushed the same delta under the same tag.
    const ls = captureIO();
    expect(await runCli(['store', 'ls', fresh, '--json'], ls, [storeLsCommand])).toBe(0);
    const entries = (JSON.parse(ls.out()) as { entries: { kind: string }[] }).entries;
    expect(entries.filter((e) => e.kind === 'delta')).toHaveLength(2);
  }, 120_000);

  it('delta image --store: the first run computes and shares, the second takes it and verifies it', async () => {
    const delta = `${registry.host}/ocidelta/delta-image`;
    const run = async (out: string) => {
      const io = captureIO({ cwd: dir });
      const args = ['delta', 'image', '--current', ref('web:v1'), '--new', ref('web:v2'), '-o', out];
      const code = await runCli([...args, '--platform', PLATFORM, '--store', delta, '--json'], io, [
        deltaImageCommand,
      ]);
      return {
        code,
        json: JSON.parse(io.out() || '{}') as { deltaFrom?: string; size?: number },
        err: io.err(),
      };
    };
    const first = await run(join(dir, 'di-1.img'));
    expect(first).toMatchObject({ code: 0, json: { deltaFrom: 'computed' } });
    const second = await run(join(dir, 'di-2.img'));
    expect(second).toMatchObject({ code: 0, json: { deltaFrom: 'store', size: first.json.size } });
    const { readFile } = await import('node:fs/promises');
    expect((await readFile(join(dir, 'di-2.img'))).equals(await readFile(join(dir, 'di-1.img')))).toBe(true);
  });

  it('store ls lists deltas and records; prune --older-than removes old entries but keeps latest', async () => {
    const ls = captureIO();
    expect(await runCli(['store', 'ls', store], ls, [storeLsCommand])).toBe(0);
    expect(ls.out()).toMatch(/^release .*release-farm-latest {2}farm 1$/m);
    expect(ls.out()).toMatch(/^delta .* -> .*farm\/web:v2 \(linux\/arm64, classic\)$/m);
    const none = captureIO();
    expect(await runCli(['store', 'prune', store, '--older-than', '1d'], none, [storePruneCommand])).toBe(0);
    expect(none.out()).toMatch(/removed 0 entries/);
    const all = captureIO();
    expect(
      await runCli(['store', 'prune', store, '--older-than', '0s', '--json'], all, [storePruneCommand]),
    ).toBe(0);
    const removed = (JSON.parse(all.out()) as { removed: { kind: string; tag: string }[] }).removed;
    expect(removed.filter((e) => e.kind === 'delta').length).toBeGreaterThanOrEqual(2);
    const after = captureIO();
    await runCli(['store', 'ls', store, '--json'], after, [storeLsCommand]);
    const left = (JSON.parse(after.out()) as { entries: { tag: string }[] }).entries.map((e) => e.tag);
    expect(left).toEqual(['release-farm-latest', 'release-farm-v1']);
    expect(deltaTag).toBeTypeOf('function');
    const bad = captureIO();
    expect(await runCli(['store', 'prune', store, '--older-than', 'soon'], bad, [storePruneCommand])).toBe(1);
  });
});
