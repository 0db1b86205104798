/**
 * Pipeline options on local archives (no registry): --no-delta, signing, compression, a file and
 * an image override for one service, the full-image fallback when a delta would be larger, and
 * the containerd store after an image came from one of our artifacts.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type Image, writeDockerArchive, writeOciArchive } from '@ocidelta/core';
import { openArtifactPayload, readArtifact } from '@ocidelta/core/mender';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { type BuildAppOptions, buildAppArtifact } from '../src/app/build-app-artifact.js';
import { serializeReleaseMetadata } from '../src/app/release-metadata.js';
import { sampleImage } from '../src/commands/demo.js';
import { blobHashes, expectedSave, run, simulateDevice } from './app-helpers.js';
import { runCapture } from './support.js';

let dir: string;
let v1: Image;
let v2: Image;
let small1: Image;
let small2: Image;
const bin = randomBytes(128 * 1024);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-app-options-'));
  v1 = await sampleImage([{ 'bin/app': bin }, { VERSION: '1' }], '1');
  v2 = await sampleImage([{ 'bin/app': bin }, { VERSION: '2' }], '2');
  // Tiny, compressible images: a deep delta archive is bigger than the gzip layers.
  small1 = await sampleImage([{ 'a.txt': 'x'.repeat(100) }], 's1');
  small2 = await sampleImage([{ 'a.txt': 'y'.repeat(100) }], 's2');
  await writeOciArchive(join(dir, 'v1.tar'), [{ image: v1, ref: 'demo.local/app:1' }]);
  await writeOciArchive(join(dir, 'v2.tar'), [{ image: v2, ref: 'demo.local/app:2' }]);
  await writeOciArchive(join(dir, 's1.tar'), [{ image: small1, ref: 'demo.local/small:1' }]);
  await writeOciArchive(join(dir, 's2.tar'), [{ image: small2, ref: 'demo.local/small:2' }]);
  await mkdir(join(dir, 'p'));
  await writeFile(
    join(dir, 'p', 'compose.yaml'),
    'services:\n  app:\n    image: demo.local/app:1\n  small:\n    image: demo.local/small:1\n',
  );
  // Release 1 (full), recorded as previous in the cache "c".
  await buildAppArtifact({
    ...base('c'),
    version: '1',
    record: true,
    serviceFiles: { app: join(dir, 'v1.tar'), small: join(dir, 's1.tar') },
    artifactFilename: join(dir, 'r1.mender'),
  });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function base(cache: string): BuildAppOptions {
  return {
    composeFile: join(dir, 'p', 'compose.yaml'),
    deviceTypes: ['dev'],
    platform: 'linux/arm64',
    manifestName: 'opt',
    cacheDir: join(dir, cache),
    cwd: dir,
    env: {},
  };
}

const v2Files = () => ({ app: join(dir, 'v2.tar'), small: join(dir, 's2.tar') });

describe('app pipeline options', () => {
  it('deltas by default, with a fallback to full when the delta is larger; --no-delta ships full', async () => {
    const warnings: string[] = [];
    const r = await buildAppArtifact({
      ...base('c'),
      version: '2',
      serviceFiles: v2Files(),
      artifactFilename: join(dir, 'r2.mender'),
      onEvent: (e) => {
        if (e.type === 'log' && e.level === 'warn') warnings.push(e.message);
      },
    });
    const modes = Object.fromEntries(r.services.map((s) => [s.service, s.mode]));
    expect(modes).toEqual({ app: 'delta', small: 'full' });
    expect(r.services.find((s) => s.service === 'small')?.reason).toBe(
      'deep delta larger than the full image',
    );
    expect(warnings.join('\n')).toMatch(/larger than the full image/);
    expect(r.dependsOnVersion).toBe('1');

    const full = await buildAppArtifact({
      ...base('c'),
      version: '2b',
      delta: false,
      serviceFiles: v2Files(),
      artifactFilename: join(dir, 'r2-full.mender'),
    });
    expect(full.services.map((s) => s.mode)).toEqual(['full', 'full']);
    expect(full.dependsOnVersion).toBeUndefined();
    // The only service's delta falls back to full: the artifact does not depend on the previous version.
    // Its compose file has a name `docker compose` would not find: shipped as docker-compose.yml.
    await mkdir(join(dir, 'p2'), { recursive: true });
    await writeFile(join(dir, 'p2', 'small-app.yml'), 'services:\n  small:\n    image: demo.local/small:1\n');
    const smallOnly = await buildAppArtifact({
      ...base('c'),
      composeFile: join(dir, 'p2', 'small-app.yml'),
      version: '2c',
      serviceFiles: { small: join(dir, 's2.tar') },
      artifactFilename: join(dir, 'r2-small.mender'),
    });
    expect(smallOnly.services.map((s) => s.mode)).toEqual(['full']);
    expect(smallOnly.dependsOnVersion).toBeUndefined();
    expect((await readArtifact(join(dir, 'r2-small.mender'))).typeInfo.artifact_depends ?? {}).toEqual({});
    if (haveBinaries('tar', 'xdelta3')) {
      const device = await simulateDevice(join(dir, 'r2-small.mender'), join(dir, 'dev-small'), async () => {
        throw new Error('no deep delta expected');
      });
      expect(device.manifests).toEqual(['docker-compose.yml']);
    }
    const info = await readArtifact(join(dir, 'r2-full.mender'));
    expect(info.typeInfo.artifact_depends ?? {}).toEqual({});
    expect(info.size).toBeGreaterThan((await readArtifact(join(dir, 'r2.mender'))).size);
  });

  it('signs with --sign-key and honours --compression', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    await writeFile(join(dir, 'key.pub'), pub);
    const out = join(dir, 'signed.mender');
    await buildAppArtifact({
      ...base('c'),
      version: '3',
      signKey: 'key.pem',
      compression: 'none',
      serviceFiles: v2Files(),
      artifactFilename: out,
    });
    const info = await readArtifact(out, { publicKey: pub });
    expect(info.signed).toBe(true);
    expect(info.signatureVerified).toBe(true);
    expect(info.compression).toBe('none');
    if (haveBinaries('mender-artifact'))
      run('mender-artifact', ['validate', '-k', join(dir, 'key.pub'), out]);
  });

  it('--effort and --jobs change how deltas are computed, never what the device rebuilds', async () => {
    const sizes: number[] = [];
    for (const [effort, jobs] of [
      ['fast', 1],
      ['best', 2],
    ] as const) {
      // A cache of its own: release 1 recorded, no delta computed before.
      await buildAppArtifact({
        ...base(`ce-${effort}`),
        version: '1',
        record: true,
        serviceFiles: { app: join(dir, 'v1.tar'), small: join(dir, 's1.tar') },
        artifactFilename: join(dir, `effort-${effort}-1.mender`),
      });
      const out = join(dir, `effort-${effort}.mender`);
      const r = await buildAppArtifact({
        ...base(`ce-${effort}`),
        version: '2',
        effort,
        jobs,
        serviceFiles: v2Files(),
        artifactFilename: out,
      });
      expect(r.services.find((s) => s.service === 'app')?.mode).toBe('delta');
      sizes.push(r.artifactSize!);
      if (haveBinaries('tar', 'xdelta3')) {
        const device = await simulateDevice(out, join(dir, `dev-effort-${effort}`), async (url) => {
          const file = join(dir, `effort-cur-${url.replace(/\W/g, '_')}.tar`);
          await writeDockerArchive(file, [{ image: url.endsWith('app:1') ? v1 : small1 }], {
            layers: 'uncompressed',
          });
          return file;
        });
        const app = device.images.find((i) => i.urlNew === 'demo.local/app:2')!;
        expect(app.deepDelta).toBe(true);
        expect(await blobHashes(app.dir)).toEqual(
          await blobHashes(await expectedSave(v2, join(dir, `expected-${effort}`))),
        );
      }
    }
    expect(sizes[1]).toBeLessThanOrEqual(sizes[0]!);
    await expect(
      buildAppArtifact({ ...base('c'), effort: 'huge' as 'best', serviceFiles: v2Files() }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS', message: expect.stringMatching(/effort/) });
  });

  it('--compression xz: images.tar.gz stored inside, the same images, smaller than gzip', async () => {
    const sizes: Record<string, number> = {};
    const images: Record<string, Buffer> = {};
    for (const compression of ['gzip', 'xz'] as const) {
      const out = join(dir, `c-${compression}.mender`);
      await buildAppArtifact({
        ...base('c'),
        version: '4',
        compression,
        serviceFiles: v2Files(),
        artifactFilename: out,
      });
      const info = await readArtifact(out);
      expect(info.compression).toBe(compression);
      sizes[compression] = info.size;
      const parts: Buffer[] = [];
      for await (const c of await openArtifactPayload(out, 'images.tar.gz')) parts.push(c as Buffer);
      images[compression] = Buffer.concat(parts);
      if (haveBinaries('mender-artifact')) run('mender-artifact', ['validate', out]);
    }
    const tar = gunzipSync(images.gzip!);
    expect(gunzipSync(images.xz!).equals(tar)).toBe(true);
    expect(images.xz!.length).toBeGreaterThan(tar.length);
    expect(images.gzip!.length).toBeLessThan(tar.length);
    expect(sizes.xz!).toBeLessThan(sizes.gzip!);
  });

  it("-k/--key on the command line signs as --sign-key does (mender-artifact's flag)", async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(dir, 'k2.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const out = join(dir, 'k-signed.mender');
    const files = v2Files();
    const proj = join(dir, 'kproj');
    await mkdir(proj, { recursive: true });
    await writeFile(join(proj, 'compose.yaml'), await readFile(join(dir, 'p', 'compose.yaml')));
    await writeFile(join(proj, 'VERSION'), '7\n');
    const args = [
      'app',
      join(proj, 'compose.yaml'),
      '-t',
      'dev',
      '-p',
      'linux/arm64',
      '-m',
      'opt',
      '--no-cache',
      '--no-delta',
      '-f',
      'app',
      files.app,
      '-f',
      'small',
      files.small,
      '-a',
      out,
    ];
    const r = await runCapture([...args, '-k', join(dir, 'k2.pem')], { cwd: dir, env: {} });
    expect(r.code, r.err).toBe(0);
    const info = await readArtifact(out, { publicKey: pub });
    expect(info.signatureVerified).toBe(true);
    const both = await runCapture([...args, '-k', join(dir, 'k2.pem'), '--sign-key', join(dir, 'key.pem')], {
      cwd: dir,
      env: {},
    });
    expect(both.code).toBe(1);
    expect(both.err).toContain('--sign-key and -k/--key name the same key: give one');
  });

  it('a version or software name that is not one file name is ERR_INPUT before anything is written', async () => {
    const proj = join(dir, 'vproj');
    await mkdir(proj, { recursive: true });
    await writeFile(join(proj, 'compose.yaml'), 'services:\n  app:\n    image: demo.local/app:1\n');
    await writeFile(join(proj, 'VERSION'), '../../escaped\n');
    const opts = {
      ...base('cv'),
      composeFile: join(proj, 'compose.yaml'),
      cwd: proj,
      serviceFiles: { app: join(dir, 'v2.tar') },
    };
    const noVersion = { ...opts, release: true } as BuildAppOptions;
    await expect(buildAppArtifact(noVersion)).rejects.toMatchObject({
      code: 'ERR_INPUT',
      message: expect.stringMatching(/version from .*VERSION "\.\.\/\.\.\/escaped" cannot name a file/),
    });
    // Given as options, the same check (or the option schema, for the software name) refuses them.
    await expect(buildAppArtifact({ ...opts, version: '..' })).rejects.toMatchObject({ code: 'ERR_INPUT' });
    await expect(
      buildAppArtifact({ ...opts, version: '1', manifestName: 'a/../../b' }),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTIONS',
    });
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(dir)).filter((n) => n.includes('escaped'))).toEqual([]);
    expect((await readdir(join(dir, '..'))).filter((n) => n.includes('escaped'))).toEqual([]);
  });

  it('a previous image that cannot be read is a fallback: a warning in the plan, an error with requireDelta', async () => {
    const prevCompose = join(dir, 'prev-unreachable.yaml');
    // Port 9 on loopback: nothing listens, the connection is refused at once.
    await writeFile(
      prevCompose,
      'services:\n  app:\n    image: 127.0.0.1:9/app:1\n  small:\n    image: 127.0.0.1:9/small:1\n',
    );
    const opts = {
      ...base('cf'),
      version: '5',
      dryRun: true,
      previousManifest: prevCompose,
      serviceFiles: v2Files(),
      registry: { insecure: ['127.0.0.1:9'] },
    };
    const r = await buildAppArtifact(opts);
    const app = r.services.find((s) => s.service === 'app')!;
    expect(app.mode).toBe('full');
    expect(app.fallback).toMatch(/previous image 127\.0\.0\.1:9\/app:1 unavailable/);
    const { summaryTable } = await import('../src/app/results.js');
    expect(summaryTable(r.services)).toMatch(
      /WARNING: fallback to full: previous image 127\.0\.0\.1:9\/app:1/,
    );
    await expect(buildAppArtifact({ ...opts, requireDelta: true })).rejects.toMatchObject({
      code: 'ERR_NO_DEEP_DELTA',
      message: expect.stringMatching(/a deep delta was required, but app would ship full/),
    });
    // Deltas disabled on purpose is no fallback.
    const off = await buildAppArtifact({ ...opts, delta: false, requireDelta: true });
    expect(off.services.every((s) => s.fallback === undefined)).toBe(true);
  });

  it('two processes building at once on one cache directory both succeed', async () => {
    const bin = join(__dirname, '../dist/bin.js');
    const { existsSync } = await import('node:fs');
    if (!existsSync(bin)) {
      if (process.env.CI === 'true') throw new Error(`${bin} missing: the test command builds first`);
      console.warn(`SKIPPING concurrent-process test: ${bin} not built`);
      return;
    }
    const { spawn } = await import('node:child_process');
    const cacheDir = join(dir, 'shared-cache');
    const runs = [1, 2].map(async (i) => {
      const proj = join(dir, `conc-${i}`);
      await mkdir(proj, { recursive: true });
      await writeFile(
        join(proj, 'compose.yaml'),
        'services:\n  app:\n    image: demo.local/app:1\n  small:\n    image: demo.local/small:1\n',
      );
      await writeFile(join(proj, 'VERSION'), `${i}.0\n`);
      const args = [
        bin,
        'app',
        join(proj, 'compose.yaml'),
        '-t',
        'dev',
        '-p',
        'linux/arm64',
        '-m',
        `conc${i}`,
        '-r',
      ];
      args.push('-f', 'app', join(dir, i === 1 ? 'v1.tar' : 'v2.tar'), '-f', 'small', join(dir, 's1.tar'));
      args.push('--cache-dir', cacheDir, '--record', '-a', join(proj, 'out.mender'));
      const child = spawn(process.execPath, args, { cwd: proj, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      return { code, err, artifact: join(proj, 'out.mender') };
    });
    for (const r of await Promise.all(runs)) {
      expect(r.code, r.err).toBe(0);
      expect((await readArtifact(r.artifact)).headerInfo.payloads).toHaveLength(1);
    }
    // Both releases recorded, and the shared layout's index lists every image of both.
    const { AppCache } = await import('../src/app/cache.js');
    const cache = await AppCache.open(cacheDir);
    expect((await cache.readPrevious('conc1'))?.version).toBe('1.0');
    expect((await cache.readPrevious('conc2'))?.version).toBe('2.0');
    const index = await cache.layout.readIndex();
    for (const image of [v1, v2, small1])
      expect(index.manifests.map((m) => m.digest)).toContain(image.digest);
  });

  it('a service with both a file and an image override takes the file, with a warning', async () => {
    const warnings: string[] = [];
    const r = await buildAppArtifact({
      ...base('c'),
      version: '4',
      dryRun: true,
      serviceFiles: v2Files(),
      serviceImages: { app: 'demo.local/app:99' },
      onEvent: (e) => {
        if (e.type === 'log' && e.level === 'warn') warnings.push(e.message);
      },
    });
    expect(r.services.find((s) => s.service === 'app')?.ref).toBe('demo.local/app:2');
    expect(warnings.join()).toMatch(/both an image file and an image reference are given: using the file/);
    expect(r.artifactFile).toBeUndefined();
  });

  it.skipIf(!haveBinaries('tar', 'xdelta3'))(
    'containerd store after our artifact: .source names the uncompressed layer (diff_id) and the device rebuilds it',
    async () => {
      const prev = join(dir, 'prev-artifact.json');
      const meta = (
        await buildAppArtifact({
          ...base('c2'),
          version: '1',
          artifactFilename: join(dir, 'c2-1.mender'),
          serviceFiles: { app: join(dir, 'v1.tar'), small: join(dir, 's1.tar') },
        })
      ).metadata;
      expect(meta.services.app?.image.delivery).toBe('artifact');
      await writeFile(prev, serializeReleaseMetadata(meta));
      const out = join(dir, 'containerd.mender');
      await buildAppArtifact({
        ...base('c2'),
        version: '2',
        previousManifest: prev,
        deviceStore: 'containerd',
        serviceFiles: v2Files(),
        artifactFilename: out,
      });
      const { writeDockerArchive } = await import('@ocidelta/core');
      const device = await simulateDevice(out, join(dir, 'dev'), async (url) => {
        // The device loaded v1 from our artifact: its containerd store holds uncompressed layers.
        const file = join(dir, `cur-${url.replace(/\W/g, '_')}.tar`);
        await writeDockerArchive(file, [{ image: url.endsWith('app:1') ? v1 : small1 }], {
          layers: 'uncompressed',
        });
        return file;
      });
      const app = device.images.find((i) => i.urlNew === 'demo.local/app:2')!;
      expect(app.deepDelta).toBe(true);
      expect(app.sources.sort()).toEqual(v1.layers.map((l) => `blobs/sha256/${l.diffId.slice(7)}`).sort());
      expect(await blobHashes(app.dir)).toEqual(
        await blobHashes(await expectedSave(v2, join(dir, 'expected'))),
      );
    },
  );
});
