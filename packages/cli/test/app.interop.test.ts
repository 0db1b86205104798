/**
 * End to end: images pushed with the real skopeo to a real docker-registry, `ocidelta app` run
 * in-process, the artifact checked with `mender-artifact read/validate` and our reader, and a
 * device simulation (tar + stock xdelta3) that must rebuild the new images exactly.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Image, OciLayout, parsePlatform, Reference } from '@ocidelta/core';
import { readArtifact } from '@ocidelta/core/mender';
import { RegistryClient } from '@ocidelta/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import {
  buildTestLayout,
  pseudoRandom,
  type RunningRegistry,
  skopeo,
  skopeoPushLayout,
  startRegistry,
  type TestLayerSpec,
} from '../../registry/test/harness/index.js';
import { buildAppArtifact } from '../src/app/build-app-artifact.js';
import { parseCompose } from '../src/app/compose.js';
import { runCli } from '../src/cli.js';
import { appCommand } from '../src/commands/app.js';
import { artifactVerifyInstallCommand } from '../src/commands/artifact-verify-install.js';
import {
  blobHashes,
  deviceSave,
  expectedSave,
  run,
  simulateDevice,
  writeComposeProject,
} from './app-helpers.js';
import { captureIO } from './support.js';

const PLATFORM = 'linux/arm64';

const patched = (buf: Buffer, at: number, text: string) =>
  Buffer.concat([buf.subarray(0, at), Buffer.from(text), buf.subarray(at + text.length)]);

const base = (seed: string, patch?: string): TestLayerSpec => {
  const bin = pseudoRandom(192 * 1024, `base-${seed}`);
  return {
    files: {
      'usr/lib/base.bin': patch ? patched(bin, 70_000, patch) : bin,
      'etc/os-release': `base ${seed}\n`,
    },
  };
};
const app = (seed: string, version: string): TestLayerSpec => ({
  files: { 'app/app.bin': pseudoRandom(96 * 1024, `app-${seed}`), 'app/version': `${version}\n` },
});

/** Image specs per platform: the arm64 image differs from the amd64 one. */
type Layers = (arch: string) => TestLayerSpec[];

const IMAGES: Record<string, Layers> = {
  'web:v1': (a) => [base(`web-${a}`), app(`web-${a}`, '1')],
  'web:v2': (a) => [base(`web-${a}`), app(`web-${a}`, '2-changed-app')], // changed app layer
  'db:v1': (a) => [base(`db-${a}`)], // unchanged in v2
  'api:v1': (a) => [base(`api-${a}`), app(`api-${a}`, '1')],
  'api:v2': (a) => [base(`api-${a}`, 'PATCHED-BASE'), app(`api-${a}`, '1')], // changed base layer
  'worker:v1': (a) => [base(`w-${a}`), app(`w1-${a}`, '1'), app(`w2-${a}`, '1')],
  'worker:v2': (a) => [base(`w-${a}`), app(`w1-${a}`, '2')], // fewer layers: full
  'cache:v1': (a) => [base(`cache-${a}`)], // new service in v2
  'old:v1': (a) => [base(`old-${a}`)], // removed in v2
};

describe.skipIf(!haveBinaries('docker-registry', 'skopeo', 'mender-artifact', 'xdelta3', 'tar'))(
  'ocidelta app end to end (real registry, mender-artifact, xdelta3)',
  () => {
    let registry: RunningRegistry;
    let dir: string;
    let client: RegistryClient;
    const images = new Map<string, Image>(); // "web:v1" -> arm64 image

    const ref = (name: string) => `${registry.host}/${name}`;
    const image = async (name: string) => {
      const cached = images.get(name);
      if (cached) return cached;
      const img = await client.resolveImage(Reference.parse(ref(name)), {
        platform: parsePlatform(PLATFORM),
      });
      images.set(name, img);
      return img;
    };

    const writeProject = (name: string, version: string, services: Record<string, string>) =>
      writeComposeProject(
        dir,
        name,
        version,
        Object.fromEntries(Object.entries(services).map(([s, i]) => [s, ref(i)])),
      );

    async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
      const io = captureIO({ cwd: dir, env: env });
      const code = await runCli(['app', ...args], io, [appCommand]);
      return { code, out: io.out(), err: io.err() };
    }

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ocidelta-app-e2e-'));
      registry = await startRegistry();
      client = new RegistryClient({ useDockerConfig: false });
      for (const [name, layers] of Object.entries(IMAGES)) {
        const layout = await buildTestLayout(
          join(dir, 'layouts', name.replace(':', '-')),
          ['amd64', 'arm64'].map((architecture) => ({
            platform: { os: 'linux', architecture },
            layers: layers(architecture),
          })),
          { tag: 'latest', index: true },
        );
        await skopeoPushLayout(layout, registry.host, name);
      }
    }, 120_000);

    afterAll(async () => {
      await registry?.stop();
      await client?.close();
      await rm(dir, { recursive: true, force: true });
    });

    /** Every image of a device result must equal what `docker save` of the new image holds. */
    async function expectRebuilt(result: Awaited<ReturnType<typeof simulateDevice>>, work: string) {
      for (const img of result.images) {
        const name = img.urlNew.slice(registry.host.length + 1);
        const expected = await expectedSave(await image(name), join(work, 'expected', img.id));
        expect(await blobHashes(img.dir), `${name} rebuilt blobs`).toEqual(await blobHashes(expected));
        for (const [blob, hash] of await blobHashes(img.dir)) expect(hash).toBe(blob);
        // The rebuilt archive is a valid image for an independent reader.
        const inspected = JSON.parse(run('skopeo', ['inspect', `docker-archive:${img.tar}`])) as {
          Layers: string[];
        };
        expect(inspected.Layers).toHaveLength((await image(name)).layers.length);
      }
    }

    const cacheDir = () => join(dir, 'cache');

    it('v1: no previous release, every service ships full; --record stores the release', async () => {
      const compose = await writeProject('v1', '1.0.0', {
        web: 'web:v1',
        db: 'db:v1',
        api: 'api:v1',
        worker: 'worker:v1',
        old: 'old:v1',
      });
      const out = join(dir, 'v1.mender');
      const r = await cli([
        compose,
        '-t',
        'rpi4',
        '-p',
        PLATFORM,
        '-r',
        '--record',
        '-a',
        out,
        '--cache-dir',
        cacheDir(),
        '-m',
        'shop',
      ]);
      expect(r.err).not.toMatch(/internal error/);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/web\s+full/);
      expect(r.err).toMatch(/MENDER_PAT is not set: upload skipped/);
      run('mender-artifact', ['validate', out]);
      const read = run('mender-artifact', ['read', out]);
      expect(read).toContain('shop-1.0.0');
      expect(read).toContain('rootfs-image.shop.version: 1.0.0');
      const info = await readArtifact(out);
      expect(info.payloads.map((p) => p.name)).toEqual(['images.tar.gz', 'manifests.tar.gz']);
      expect(info.typeInfo.artifact_depends ?? {}).toEqual({});
      const device = await simulateDevice(out, join(dir, 'dev1'), async () => {
        throw new Error('no deep delta expected in v1');
      });
      expect(device.images).toHaveLength(5);
      expect(
        device.images.every((i) => !i.deepDelta && i.urlCurrent === i.urlNew && i.sumCurrent === i.sumNew),
      ).toBe(true);
      expect(device.metaData).toMatchObject({
        application_name: 'shop',
        orchestrator: 'docker-compose',
        platform: PLATFORM,
        version: '1.0.0', // the release version, as the helper writes it
      });
      expect(device.metaData.images).toEqual(device.images.map((i) => i.id).sort());
      expect(device.manifests).toEqual(['docker-compose.yml']);
      // The image ids are the arm64 manifest digests from the index.
      expect(device.images.find((i) => i.urlNew === ref('web:v1'))!.id).toBe(
        (await image('web:v1')).digest.slice(7),
      );
      await expectRebuilt(device, join(dir, 'dev1'));
    });

    it('v2 (classic store): unchanged, changed app layer, changed base layer, new, removed, more current layers', async () => {
      const compose = await writeProject('v2', '1.1.0', {
        web: 'web:v2',
        db: 'db:v1',
        api: 'api:v2',
        worker: 'worker:v2',
        cache: 'cache:v1',
      });
      const out = join(dir, 'v2.mender');
      const r = await cli([
        compose,
        '-t',
        'rpi4',
        '-p',
        PLATFORM,
        '-r',
        '-a',
        out,
        '--cache-dir',
        cacheDir(),
        '-m',
        'shop',
        '--json',
      ]);
      expect(r.err).not.toMatch(/internal error/);
      expect(r.code).toBe(0);
      const result = JSON.parse(r.out) as {
        services: { service: string; mode: string; imageSize: number; fullSize: number }[];
        dependsOnVersion: string;
      };
      const modes = Object.fromEntries(result.services.map((s) => [s.service, s.mode]));
      expect(modes).toEqual({ api: 'delta', cache: 'full', db: 'unchanged', web: 'delta', worker: 'full' });
      expect(result.dependsOnVersion).toBe('1.0.0');
      for (const s of result.services.filter((x) => x.mode !== 'full'))
        expect(s.imageSize).toBeLessThan(s.fullSize / 4);

      run('mender-artifact', ['validate', out]);
      const read = run('mender-artifact', ['read', out]);
      expect(read).toContain('rootfs-image.shop.version: 1.0.0'); // depends
      expect(read).toContain('rootfs-image.shop.version: 1.1.0'); // provides
      const info = await readArtifact(out);
      expect(info.typeInfo.artifact_depends).toEqual({ 'rootfs-image.shop.version': '1.0.0' });
      expect(info.headerInfo.artifact_provides.artifact_name).toBe('shop-1.1.0');

      const current = new Map<string, Image>();
      for (const n of ['web:v1', 'db:v1', 'api:v1']) current.set(ref(n), await image(n));
      const device = await simulateDevice(out, join(dir, 'dev2'), async (url) =>
        deviceSave(current.get(url)!, join(dir, `save-${url.split('/').pop()}.tar`), 'classic'),
      );
      const byUrl = Object.fromEntries(device.images.map((i) => [i.urlNew.split('/').pop(), i]));
      expect(Object.keys(byUrl).sort()).toEqual(['api:v2', 'cache:v1', 'db:v1', 'web:v2', 'worker:v2']);
      expect(byUrl['web:v2']!.deepDelta).toBe(true);
      expect(byUrl['web:v2']!.urlCurrent).toBe(ref('web:v1'));
      expect(byUrl['web:v2']!.sumCurrent).toBe((await image('web:v1')).digest.slice(7));
      expect(byUrl['db:v1']!.deepDelta).toBe(true);
      expect(byUrl['worker:v2']!.deepDelta).toBe(false);
      // classic store: sources are the current layers by diff_id.
      const webV1 = await image('web:v1');
      expect(byUrl['web:v2']!.sources.sort()).toEqual(
        webV1.layers.map((l) => `blobs/sha256/${l.diffId.slice(7)}`).sort(),
      );
      await expectRebuilt(device, join(dir, 'dev2'));

      // The same check offline: `artifact verify-install` with the device's saves of the current images.
      const saves: string[] = [];
      for (const n of ['web:v1', 'db:v1', 'api:v1']) {
        saves.push(
          await deviceSave(await image(n), join(dir, `named-save-${n.replace(':', '-')}.tar`), 'classic', [
            ref(n),
          ]),
        );
      }
      const io = captureIO({ cwd: dir });
      const code = await runCli(
        ['artifact', 'verify-install', out, ...saves.flatMap((f) => ['--current', f]), '--json'],
        io,
        [artifactVerifyInstallCommand],
      );
      expect(code, io.err()).toBe(0);
      const report = JSON.parse(io.out()) as { images: { urlNew: string; kind: string }[] };
      expect(Object.fromEntries(report.images.map((i) => [i.urlNew.split('/').pop(), i.kind]))).toEqual({
        'api:v2': 'deep-delta',
        'cache:v1': 'full',
        'db:v1': 'deep-delta',
        'web:v2': 'deep-delta',
        'worker:v2': 'full',
      });
      // Without the current images the deep deltas cannot install.
      const missing = captureIO({ cwd: dir });
      expect(
        await runCli(['artifact', 'verify-install', out, '--current', saves[1]!], missing, [
          artifactVerifyInstallCommand,
        ]),
      ).toBe(2);
      expect(missing.err()).toMatch(/no current image archive given holds that image.*\(--current\)/);
    });

    it('containerd store against a compose --previous-manifest: sources name the pulled blobs', async () => {
      const prev = await writeProject('prev-c', '1.0.0', { web: 'web:v1', api: 'api:v1' });
      const compose = await writeProject('v2c', '1.1.0', { web: 'web:v2', api: 'api:v2' });
      const out = join(dir, 'v2c.mender');
      const r = await cli([
        compose,
        '-t',
        'rpi4',
        '-p',
        PLATFORM,
        '-r',
        '-a',
        out,
        '--no-cache',
        '--previous-manifest',
        prev,
        '--device-store',
        'containerd',
      ]);
      expect(r.code).toBe(0);
      expect(r.err).toMatch(/version is unknown/);
      run('mender-artifact', ['validate', out]);
      const current = new Map<string, Image>([
        [ref('web:v1'), await image('web:v1')],
        [ref('api:v1'), await image('api:v1')],
      ]);
      const device = await simulateDevice(out, join(dir, 'dev3'), async (url) =>
        deviceSave(current.get(url)!, join(dir, `csave-${url.split('/').pop()}.tar`), 'containerd-registry'),
      );
      const web = device.images.find((i) => i.urlNew === ref('web:v2'))!;
      expect(web.sources.sort()).toEqual(
        (await image('web:v1')).layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`).sort(),
      );
      await expectRebuilt(device, join(dir, 'dev3'));
    });

    it('--service-file and --service-image override the compose file (manifests rewritten)', async () => {
      const archive = join(dir, 'web-v2.oci.tar');
      await skopeo([
        'copy',
        '--override-arch',
        'arm64',
        '--src-tls-verify=false',
        '--src-no-creds',
        `docker://${ref('web:v2')}`,
        `oci-archive:${archive}:${ref('web:v2')}`,
      ]);
      const compose = await writeProject('v3', '1.2.0', { web: 'web:v1', api: 'api:v2' });
      const out = join(dir, 'v3.mender');
      const prevMeta = join(dir, 'prev-v3.json');
      await writeFile(
        prevMeta,
        JSON.stringify({
          version: '1.1.0',
          services: { web: { image: { ref: ref('web:v1'), hash: (await image('web:v1')).digest } } },
        }),
      );
      const r = await cli([
        compose,
        '-t',
        'rpi4',
        '-p',
        PLATFORM,
        '-r',
        '-a',
        out,
        '--no-cache',
        '--previous-manifest',
        prevMeta,
        '-f',
        'web',
        archive,
        '-i',
        'api',
        ref('api:v1'),
      ]);
      expect(r.err).not.toMatch(/internal error/);
      expect(r.code).toBe(0);
      const device = await simulateDevice(out, join(dir, 'dev4'), async (url) =>
        deviceSave(await image(url.slice(registry.host.length + 1)), join(dir, 'save-v3.tar'), 'classic'),
      );
      expect(device.images.map((i) => i.urlNew).sort()).toEqual([ref('api:v1'), ref('web:v2')]);
      expect(device.images.find((i) => i.urlNew === ref('web:v2'))!.deepDelta).toBe(true);
      const composeOut = parseCompose(
        await readFile(join(dir, 'dev4', 'tmp', 'manifests', 'docker-compose.yml')),
        'shipped',
      );
      expect(Object.fromEntries(composeOut.services.map((s) => [s.name, s.image]))).toEqual({
        api: ref('api:v1'),
        web: ref('web:v2'),
      });
      await expectRebuilt(device, join(dir, 'dev4'));
    });

    it('previous release from git: --release uses the parent commit, --previous-version a tag; versions carry the sha', async () => {
      const repo = join(dir, 'gitrepo');
      const git = (...args: string[]) =>
        run(
          'git',
          ['-c', 'user.name=t', '-c', 'user.email=t@e', '-c', 'commit.gpgsign=false', ...args],
          repo,
        ).trim();
      await mkdir(join(repo, 'deploy'), { recursive: true });
      git('init', '-q', '-b', 'main');
      const compose = join(repo, 'deploy', 'docker-compose.yml');
      await writeFile(join(repo, 'VERSION'), '1.0.0\n');
      await writeFile(compose, `services:\n  web:\n    image: ${ref('web:v1')}\n`);
      git('add', '.');
      git('commit', '-q', '-m', 'v1');
      git('tag', 'v1.0.0');
      await writeFile(join(repo, 'VERSION'), '1.1.0\n');
      await writeFile(compose, `services:\n  web:\n    image: ${ref('web:v2')}\n`);
      git('add', '.');
      git('commit', '-q', '-m', 'v1.1');
      const head = git('rev-parse', 'HEAD');

      let r = await cli([compose, '-t', 'x', '-p', PLATFORM, '--no-cache', '-r', '--dry-run', '--json']);
      expect(r.code).toBe(0);
      let result = JSON.parse(r.out) as {
        version: string;
        softwareName: string;
        previous: { source: string; version: string };
        services: { mode: string }[];
      };
      expect(result.previous).toMatchObject({ source: 'release-parent', version: '1.0.0' });
      expect(result.version).toBe('1.1.0');
      expect(result.softwareName).toBe('gitrepo-deploy');
      expect(result.services[0]!.mode).toBe('delta');

      r = await cli([
        compose,
        '-t',
        'x',
        '-p',
        PLATFORM,
        '--no-cache',
        '--previous-version',
        'v1.0.0',
        '--dry-run',
        '--json',
      ]);
      expect(r.code).toBe(0);
      result = JSON.parse(r.out);
      expect(result.previous).toMatchObject({ source: 'git', version: '1.0.0' });
      expect(result.version).toMatch(new RegExp(`^1\\.1\\.0\\+${head.slice(0, 7)}\\+[0-9a-f-]{36}$`));
    });

    it('--dry-run plans without writing an artifact', async () => {
      const compose = await writeProject('dry', '2.0.0', { web: 'web:v2', db: 'db:v1' });
      const prevMeta = join(dir, 'prev-dry.json');
      await writeFile(
        prevMeta,
        JSON.stringify({
          version: '1.0.0',
          services: { web: { image: { ref: ref('web:v1'), hash: (await image('web:v1')).digest } } },
        }),
      );
      const r = await cli([
        compose,
        '-t',
        'x',
        '-p',
        PLATFORM,
        '-r',
        '--no-cache',
        '--previous-manifest',
        prevMeta,
        '--dry-run',
      ]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/web\s+delta\s+1\/2/);
      expect(r.out).toMatch(/db\s+full/);
      expect(r.out).toContain('dry run');
      expect(run('ls', ['-a', join(dir, 'dry')])).not.toContain('.mender');
    });

    it("a warm cache never yields another platform's image (artifact, dry run, recorded digests)", async () => {
      // Single-platform amd64 images (no index): resolving them for arm64 returns the amd64 digest.
      for (const v of ['1', '2']) {
        const layout = await buildTestLayout(
          join(dir, 'layouts', `solo-v${v}`),
          [{ platform: { os: 'linux', architecture: 'amd64' }, layers: [base('solo'), app('solo', v)] }],
          { tag: 'latest', index: false },
        );
        await skopeoPushLayout(layout, registry.host, `solo:v${v}`);
      }
      const prev = await writeProject('solo-prev', '1.0.0', { solo: 'solo:v1' });
      const compose = await writeProject('solo', '1.1.0', { solo: 'solo:v2' });
      const cache = join(dir, 'cache-solo');
      const common = ['--previous-manifest', prev, '--cache-dir', cache, '-m', 'solo', '-r'];
      const first = await cli([
        compose,
        '-t',
        'qemux86-64',
        '-p',
        'linux/amd64',
        ...common,
        '--record',
        '-a',
        join(dir, 'solo-amd64.mender'),
      ]);
      expect(first.code, first.err).toBe(0);
      expect(first.out).toMatch(/solo\s+delta/);
      // Same command for arm64 devices with the cache now warm: refused, nothing written.
      const armOut = join(dir, 'solo-arm64.mender');
      const second = await cli([compose, '-t', 'rpi4', '-p', 'linux/arm64', ...common, '-a', armOut]);
      expect(second.code).toBe(2);
      expect(second.err).toMatch(/ERR_PLATFORM_NOT_FOUND|is a linux\/amd64 image, not linux\/arm64/);
      expect(run('ls', [dir])).not.toContain('solo-arm64.mender');
      const dry = await cli([compose, '-t', 'rpi4', '-p', 'linux/arm64', ...common, '--dry-run']);
      expect(dry.code).toBe(2);
      expect(dry.err).toMatch(/linux\/amd64 image, not linux\/arm64/);
      // The release recorded for amd64 (digests) is not reused for arm64: its refs are resolved
      // again, so an index image gets the arm64 digest, never the recorded amd64 one.
      const multi = await writeProject('multi', '1.0.0', { web: 'web:v1' });
      const m1 = await cli([
        multi,
        '-t',
        'x',
        '-p',
        'linux/amd64',
        '--cache-dir',
        cache,
        '-m',
        'multi',
        '-r',
        '--record',
        '-a',
        join(dir, 'm1.mender'),
      ]);
      expect(m1.code, m1.err).toBe(0);
      const multi2 = await writeProject('multi2', '1.1.0', { web: 'web:v2' });
      const m2 = await cli([
        multi2,
        '-t',
        'rpi4',
        '-p',
        'linux/arm64',
        '--cache-dir',
        cache,
        '-m',
        'multi',
        '-r',
        '--json',
        '-a',
        join(dir, 'm2.mender'),
      ]);
      expect(m2.code, m2.err).toBe(0);
      const res = JSON.parse(m2.out) as {
        services: { service: string; hash: string; currentHash?: string }[];
      };
      const web = res.services.find((x) => x.service === 'web')!;
      expect(web.hash).toBe((await image('web:v2')).digest);
      expect(web.currentHash).toBe((await image('web:v1')).digest);
    });

    it('bad input: unknown service, image not found, missing compose, invalid YAML, unreadable file, cache not writable', async () => {
      const compose = await writeProject('bad', '1.0.0', { web: 'web:v1' });
      const common = ['-t', 'x', '-p', PLATFORM, '-r', '--no-cache', '-a', join(dir, 'bad.mender')];
      let r = await cli([compose, ...common, '-i', 'nosuch', ref('web:v2')]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/service "nosuch", but .* has no such service.*\(--service-image\)/);
      r = await cli([compose, ...common.slice(0, 4)]);
      expect(r.code).toBe(0); // sanity: the same project builds
      r = await cli([compose, ...common, '-i', 'web', ref('web:nope')]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/web:nope/);
      r = await cli([join(dir, 'missing.yml'), ...common]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/compose file not found/);
      await writeFile(join(dir, 'bad', 'broken.yml'), 'services: [\n web: {');
      r = await cli([join(dir, 'bad', 'broken.yml'), ...common]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/invalid YAML/);
      r = await cli([compose, ...common, '-f', 'web', join(dir, 'no-such-archive.tar')]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/service "web"/);
      await writeFile(join(dir, 'not-a-dir'), 'x');
      r = await cli([
        compose,
        '-t',
        'x',
        '-p',
        PLATFORM,
        '-r',
        '--cache-dir',
        join(dir, 'not-a-dir', 'cache'),
      ]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/is not writable/);
      r = await cli([compose, '-p', PLATFORM]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/--device-type is required/);
    });

    it('auth error from a registry that needs credentials', async () => {
      const secured = await startRegistry({ auth: 'htpasswd' });
      try {
        const compose = join(dir, 'auth', 'compose.yml');
        await mkdir(join(dir, 'auth'), { recursive: true });
        await writeFile(join(dir, 'auth', 'VERSION'), '1\n');
        await writeFile(compose, `services:\n  web:\n    image: ${secured.host}/web:v1\n`);
        const r = await cli([compose, '-t', 'x', '-p', PLATFORM, '-r', '--no-cache'], {
          DOCKER_CONFIG: join(dir, 'no-docker-config'),
        });
        expect(r.code).toBe(2);
        expect(r.err).toMatch(/ERR_AUTH/);
      } finally {
        await secured.stop();
      }
    });

    it('an interrupted run leaves no .mender and a valid cache', async () => {
      const compose = await writeProject('abort', '3.0.0', { web: 'web:v2', api: 'api:v2' });
      const out = join(dir, 'abort.mender');
      const cache = join(dir, 'abort-cache');
      const controller = new AbortController();
      const run1 = buildAppArtifact({
        composeFile: compose,
        deviceTypes: ['x'],
        platform: PLATFORM,
        release: true,
        artifactFilename: out,
        cacheDir: cache,
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'progress' && e.phase === 'image') controller.abort();
        },
      });
      await expect(run1).rejects.toThrow();
      expect(run('ls', ['-a', dir])).not.toMatch(/abort\.mender|\.ocidelta-work/);
      // The cache is still usable: the same build now succeeds from it.
      const ok = await buildAppArtifact({
        composeFile: compose,
        deviceTypes: ['x'],
        platform: PLATFORM,
        release: true,
        artifactFilename: out,
        cacheDir: cache,
      });
      expect(ok.artifactFile).toBe(out);
      run('mender-artifact', ['validate', out]);
      const layout = await OciLayout.open(join(cache, 'oci'));
      for (const s of ok.services) expect(await layout.hasBlob(s.hash)).toBe(true);
    });
  },
);
