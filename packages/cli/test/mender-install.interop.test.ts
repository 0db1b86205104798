/**
 * Installs with the real Mender client (Debian mender-client 3.4, standalone `mender install`):
 * every artifact `ocidelta app` writes, for the classic and the containerd store, on an update
 * whose changed base layer is ~160 MiB (2.5x the device xdelta3's 64 MiB window) with its files in
 * another tar order (content moved far). The client runs a test `app` update module
 * (fixtures/device/app-module.sh: the app module's deep-delta steps with the stock xdelta3) and a
 * fake `docker` whose `image save` returns the device store's export of the current image and
 * whose `image load` checks the image with skopeo, as docker load would.
 *
 * Client-side facts pinned here: artifact_depends are checked against the installed release,
 * ArtifactVerifyKey makes signatures mandatory, a module-only install commits itself, and the
 * client reads none, gzip and xz artifacts but refuses zstd ones.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { type Image, parsePlatform, Reference, readDockerArchive, writeDockerArchive } from '@ocidelta/core';
import { openArtifactPayload, readArtifact } from '@ocidelta/core/mender';
import { RegistryClient } from '@ocidelta/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries, isCI } from '../../../test-support/binaries.js';
import { bigLayerFiles, updatedFiles } from '../../delta/test/fixtures/big-layers.js';
import { binaryish } from '../../delta/test/fixtures/images.js';
import {
  buildTestLayout,
  type RunningRegistry,
  skopeoPushLayout,
  startRegistry,
  type TestLayerSpec,
} from '../../registry/test/harness/index.js';
import { runCli } from '../src/cli.js';
import { appCommand } from '../src/commands/app.js';
import { artifactVerifyInstallCommand } from '../src/commands/artifact-verify-install.js';
import { run, writeComposeProject } from './app-helpers.js';
import { captureIO } from './support.js';

const MODULES = '/usr/share/mender/modules/v3';
const MODULE = join(MODULES, 'app');
const ARTIFACT_INFO = '/etc/mender/artifact_info';
const MARKER = 'Test update module "app"';
const FIXTURES = fileURLToPath(new URL('./fixtures/device/', import.meta.url));
const PLATFORM = 'linux/amd64';

/** The client's fixed paths must be writable (root) and the module slot ours or free. */
function deviceReady(): boolean {
  if (!haveBinaries('mender', 'docker-registry', 'skopeo', 'xdelta3', 'tar', 'gzip', 'zstd')) return false;
  const root = process.getuid?.() === 0;
  const ours = !existsSync(MODULE) || readFileSync(MODULE, 'utf8').includes(MARKER);
  if (root && ours) return true;
  const why = root ? `${MODULE} exists and is not the test module` : 'the Mender client tests need root';
  if (isCI) throw new Error(`${why}; CI=true so this is a failure, not a skip`);
  process.stderr.write(`\n!!! SKIPPING the Mender client install tests: ${why}\n\n`);
  return false;
}

const files = (specs: ReturnType<typeof bigLayerFiles>): TestLayerSpec => ({
  files: Object.fromEntries(specs.map((f) => [f.path, f.content])),
  keepOrder: true,
  gzipLevel: 1,
});
const appLayer = (v: string): TestLayerSpec => ({
  files: { 'app/version': `${v}\n`, 'app/main.js': `console.log("v${v}")\n`.repeat(200) },
});

interface Device {
  dir: string;
  install(artifact: string): { code: number | null; out: string };
  commit(): { code: number | null; out: string };
  provides(): string;
  loaded(): Promise<string[]>;
  /** Put what the device's store exports for `ref` (its `docker image save`). */
  save(ref: string, image: Image, store: 'classic' | 'containerd-pulled'): Promise<void>;
}

describe.skipIf(!deviceReady())('installs with the real Mender client', () => {
  let dir: string;
  let registry: RunningRegistry;
  let client: RegistryClient;
  let createdArtifactInfo = false;
  let keyDir: string;
  const img = new Map<string, Image>();
  const ref = (name: string) => `${registry.host}/${name}`;

  async function device(name: string, options: { verifyKey?: string } = {}): Promise<Device> {
    const d = join(dir, 'devices', name);
    const data = join(d, 'data');
    const fake = join(d, 'docker');
    await mkdir(data, { recursive: true });
    await mkdir(join(fake, 'bin'), { recursive: true });
    await mkdir(join(fake, 'saves'), { recursive: true });
    await copyFile(join(FIXTURES, 'docker'), join(fake, 'bin', 'docker'));
    await writeFile(join(data, 'device_type'), 'device_type=rpi4\n');
    const conf = join(d, 'mender.conf');
    await writeFile(
      conf,
      JSON.stringify({
        DeviceTypeFile: join(data, 'device_type'),
        ServerURL: 'https://127.0.0.1:1',
        ...(options.verifyKey ? { ArtifactVerifyKey: options.verifyKey } : {}),
      }),
    );
    const env = { ...process.env, PATH: `${join(fake, 'bin')}:${process.env.PATH}`, FAKE_DOCKER_DIR: fake };
    const mender = (...args: string[]) => {
      const r = spawnSync('mender', ['-c', conf, '-d', data, '--no-syslog', ...args], {
        env,
        encoding: 'utf8',
      });
      return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
    };
    return {
      dir: d,
      install: (artifact) => mender('install', artifact),
      commit: () => mender('commit'),
      provides: () => mender('show-provides').out,
      loaded: async () =>
        existsSync(join(fake, 'loaded'))
          ? (await readdir(join(fake, 'loaded'))).sort().map((f) => join(fake, 'loaded', f))
          : [],
      save: async (r, image, store) => {
        await writeDockerArchive(
          join(fake, 'saves', `${r.replace(/[/:@]/g, '_')}.tar`),
          [{ image, repoTags: [r] }],
          {
            layers: store === 'classic' ? 'uncompressed' : 'stored',
          },
        );
      },
    };
  }

  const project = (name: string, version: string, services: Record<string, string>) =>
    writeComposeProject(
      dir,
      name,
      version,
      Object.fromEntries(Object.entries(services).map(([s, i]) => [s, ref(i)])),
    );

  async function app(args: string[]) {
    const io = captureIO({ cwd: dir, env: {} });
    const code = await runCli(['app', ...args, '-t', 'rpi4', '-p', PLATFORM, '-r', '-m', 'shop'], io, [
      appCommand,
    ]);
    expect(code, io.err()).toBe(0);
    return io.out();
  }

  /** Every image the device loaded is one of `expected`, layer for layer (skopeo already checked the digests). */
  async function expectLoaded(dev: Device, expected: Image[], from: number) {
    const loaded = (await dev.loaded()).slice(from);
    expect(loaded).toHaveLength(expected.length);
    const configs = await Promise.all(
      loaded.map(async (f) => (await readDockerArchive(f)).entries[0]!.image.configDigest),
    );
    expect(configs.sort()).toEqual(expected.map((i) => i.configDigest).sort());
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocidelta-mender-'));
    await mkdir(MODULES, { recursive: true });
    await copyFile(join(FIXTURES, 'app-module.sh'), MODULE);
    if (!existsSync(ARTIFACT_INFO)) {
      await mkdir('/etc/mender', { recursive: true });
      await writeFile(ARTIFACT_INFO, 'artifact_name=factory\n');
      createdArtifactInfo = true;
    }
    keyDir = join(dir, 'keys');
    await mkdir(keyDir);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(keyDir, 'private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(join(keyDir, 'public.pem'), publicKey.export({ type: 'spki', format: 'pem' }));

    registry = await startRegistry();
    client = new RegistryClient({ useDockerConfig: false });
    const base1 = bigLayerFiles(160);
    const layers: Record<string, TestLayerSpec[]> = {
      'shop/web:1': [files(base1), appLayer('1')],
      'shop/web:2': [files(updatedFiles(base1, { reorder: true })), appLayer('2')],
      'shop/db:1': [
        { files: { 'db/schema.sql': 'create table t (id int);\n', 'db/engine': binaryish(77, 512 * 1024) } },
      ],
    };
    for (const [name, specs] of Object.entries(layers)) {
      const layout = await buildTestLayout(
        join(dir, 'layouts', name.replace(/[/:]/g, '-')),
        [{ platform: parsePlatform(PLATFORM), layers: specs }],
        { tag: 'latest', index: false },
      );
      await skopeoPushLayout(layout, registry.host, name);
      img.set(
        name,
        await client.resolveImage(Reference.parse(ref(name)), { platform: parsePlatform(PLATFORM) }),
      );
    }
  }, 600_000);

  afterAll(async () => {
    await registry?.stop();
    await client?.close();
    await rm(MODULE, { force: true });
    if (createdArtifactInfo) await rm(ARTIFACT_INFO, { force: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('classic store, signed: full release then a deep-delta release; depends and signatures enforced', async () => {
    const v1 = await project('v1', '1.0.0', { web: 'shop/web:1', db: 'shop/db:1' });
    const v2 = await project('v2', '1.1.0', { web: 'shop/web:2', db: 'shop/db:1' });
    const cache = join(dir, 'cache-classic');
    const key = join(keyDir, 'private.pem');
    const a1 = join(dir, 'classic-1.mender');
    const a2 = join(dir, 'classic-2.mender');
    await app([v1, '--cache-dir', cache, '--record', '--sign-key', key, '--compression', 'none', '-a', a1]);
    const out2 = JSON.parse(await app([v2, '--cache-dir', cache, '--sign-key', key, '--json', '-a', a2])) as {
      services: { service: string; mode: string; device?: { sourceBytesRead: number } }[];
    };
    expect(Object.fromEntries(out2.services.map((s) => [s.service, s.mode]))).toEqual({
      db: 'unchanged',
      web: 'delta',
    });
    expect(out2.services.find((s) => s.service === 'web')!.device!.sourceBytesRead).toBeGreaterThan(
      160 * 1024 * 1024,
    );

    const dev = await device('classic', { verifyKey: join(keyDir, 'public.pem') });
    // A delta release needs the release it was computed against: refused on a device without it.
    const early = dev.install(a2);
    expect(early.code).not.toBe(0);
    expect(early.out).toMatch(/rootfs-image\.shop\.version|depend/i);

    const r1 = dev.install(a1);
    expect(r1.code, r1.out.slice(-3000)).toBe(0);
    expect(dev.provides()).toContain('rootfs-image.shop.version=1.0.0');
    await expectLoaded(dev, [img.get('shop/web:1')!, img.get('shop/db:1')!], 0);

    // What the device's classic store exports for the installed images.
    await dev.save(ref('shop/web:1'), img.get('shop/web:1')!, 'classic');
    await dev.save(ref('shop/db:1'), img.get('shop/db:1')!, 'classic');

    // Unsigned: refused by a client with ArtifactVerifyKey.
    const unsigned = join(dir, 'classic-2-unsigned.mender');
    await app([v2, '--cache-dir', cache, '-a', unsigned]);
    const refused = dev.install(unsigned);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/signature/i);

    const r2 = dev.install(a2);
    expect(r2.code, r2.out.slice(-3000)).toBe(0);
    expect(r2.out).not.toMatch(/non-seekable|XD3_|checksum mismatch/);
    expect(dev.provides()).toContain('rootfs-image.shop.version=1.1.0');
    await expectLoaded(dev, [img.get('shop/web:2')!, img.get('shop/db:1')!], 2);
    // A module-only install committed itself.
    expect(dev.commit().out).toMatch(/nothing to commit/i);
  });

  it('containerd store, current images pulled from the registry (gzip sources read sequentially)', async () => {
    const v1 = await project('c1', '1.0.0', { web: 'shop/web:1', db: 'shop/db:1' });
    const v2 = await project('c2', '1.1.0', { web: 'shop/web:2', db: 'shop/db:1' });
    const cache = join(dir, 'cache-containerd');
    const a1 = join(dir, 'containerd-1.mender');
    const a2 = join(dir, 'containerd-2.mender');
    await app([v1, '--cache-dir', cache, '--device-store', 'containerd', '-a', a1]);
    // The previous release as a compose file: the device pulled its images from the registry.
    const out2 = JSON.parse(
      await app([
        v2,
        '--cache-dir',
        cache,
        '--device-store',
        'containerd',
        '--previous-manifest',
        v1,
        '--json',
        '-a',
        a2,
      ]),
    ) as {
      services: { service: string; mode: string; imageSize: number; device?: { sourceBytesRead: number } }[];
    };
    const web = out2.services.find((s) => s.service === 'web')!;
    expect(web.mode).toBe('delta');
    // The ring keeps only 64 MiB reachable: far fewer re-reads than the classic store's LRU.
    expect(web.device!.sourceBytesRead).toBeLessThan(2 * 170 * 1024 * 1024);

    const dev = await device('containerd');
    const r1 = dev.install(a1);
    expect(r1.code, r1.out.slice(-3000)).toBe(0);
    await dev.save(ref('shop/web:1'), img.get('shop/web:1')!, 'containerd-pulled');
    await dev.save(ref('shop/db:1'), img.get('shop/db:1')!, 'containerd-pulled');
    const saves = ['shop/web:1', 'shop/db:1'].map((n) =>
      join(dev.dir, 'docker', 'saves', `${ref(n).replace(/[/:@]/g, '_')}.tar`),
    );

    // The offline check agrees before the device is touched.
    const io = captureIO({ cwd: dir });
    const code = await runCli(
      ['artifact', 'verify-install', a2, ...saves.flatMap((s) => ['--current', s])],
      io,
      [artifactVerifyInstallCommand],
    );
    expect(code, io.err()).toBe(0);
    expect(io.out()).toMatch(/from compressed sources/);

    const r2 = dev.install(a2);
    expect(r2.code, r2.out.slice(-3000)).toBe(0);
    expect(r2.out).not.toMatch(/non-seekable|XD3_|checksum mismatch/);
    expect(dev.provides()).toContain('rootfs-image.shop.version=1.1.0');
    await expectLoaded(dev, [img.get('shop/web:2')!, img.get('shop/db:1')!], 2);
    // about 70 s alone on two cores; more when other suites share the machine
  }, 300_000);

  it('the client installs an xz artifact whose images.tar.gz is a stored gzip stream', async () => {
    const v1 = await project('x1', '1.0.0', { db: 'shop/db:1' });
    const xz = join(dir, 'x.mender');
    const gz = join(dir, 'x-gz.mender');
    await app([v1, '--no-cache', '--compression', 'xz', '-a', xz]);
    await app([v1, '--no-cache', '-a', gz]);
    expect((await readArtifact(xz)).compression).toBe('xz');
    const parts: Buffer[] = [];
    for await (const c of await openArtifactPayload(xz, 'images.tar.gz')) parts.push(c as Buffer);
    const images = Buffer.concat(parts);
    expect([images[0], images[1]]).toEqual([0x1f, 0x8b]);
    // Stored: the gzip stream is its content plus framing, never smaller.
    expect(images.length).toBeGreaterThan(gunzipSync(images).length);
    // The same release in gzip holds the same images.
    const gzImages: Buffer[] = [];
    for await (const c of await openArtifactPayload(gz, 'images.tar.gz')) gzImages.push(c as Buffer);
    expect(gunzipSync(images).equals(gunzipSync(Buffer.concat(gzImages)))).toBe(true);
    const dev = await device('xz');
    const r = dev.install(xz);
    expect(r.code, r.out.slice(-3000)).toBe(0);
    expect(dev.provides()).toContain('rootfs-image.shop.version=1.0.0');
    await expectLoaded(dev, [img.get('shop/db:1')!], 0);
  });

  it('the client refuses a zstd-compressed artifact ("wrong element: header.tar.zst")', async () => {
    const v1 = await project('z1', '1.0.0', { db: 'shop/db:1' });
    const plain = join(dir, 'z-none.mender');
    await app([v1, '--no-cache', '--compression', 'none', '-a', plain]);
    // Recompress header and data with the zstd tool, manifest checksum of the header updated.
    const z = join(dir, 'zst');
    await mkdir(z);
    run('tar', ['-xf', plain, '-C', z]);
    run('zstd', ['-q', '--rm', join(z, 'header.tar')]);
    run('zstd', ['-q', '--rm', join(z, 'data', '0000.tar')]);
    const sum = run('sha256sum', [join(z, 'header.tar.zst')]).split(' ')[0];
    const manifest = readFileSync(join(z, 'manifest'), 'utf8').replace(
      /^[0-9a-f]{64} {2}header\.tar$/m,
      `${sum}  header.tar.zst`,
    );
    await writeFile(join(z, 'manifest'), manifest);
    const zst = join(dir, 'z.mender');
    run('tar', ['-cf', zst, '-C', z, 'version', 'manifest', 'header.tar.zst', 'data/0000.tar.zst']);
    const dev = await device('zstd');
    const r = dev.install(zst);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/header\.tar\.zst/);
    // The same artifact uncompressed installs.
    expect(dev.install(plain).code).toBe(0);
    // So asking for zstd warns.
    const io = captureIO({ cwd: dir, env: {} });
    const code = await runCli(
      [
        'app',
        v1,
        '--no-cache',
        '--compression',
        'zstd',
        '--dry-run',
        '-t',
        'rpi4',
        '-p',
        PLATFORM,
        '-r',
        '-m',
        'shop',
      ],
      io,
      [appCommand],
    );
    expect(code).toBe(0);
    expect(io.err()).toMatch(/zstd: Mender clients 3\.x cannot read it/);
  });
});
