/**
 * `ocidelta artifact verify-install`: an app artifact is rebuilt as the device's app module would
 * (deep deltas decoded with the device's xdelta3 emulated) and every image checked as `docker
 * load` would. Both ways: artifacts that install, and artifacts that would break a device: the
 * wrong store mode, a delta computed against a compressed blob (the seed helper's method), copies
 * out of the reach of a device's smaller -B, a tampered image.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type Image, TarIndex, writeDockerArchive, writeTarFile } from '@ocidelta/core';
import { writeArtifact } from '@ocidelta/core/mender';
import { buildDeepDelta, type CurrentOrigin, type DeviceStore, encode } from '@ocidelta/delta';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryish, buildImage } from '../../delta/test/fixtures/images.js';
import { appMetaData, writeImagesTarGz, writeManifestsTarGz } from '../src/app/app-payload.js';
import { runCli } from '../src/cli.js';
import { artifactVerifyInstallCommand } from '../src/commands/artifact-verify-install.js';
import { captureIO } from './support.js';

let dir: string;
let v1: Image;
let v2: Image;
let solo: Image;

async function bytes(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** An app artifact holding a deep delta of v1 -> v2 (as given) and the full `solo` image. */
async function appArtifact(name: string, imageImg: string): Promise<string> {
  const full = join(dir, `${name}-solo.img`);
  await writeDockerArchive(full, [{ image: solo, repoTags: ['r.example/solo:1'] }], {
    layers: 'uncompressed',
  });
  const ids = [v2.digest, solo.digest];
  const images = join(dir, `${name}-images.tar.gz`);
  await writeImagesTarGz(images, [
    {
      urlNew: 'r.example/app:2',
      urlCurrent: 'r.example/app:1',
      sumNew: ids[0]!,
      sumCurrent: v1.digest,
      imageFile: imageImg,
      deepDelta: true,
    },
    {
      urlNew: 'r.example/solo:1',
      urlCurrent: 'r.example/solo:1',
      sumNew: ids[1]!,
      sumCurrent: ids[1]!,
      imageFile: full,
      deepDelta: false,
    },
  ]);
  const manifests = join(dir, `${name}-manifests.tar.gz`);
  await writeManifestsTarGz(manifests, [{ name: 'docker-compose.yml', data: 'services: {}\n' }]);
  const out = join(dir, `${name}.mender`);
  await writeArtifact(out, {
    type: 'app',
    artifactName: name,
    deviceTypes: ['rpi4'],
    softwareName: 'shop',
    softwareVersion: '2',
    metaData: appMetaData(
      'shop',
      'linux/amd64',
      ids.map((d) => d.slice(7)),
    ) as unknown as Record<string, unknown>,
    files: [
      { name: 'images.tar.gz', path: images },
      { name: 'manifests.tar.gz', path: manifests },
    ],
  });
  return out;
}

async function deep(name: string, store: DeviceStore, origin: CurrentOrigin = 'registry'): Promise<string> {
  const img = join(dir, `${name}.img`);
  await buildDeepDelta(v1, v2, img, {
    deviceStore: store,
    currentOrigin: origin,
    repoTags: ['r.example/app:2'],
  });
  return img;
}

/** The device's `docker save` of v1: classic (uncompressed) or containerd after a pull (stored gzip blobs). */
async function save(name: string, layers: 'uncompressed' | 'stored'): Promise<string> {
  const file = join(dir, `${name}.tar`);
  await writeDockerArchive(file, [{ image: v1, repoTags: ['r.example/app:1'] }], { layers });
  return file;
}

async function verify(args: string[]) {
  const io = captureIO({ cwd: dir });
  const code = await runCli(['artifact', 'verify-install', ...args], io, [artifactVerifyInstallCommand]);
  return { code, out: io.out(), err: io.err() };
}

/** Replace every .vcdiff in image.img by what `make` returns for it. */
async function rewriteDeltas(
  img: string,
  out: string,
  make: (name: string) => Promise<Buffer>,
): Promise<void> {
  const tar = await TarIndex.scan(img);
  await writeTarFile(out, async (w) => {
    for (const e of tar.entries.values()) {
      if (e.type === 'directory') await w.addDirectory(e.name);
      else if (e.type === 'file') {
        const data = e.name.endsWith('.vcdiff') ? await make(e.name) : await tar.read(e);
        await w.addBuffer(e.name, data);
      }
    }
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-verify-'));
  // Four 64 KiB files, reversed in v2: the delta copies reach back ~192 KiB.
  const files = [0, 1, 2, 3].map((i) => ({ path: `lib/f${i}.so`, content: binaryish(40 + i, 64 * 1024) }));
  v1 = (
    await buildImage(join(dir, 'v1'), { tag: 'v1', layers: [files, [{ path: 'etc/v', content: '1\n' }]] })
  ).image;
  v2 = (
    await buildImage(join(dir, 'v2'), {
      tag: 'v2',
      layers: [[...files].reverse(), [{ path: 'etc/v', content: '2\n' }]],
    })
  ).image;
  solo = (await buildImage(join(dir, 'solo'), { tag: 's', layers: [[{ path: 'solo', content: 'solo\n' }]] }))
    .image;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('artifact verify-install', () => {
  it('installs a classic-store deep delta and a full image (exit 0, per-image report)', async () => {
    const art = await appArtifact('classic', await deep('classic', 'classic'));
    const r = await verify([art, '--current', await save('save-classic', 'uncompressed'), '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as {
      ok: boolean;
      images: {
        urlNew: string;
        kind: string;
        rebuilt: { device: { sourceAccess: string } }[];
        configDigest: string;
      }[];
    };
    expect(report.ok).toBe(true);
    const app = report.images.find((i) => i.urlNew === 'r.example/app:2')!;
    expect(app.kind).toBe('deep-delta');
    expect(app.configDigest).toBe(v2.configDigest);
    expect(app.rebuilt.map((l) => l.device.sourceAccess)).toEqual(['seekable', 'seekable']);
    expect(report.images.find((i) => i.urlNew === 'r.example/solo:1')!.kind).toBe('full');
  });

  it('installs a containerd-store delta from the pulled (gzip) blobs, read sequentially', async () => {
    const art = await appArtifact('ctrd', await deep('ctrd', 'containerd'));
    const r = await verify([art, '--current', await save('save-ctrd', 'stored')]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      /deep delta from r\.example\/app:1: 2 layers rebuilt \(2 from compressed sources\)/,
    );
    expect(r.out).toMatch(/installs \(2 images/);
  });

  it('refuses a containerd-store artifact on a classic-store device (exit 2, names the layer)', async () => {
    const art = await appArtifact('wrong-store', await deep('wrong-store', 'containerd'));
    const r = await verify([art, '--current', await save('save-classic2', 'uncompressed')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/r\.example\/app:2.*names blobs\/sha256\/[a-f0-9]{64}, which .* does not contain/);
  });

  it("refuses a delta computed against the compressed blob the device decompresses (the seed helper's method)", async () => {
    const good = await deep('seed-good', 'containerd');
    const seeded = join(dir, 'seed.img');
    // As the seed helper does: each layer's delta between the stored gzip blobs.
    await rewriteDeltas(good, seeded, async (name) => {
      const i = v2.layers.findIndex((l) => name.includes(l.diffId.slice(7)));
      const source = await bytes(await v1.layers[i]!.compressed());
      const target = await bytes(await v2.layers[i]!.compressed());
      return bytes(encode(source, Readable.from([target])));
    });
    const art = await appArtifact('seed', seeded);
    const r = await verify([art, '--current', await save('save-seed', 'stored')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/ERR_VCDIFF|checksum mismatch|outside the source|digest mismatch/i);
    expect(r.out).not.toMatch(/installs/);
  });

  it('refuses copies out of reach of a device configured with a smaller -B (ERR_DEVICE_DECODE)', async () => {
    const art = await appArtifact('reach', await deep('reach', 'containerd'));
    const current = await save('save-reach', 'stored');
    // Default -B (64 MiB): everything is reachable.
    expect((await verify([art, '--current', current])).code).toBe(0);
    // -B 64 KiB: 32 blocks of 2 KiB; the reversed files need copies ~192 KiB back.
    const r = await verify([art, '--current', current, '--device-window', '64KiB']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/xdelta3 would fail at target offset \d+/);
    expect(r.err).toMatch(/XD3_TOOFARBACK/);
  });

  it('refuses a deep delta without the current image, and a missing artifact', async () => {
    const art = await appArtifact('nocur', await deep('nocur', 'classic'));
    const r = await verify([art]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no current image archive given holds that image.*\(--current\)/);
    expect((await verify([join(dir, 'nope.mender')])).code).toBe(2);
  });
});
