// Pull, push and copy against the real docker-registry, with skopeo as the oracle: images
// skopeo pushed are pulled with identical digests, and what we push skopeo reads back the same.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciLayout, parseReference, readImageArchive } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { copyImage, pullImage, pushLayout, RegistryClient, type TransferProgress } from '../src/index.js';
import {
  type BuiltLayout,
  buildTestLayout,
  digestOfBytes,
  type RunningRegistry,
  skopeo,
  skopeoCopy,
  skopeoInspect,
  skopeoInspectRaw,
  skopeoPushLayout,
  startRegistry,
} from './harness/index.js';

async function blobFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const names = await readdir(join(dir, 'blobs', 'sha256'));
  for (const name of names) {
    const bytes = await readFile(join(dir, 'blobs', 'sha256', name));
    out.set(name, createHash('sha256').update(bytes).digest('hex'));
  }
  return out;
}

describe.skipIf(!haveBinaries('docker-registry', 'skopeo'))('transfer against docker-registry 2.8', () => {
  let reg: RunningRegistry;
  let reg2: RunningRegistry;
  let work: string;
  let single: BuiltLayout;
  let multi: BuiltLayout;
  let client: RegistryClient;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-transfer-'));
    [reg, reg2] = await Promise.all([startRegistry({ deleteEnabled: true }), startRegistry()]);
    single = await buildTestLayout(join(work, 'single'), [
      {
        label: 'single',
        layers: [
          { files: { 'a.txt': 'alpha\n' } },
          { files: { 'b.bin': Buffer.alloc(300_000, 7) } },
          { files: { 'c.txt': 'gamma\n' }, compression: 'none' },
        ],
      },
    ]);
    multi = await buildTestLayout(join(work, 'multi'), [
      { platform: { os: 'linux', architecture: 'amd64' }, label: 'multi-amd64' },
      { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, label: 'multi-arm64' },
      { platform: { os: 'linux', architecture: 'arm', variant: 'v7' }, label: 'multi-armv7' },
    ]);
    await skopeoPushLayout(single, reg.host, 'fixtures/single:v1');
    await skopeoPushLayout(multi, reg.host, 'fixtures/multi:v1');
    client = new RegistryClient({ useDockerConfig: false });
  });

  afterAll(async () => {
    await client?.close();
    await Promise.all([reg?.stop(), reg2?.stop()]);
    await rm(work, { recursive: true, force: true });
  });

  it('pulls an image skopeo pushed into an OCI layout with identical digests and blobs', async () => {
    const dir = join(work, 'pull-single');
    const events: TransferProgress[] = [];
    const result = await pullImage(client, `${reg.host}/fixtures/single:v1`, {
      oci: dir,
      onProgress: (e) => events.push(e),
    });
    expect(result.digest).toBe(single.digest);
    expect(result.blobs.transferred).toBe(4); // config + 3 layers
    const layout = await OciLayout.open(dir);
    const index = await layout.readIndex();
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]?.digest).toBe(single.digest);
    expect(index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name']).toBe('v1');
    // Same blobs as skopeo's own pull into a layout, each file hashing to its name.
    const skopeoDir = join(work, 'pull-single-skopeo');
    await skopeoCopy(`docker://${reg.host}/fixtures/single:v1`, `oci:${skopeoDir}:v1`);
    const ours = await blobFiles(dir);
    expect(ours).toEqual(await blobFiles(skopeoDir));
    for (const [name, hash] of ours) expect(hash).toBe(name);
    // Progress: every blob finished with done === total.
    const big = single.images[0]?.layers[1];
    const bigEvents = events.filter((e) => e.item === big?.digest && e.phase === 'blob');
    expect(bigEvents.at(-1)?.done).toBe(big?.size);
    // Overall: every blob event carries the transfer's total, reached by the last one.
    const lastBlob = events.filter((e) => e.phase !== 'manifest').at(-1);
    expect(lastBlob?.overall?.total).toBeGreaterThan(big?.size ?? 0);
    expect(lastBlob?.overall?.done).toBe(lastBlob?.overall?.total);
    // The layout is readable by skopeo.
    const raw = await skopeo(['inspect', '--raw', `oci:${dir}:v1`]);
    expect(digestOfBytes(Buffer.from(raw))).toBe(single.digest);
    // Pulling again skips every blob.
    const again = await pullImage(client, `${reg.host}/fixtures/single:v1`, { oci: dir });
    expect(again.blobs).toEqual({ transferred: 0, skipped: 4, mounted: 0 });
  });

  it('pulls one platform of a multi-arch index, or all of it', async () => {
    const arm64 = multi.images[1];
    const one = await pullImage(client, `${reg.host}/fixtures/multi:v1`, {
      oci: join(work, 'pull-arm64'),
      platform: 'linux/arm64',
    });
    expect(one.digest).toBe(arm64?.digest);
    const layout = await OciLayout.open(join(work, 'pull-arm64'));
    const image = await layout.image({ ref: 'v1' });
    expect(image.config.architecture).toBe('arm64');
    expect((await blobFiles(join(work, 'pull-arm64'))).size).toBe(1 + 2 + 1); // config, 2 layers, manifest

    const all = await pullImage(client, `${reg.host}/fixtures/multi:v1`, {
      oci: join(work, 'pull-all'),
      allPlatforms: true,
    });
    expect(all.digest).toBe(multi.digest);
    expect(all.images.map((i) => i.platform)).toEqual(['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7']);
    const raw = await skopeo(['inspect', '--raw', `oci:${join(work, 'pull-all')}:v1`]);
    expect(digestOfBytes(Buffer.from(raw))).toBe(multi.digest);
    // skopeo can copy every platform back out of our layout.
    await skopeoCopy(`oci:${join(work, 'pull-all')}:v1`, `docker://${reg.host}/roundtrip/multi:v1`, {
      all: true,
    });
    expect(digestOfBytes(Buffer.from(await skopeoInspectRaw(`${reg.host}/roundtrip/multi:v1`)))).toBe(
      multi.digest,
    );

    await expect(
      pullImage(client, `${reg.host}/fixtures/multi:v1`, {
        oci: join(work, 'pull-s390x'),
        platform: 'linux/s390x',
      }),
    ).rejects.toMatchObject({ code: 'ERR_PLATFORM_NOT_FOUND' });
  });

  it('pulls into an oci-archive and a docker-archive that skopeo reads', async () => {
    const ociFile = join(work, 'single.oci.tar');
    await pullImage(client, `${reg.host}/fixtures/single:v1`, { ociArchive: ociFile });
    const raw = await skopeo(['inspect', '--raw', `oci-archive:${ociFile}:v1`]);
    expect(digestOfBytes(Buffer.from(raw))).toBe(single.digest);

    const dockerFile = join(work, 'single.docker.tar');
    await pullImage(client, `${reg.host}/fixtures/single:v1`, { dockerArchive: dockerFile });
    const info = JSON.parse(await skopeo(['inspect', `docker-archive:${dockerFile}`])) as {
      RepoTags: string[];
      Layers: string[];
    };
    expect(info.Layers).toHaveLength(3);
    const archive = await readImageArchive(dockerFile);
    try {
      expect(archive.entries[0]?.image.configDigest).toBe(single.images[0]?.config.digest);
      expect(archive.entries[0]?.refs).toContain(`${reg.host}/fixtures/single:v1`);
    } finally {
      await archive.close();
    }
    // No staging directories are left next to the outputs.
    expect((await readdir(work)).filter((n) => n.startsWith('.ocidelta-pull-'))).toEqual([]);
  });

  it('pushes a layout that skopeo reads back with the same digest', async () => {
    const layout = await buildTestLayout(join(work, 'to-push'), [{ label: 'pushed-by-ocidelta' }]);
    const result = await pushLayout(client, layout.dir, `${reg.host}/pushed/app:v1`);
    expect(result.digest).toBe(layout.digest);
    expect(result.blobs.transferred).toBe(3);
    const raw = await skopeoInspectRaw(`${reg.host}/pushed/app:v1`);
    expect(digestOfBytes(Buffer.from(raw))).toBe(layout.digest);
    const info = await skopeoInspect(`${reg.host}/pushed/app:v1`);
    expect(info.Layers).toEqual(layout.images[0]?.layers.map((l) => l.digest));
    // skopeo copies it out again, every blob verified by skopeo.
    await skopeoCopy(`docker://${reg.host}/pushed/app:v1`, `oci:${join(work, 'pushed-back')}:v1`);
    expect((await blobFiles(join(work, 'pushed-back'))).size).toBe(4);
    // A second push finds every blob present.
    const again = await pushLayout(client, layout.dir, `${reg.host}/pushed/app:v2`);
    expect(again.blobs).toEqual({ transferred: 0, skipped: 3, mounted: 0 });
    expect(await client.listTags(parseReference(`${reg.host}/pushed/app`))).toEqual(
      expect.arrayContaining(['v1', 'v2']),
    );
  });

  it('pushes a multi-arch index (children first) and an oci-archive', async () => {
    const result = await pushLayout(client, multi.dir, `${reg.host}/pushed/multi:v1`);
    expect(result.digest).toBe(multi.digest);
    expect(result.images).toHaveLength(3);
    expect(digestOfBytes(Buffer.from(await skopeoInspectRaw(`${reg.host}/pushed/multi:v1`)))).toBe(
      multi.digest,
    );
    for (const image of multi.images) {
      const raw = await skopeoInspectRaw(`${reg.host}/pushed/multi@${image.digest}`);
      expect(digestOfBytes(Buffer.from(raw))).toBe(image.digest);
    }
    // oci-archive written by skopeo, pushed by us.
    const archive = join(work, 'from-skopeo.oci.tar');
    await skopeoCopy(`oci:${single.dir}:latest`, `oci-archive:${archive}:latest`);
    const pushed = await pushLayout(client, archive, `${reg.host}/pushed/from-archive:v1`);
    expect(pushed.digest).toBe(single.digest);
    expect(digestOfBytes(Buffer.from(await skopeoInspectRaw(`${reg.host}/pushed/from-archive:v1`)))).toBe(
      single.digest,
    );
    // docker-archive written by skopeo (layers stored uncompressed), pushed by us: the config
    // is kept byte for byte and skopeo can pull every blob back, verified.
    const dockerArchive = join(work, 'from-skopeo.docker.tar');
    await skopeo(['copy', `oci:${single.dir}:latest`, `docker-archive:${dockerArchive}:fixtures/single:v1`]);
    const fromDocker = await pushLayout(client, dockerArchive, `${reg.host}/pushed/from-docker:v1`);
    const pushedManifest = JSON.parse(await skopeoInspectRaw(`${reg.host}/pushed/from-docker:v1`)) as {
      config: { digest: string };
      layers: unknown[];
    };
    expect(digestOfBytes(Buffer.from(await skopeoInspectRaw(`${reg.host}/pushed/from-docker:v1`)))).toBe(
      fromDocker.digest,
    );
    expect(pushedManifest.config.digest).toBe(single.images[0]?.config.digest);
    expect(pushedManifest.layers).toHaveLength(3);
    await skopeoCopy(
      `docker://${reg.host}/pushed/from-docker:v1`,
      `oci:${join(work, 'from-docker-back')}:v1`,
    );
  });

  it('copies within a registry by mounting, and between registries by streaming', async () => {
    const same = await copyImage(client, `${reg.host}/fixtures/multi:v1`, `${reg.host}/copies/multi:v1`);
    expect(same.digest).toBe(multi.digest);
    expect(same.blobs.transferred).toBe(0);
    expect(same.blobs.mounted + same.blobs.skipped).toBeGreaterThan(0);
    expect(same.blobs.mounted).toBeGreaterThan(0);
    expect(digestOfBytes(Buffer.from(await skopeoInspectRaw(`${reg.host}/copies/multi:v1`)))).toBe(
      multi.digest,
    );

    const other = await copyImage(client, `${reg.host}/fixtures/multi:v1`, `${reg2.host}/mirror/multi:v1`);
    expect(other.digest).toBe(multi.digest);
    expect(other.blobs.mounted).toBe(0);
    expect(other.blobs.transferred).toBeGreaterThan(0);
    // Every platform arrived: skopeo copies all of them out of the second registry.
    await skopeoCopy(`docker://${reg2.host}/mirror/multi:v1`, `oci:${join(work, 'mirror-out')}:v1`, {
      all: true,
    });
    const raw = await skopeo(['inspect', '--raw', `oci:${join(work, 'mirror-out')}:v1`]);
    expect(digestOfBytes(Buffer.from(raw))).toBe(multi.digest);

    const onePlatform = await copyImage(
      client,
      `${reg.host}/fixtures/multi:v1`,
      `${reg2.host}/mirror/arm:v7`,
      {
        platform: 'linux/arm/v7',
      },
    );
    expect(onePlatform.digest).toBe(multi.images[2]?.digest);
  });

  it('refuses a tag that does not exist with ERR_MANIFEST_UNKNOWN and writes nothing', async () => {
    const dir = join(work, 'pull-missing');
    await expect(pullImage(client, `${reg.host}/fixtures/single:nope`, { oci: dir })).rejects.toMatchObject({
      code: 'ERR_MANIFEST_UNKNOWN',
    });
    await expect(readdir(dir)).rejects.toThrow();
    await expect(
      pullImage(client, `${reg.host}/fixtures/single:v1`, { ociArchive: join(work, 'no-such-dir', 'x.tar') }),
    ).rejects.toMatchObject({ code: 'ERR_INPUT', message: expect.stringContaining('no-such-dir') });
    await expect(
      pullImage(client, `${reg.host}/fixtures/single:v1`, {
        oci: join(work, 'a'),
        ociArchive: join(work, 'b.tar'),
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
  });
});
