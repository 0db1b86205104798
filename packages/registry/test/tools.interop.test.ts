// Release-engineering tools against the real docker-registry: manifest list merge (platform
// identity, missing destination, --platforms, dry run, cross-registry copy, auth, OCI/Docker
// mix refused), published status, layer injection and extraction (OCI and Docker types).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { extractLayer, type Image, isOciDeltaError, parsePlatform, parseReference } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { listTree, writeTree } from '../../core/test/build-helpers.js';
import {
  INJECTED_DIGEST_LABEL,
  imageStatus,
  injectLayer,
  mergeIndex,
  RegistryClient,
  resolveLayerToExtract,
} from '../src/index.js';
import { injectedLayerIndex } from '../src/tools/layer-inject.js';
import {
  buildTestLayout,
  digestOfBytes,
  type RunningRegistry,
  skopeo,
  skopeoCopy,
  skopeoInspectRaw,
  skopeoPushLayout,
  startRegistry,
} from './harness/index.js';

const run = promisify(execFile);
const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64' };
const ARMV7 = { os: 'linux', architecture: 'arm', variant: 'v7' };

interface RawIndex {
  mediaType: string;
  manifests: { digest: string; platform?: { architecture: string; variant?: string } }[];
}
const platformsOf = (raw: RawIndex) =>
  raw.manifests.map(
    (m) => `${m.platform?.architecture}${m.platform?.variant ? `/${m.platform.variant}` : ''}`,
  );

describe.skipIf(!haveBinaries('docker-registry', 'skopeo', 'umoci'))('release tools', () => {
  let reg: RunningRegistry;
  let other: RunningRegistry;
  let secure: RunningRegistry;
  let work: string;
  let client: RegistryClient;
  const digests: Record<string, string[]> = {};

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-tools-'));
    [reg, other, secure] = await Promise.all([
      startRegistry(),
      startRegistry(),
      startRegistry({ auth: 'htpasswd' }),
    ]);
    const src = await buildTestLayout(join(work, 'src'), [
      { platform: AMD64, label: 'new-amd64' },
      { platform: ARM64, label: 'new-arm64' },
    ]);
    const dest = await buildTestLayout(join(work, 'dest'), [
      { platform: AMD64, label: 'old-amd64' },
      { platform: ARMV7, label: 'old-armv7' },
    ]);
    const single = await buildTestLayout(join(work, 'single'), [{ platform: ARM64, label: 'single' }]);
    const dup = await buildTestLayout(join(work, 'dup'), [
      { platform: AMD64, label: 'dup-1' },
      { platform: AMD64, label: 'dup-2' },
    ]);
    digests.src = src.images.map((i) => i.digest);
    digests.dest = dest.images.map((i) => i.digest);
    digests.single = single.images.map((i) => i.digest);
    await Promise.all([
      skopeoPushLayout(src, reg.host, 'app/src:v2'),
      // One repository, one push at a time: two concurrent skopeo pushes of one index race in
      // the registry (one sees a child manifest missing and tries to convert the index).
      skopeoPushLayout(dest, reg.host, 'app/dest:v1').then(() =>
        skopeoPushLayout(dest, reg.host, 'app/dest:keep'),
      ),
      skopeoPushLayout(single, reg.host, 'app/single:v1'),
      skopeoPushLayout(dup, reg.host, 'app/dup:v1'),
      skopeoPushLayout(dest, other.host, 'far/dest:v1'),
      skopeoPushLayout(src, secure.host, 'app/src:v2', { creds: `${secure.username}:${secure.password}` }),
    ]);
    client = new RegistryClient({ insecureRegistries: [reg.host, other.host] });
  });

  afterAll(async () => {
    await client?.close();
    await Promise.all([reg?.stop(), other?.stop(), secure?.stop()]);
    await rm(work, { recursive: true, force: true });
  });

  const raw = async (ref: string, creds?: string) =>
    JSON.parse(await skopeoInspectRaw(ref, creds ? { creds } : undefined)) as RawIndex;

  /** Every child is pullable: skopeo copies the whole index. */
  const copiesWhole = async (ref: string) => {
    const out = join(work, `copy-${Math.random().toString(36).slice(2)}`);
    await skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      '--src-no-creds',
      `docker://${ref}`,
      `oci:${out}:x`,
    ]);
    return out;
  };

  describe('mergeIndex', () => {
    it('keeps every source platform and adds the destination platforms the source lacks', async () => {
      const phases: string[] = [];
      const result = await mergeIndex(client, `${reg.host}/app/src:v2`, `${reg.host}/app/dest:v1`, {
        onProgress: (e) => phases.push(e.phase),
      });
      // same registry: the children's blobs are mounted, not uploaded
      expect(phases).toContain('mount');
      expect(phases).not.toContain('blob');
      const merged = await raw(`${reg.host}/app/dest:v1`);
      expect(platformsOf(merged)).toEqual(['amd64', 'arm64', 'arm/v7']);
      expect(merged.manifests.map((m) => m.digest)).toEqual([
        digests.src?.[0],
        digests.src?.[1],
        digests.dest?.[1],
      ]);
      expect(merged.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(result.entries.map((e) => e.from)).toEqual(['source', 'source', 'destination']);
      expect(result.copied.sort()).toEqual([...(digests.src ?? [])].sort());
      await copiesWhole(`${reg.host}/app/dest:v1`);
    });

    it('with platforms takes only those from the source and keeps the rest of the destination', async () => {
      await mergeIndex(client, `${reg.host}/app/src:v2`, `${reg.host}/app/dest:keep`, {
        platforms: ['linux/arm64'],
        to: `${reg.host}/app/dest:partial`,
      });
      const merged = await raw(`${reg.host}/app/dest:partial`);
      expect(platformsOf(merged)).toEqual(['arm64', 'amd64', 'arm/v7']);
      expect(merged.manifests.map((m) => m.digest)).toEqual([
        digests.src?.[1],
        digests.dest?.[0],
        digests.dest?.[1],
      ]);
      // the destination tag itself is untouched
      expect(platformsOf(await raw(`${reg.host}/app/dest:keep`))).toEqual(['amd64', 'arm/v7']);
      // An eligible platform SRC lacks is skipped with a warning; DEST keeps its entry (the merger's rule).
      const skipped = await mergeIndex(client, `${reg.host}/app/src:v2`, `${reg.host}/app/dest:keep`, {
        platforms: ['linux/s390x', 'linux/arm64'],
        dryRun: true,
      });
      expect(skipped.warnings.join()).toMatch(/has no linux\/s390x .*destination's entry is kept/);
      expect(skipped.entries.map((e) => [e.platform, e.from])).toEqual([
        ['linux/arm64/v8', 'source'],
        ['linux/amd64', 'destination'],
        ['linux/arm/v7', 'destination'],
      ]);
    });

    it("accepts bare architectures (every variant of them) and keeps the source index's other top-level fields", async () => {
      const bare = await mergeIndex(client, `${reg.host}/app/src:v2`, `${reg.host}/app/dest:keep`, {
        platforms: ['arm64', 'arm'],
        dryRun: true,
      });
      // arm64 from SRC; SRC has no arm (any variant): DEST's arm/v7 stays, with a warning.
      expect(bare.entries.map((e) => [e.platform, e.from])).toEqual([
        ['linux/arm64/v8', 'source'],
        ['linux/amd64', 'destination'],
        ['linux/arm/v7', 'destination'],
      ]);
      expect(bare.warnings.join()).toMatch(/has no architecture arm/);
      // A source index with a field the merge does not write itself (e.g. artifactType).
      const src = JSON.parse(
        (await client.getManifest(parseReference(`${reg.host}/app/src:v2`))).bytes.toString(),
      );
      const extra = Buffer.from(JSON.stringify({ ...src, artifactType: 'application/vnd.example.bundle' }));
      await client.putManifest(parseReference(`${reg.host}/app/src:extra`), extra, src.mediaType);
      const kept = await mergeIndex(client, `${reg.host}/app/src:extra`, `${reg.host}/app/dest:keep`, {
        dryRun: true,
      });
      expect(kept.index.artifactType).toBe('application/vnd.example.bundle');
    });

    it('treats a missing destination as empty; a single image source becomes an index; dry run pushes nothing', async () => {
      const dry = await mergeIndex(client, `${reg.host}/app/single:v1`, `${reg.host}/app/new:v1`, {
        dryRun: true,
      });
      expect(dry.pushed).toBe(false);
      expect(dry.entries).toEqual([
        expect.objectContaining({ platform: 'linux/arm64/v8', digest: digests.single?.[0] }),
      ]);
      expect(await client.headManifest(parseReference(`${reg.host}/app/new:v1`))).toBeUndefined();
      const done = await mergeIndex(client, `${reg.host}/app/single:v1`, `${reg.host}/app/new:v1`);
      expect(done.digest).toBe(dry.digest);
      const merged = await raw(`${reg.host}/app/new:v1`);
      expect(merged.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(platformsOf(merged)).toEqual(['arm64']);
    });

    it('platform identity includes the variant; linux/arm64 and linux/arm64/v8 are the same', async () => {
      // Merging the src (amd64, arm64) into new:v1 (arm64 from the single image, given no variant)
      const result = await mergeIndex(client, `${reg.host}/app/src:v2`, `${reg.host}/app/new:v1`, {
        dryRun: true,
      });
      expect(result.entries.map((e) => e.platform)).toEqual(['linux/amd64', 'linux/arm64/v8']);
    });

    it('warns about two children with the same platform', async () => {
      const warnings: string[] = [];
      const result = await mergeIndex(client, `${reg.host}/app/dup:v1`, `${reg.host}/app/dest:keep`, {
        dryRun: true,
        onWarning: (w) => warnings.push(w),
      });
      expect(warnings).toEqual([expect.stringContaining('linux/amd64 twice')]);
      expect(result.entries.map((e) => e.platform)).toEqual(['linux/amd64', 'linux/arm/v7']);
    });

    it('copies children between registries', async () => {
      const result = await mergeIndex(client, `${reg.host}/app/src:v2`, `${other.host}/far/dest:v1`);
      expect(result.copied.length).toBe(2);
      expect(platformsOf(await raw(`${other.host}/far/dest:v1`))).toEqual(['amd64', 'arm64', 'arm/v7']);
      await copiesWhole(`${other.host}/far/dest:v1`);
    });

    it('works with credentials on a protected registry', async () => {
      const creds = `${secure.username}:${secure.password}`;
      const authed = new RegistryClient({
        insecureRegistries: [secure.host],
        credentials: { username: secure.username, password: secure.password },
      });
      try {
        await mergeIndex(authed, `${secure.host}/app/src:v2`, `${secure.host}/app/merged:v1`);
        expect(platformsOf(await raw(`${secure.host}/app/merged:v1`, creds))).toEqual(['amd64', 'arm64']);
      } finally {
        await authed.close();
      }
      const anonymous = new RegistryClient({ insecureRegistries: [secure.host] });
      try {
        await expect(
          mergeIndex(anonymous, `${secure.host}/app/src:v2`, `${secure.host}/app/x:v1`),
        ).rejects.toMatchObject({
          code: 'ERR_AUTH',
        });
      } finally {
        await anonymous.close();
      }
    });

    it('refuses to mix OCI and Docker manifests', async () => {
      // a Docker schema2 image of a platform the source lacks (linux/arm/v7)
      const one = await buildTestLayout(join(work, 'docker-one'), [{ platform: ARMV7, label: 'docker' }]);
      await skopeoCopy(`oci:${one.dir}:${one.tag}`, `docker://${reg.host}/app/docker:v1`, { format: 'v2s2' });
      const err = await mergeIndex(client, `${reg.host}/app/src:v2`, `${reg.host}/app/docker:v1`, {
        dryRun: true,
      }).catch((e: unknown) => e);
      expect(isOciDeltaError(err, 'ERR_UNSUPPORTED_MEDIA_TYPE')).toBe(true);
      expect((err as Error).message).toMatch(/mix OCI and Docker/);
    });
  });

  describe('imageStatus', () => {
    it('reports present and missing refs with digest, media type and platforms', async () => {
      const refs = [
        `${reg.host}/app/src:v2`,
        `${reg.host}/app/single:v1`,
        `${reg.host}/app/src:nope`,
        `${reg.host}/app/never:v1`,
        'not a reference',
      ];
      const status = await imageStatus(client, refs, { concurrency: 2 });
      expect(status.map((s) => s.present)).toEqual([true, true, false, false, false]);
      expect(status[0]?.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
      expect(status[0]?.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(status[1]?.digest).toBe(digests.single?.[0]);
      expect(status[1]?.platforms).toEqual(['linux/arm64/v8']);
      expect(status[2]?.error).toBeUndefined();
      expect(status[4]?.errorCode).toBe('ERR_INVALID_REFERENCE');
    });
  });

  describe('layer inject and extract', () => {
    const pull = async (ref: string) =>
      client.resolveImage(parseReference(ref), { platform: parsePlatform('linux/arm64') });
    const unpack = async (ref: string) => {
      const layout = join(work, `unpack-${Math.random().toString(36).slice(2)}`);
      await skopeo([
        'copy',
        '--src-tls-verify=false',
        '--src-no-creds',
        `docker://${ref}`,
        `oci:${layout}:x`,
      ]);
      await run('umoci', ['unpack', '--rootless', '--image', `${layout}:x`, `${layout}-bundle`]);
      return join(`${layout}-bundle`, 'rootfs');
    };

    it('appends a layer, then replaces it in place; extract returns the injected tree', async () => {
      const one = await writeTree(join(work, 'inject-1'), {
        'opt/app/config.json': '{"v":1}',
        'opt/app/run': { content: '#!/bin/sh\n', mode: 0o755 },
      });
      const two = await writeTree(join(work, 'inject-2'), { 'opt/app/config.json': '{"v":2}' });
      const base = await pull(`${reg.host}/app/single:v1`);
      const first = await injectLayer(
        client,
        `${reg.host}/app/single:v1`,
        one,
        `${reg.host}/app/injected:v1`,
        { mtime: 1 },
      );
      expect(first.replaced).toBe(false);
      expect(first.layerIndex).toBe(base.layers.length);
      const img1 = await pull(`${reg.host}/app/injected:v1`);
      expect(img1.layers.length).toBe(base.layers.length + 1);
      expect(img1.config.config?.Labels?.[INJECTED_DIGEST_LABEL]).toBe(first.layer.digest);
      expect(img1.config.config?.Labels?.['test.label']).toBe('single');
      const rootfs1 = await unpack(`${reg.host}/app/injected:v1`);
      expect((await listTree(rootfs1))['opt/app/config.json']).toBe(
        (await listTree(one))['opt/app/config.json'],
      );

      const second = await injectLayer(
        client,
        `${reg.host}/app/injected:v1`,
        two,
        `${reg.host}/app/injected:v2`,
        { mtime: 1 },
      );
      expect(second.replaced).toBe(true);
      expect(second.layerIndex).toBe(first.layerIndex);
      const img2 = await pull(`${reg.host}/app/injected:v2`);
      expect(img2.layers.length).toBe(img1.layers.length);
      expect(img2.config.rootfs.diff_ids[second.layerIndex]).toBe(second.layer.diffId);
      expect(img2.config.history?.at(-1)).toMatchObject({ empty_layer: true });
      expect(img2.config.history?.filter((h) => !h.empty_layer).length).toBe(img2.layers.length);
      const rootfs2 = await unpack(`${reg.host}/app/injected:v2`);
      const tree2 = await listTree(rootfs2);
      expect(tree2['opt/app/run']).toBeUndefined();
      expect(tree2['opt/app/config.json']).toBe((await listTree(two))['opt/app/config.json']);

      const { image, index } = await resolveLayerToExtract(client, `${reg.host}/app/injected:v2`, {
        platform: parsePlatform('linux/arm64'),
      });
      const out = join(work, 'extracted');
      await extractLayer(image.layers[index] as Image['layers'][number], out);
      expect(await listTree(out)).toEqual(await listTree(two));
      // same input, same mtime: same layer digest
      const again = await injectLayer(
        client,
        `${reg.host}/app/injected:v1`,
        two,
        `${reg.host}/app/injected:v3`,
        { mtime: 1 },
      );
      expect(again.layer.digest).toBe(second.layer.digest);
    });

    it('keeps Docker media types and copies across registries', async () => {
      const one = await buildTestLayout(join(work, 'docker-src'), [
        { platform: ARM64, label: 'docker-inject' },
      ]);
      await skopeoCopy(`oci:${one.dir}:${one.tag}`, `docker://${reg.host}/app/dsrc:v1`, { format: 'v2s2' });
      const dir = await writeTree(join(work, 'inject-d'), { 'etc/extra': 'x' });
      const result = await injectLayer(client, `${reg.host}/app/dsrc:v1`, dir, `${other.host}/far/dinj:v1`, {
        platform: parsePlatform('linux/arm64'),
      });
      expect(result.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
      const manifest = JSON.parse(await skopeoInspectRaw(`${other.host}/far/dinj:v1`)) as {
        layers: { mediaType: string }[];
      };
      expect(manifest.layers.map((l) => l.mediaType)).toEqual(
        Array(manifest.layers.length).fill('application/vnd.docker.image.rootfs.diff.tar.gzip'),
      );
      const rootfs = await unpack(`${other.host}/far/dinj:v1`);
      expect((await listTree(rootfs))['etc/extra']).toBeDefined();
    });

    it('continues an image the CVMFS injector prepared (its labels), writes both label sets, keeps owners on request', async () => {
      // An image as the injector leaves it: its last layer marked by cvmfs_injection_tar/gz, in
      // config and container_config.
      const base = await pull(`${reg.host}/app/single:v1`);
      const last = base.layers[base.layers.length - 1]!;
      const config = JSON.parse(base.configBytes.toString()) as Record<string, unknown> & {
        config?: Record<string, unknown>;
      };
      const marks = { cvmfs_injection_tar: last.diffId, cvmfs_injection_gz: last.digest };
      const prepared = Buffer.from(
        JSON.stringify({
          ...config,
          config: { ...(config.config ?? {}), Labels: marks },
          container_config: { Labels: marks },
        }),
      );
      const target = parseReference(`${reg.host}/app/cvmfs:v1`);
      await client.uploadBlob(target, prepared, { digest: digestOfBytes(prepared), size: prepared.length });
      for (const l of base.manifest.layers)
        await client.uploadBlob(
          target,
          () => client.getBlob(parseReference(`${reg.host}/app/single:v1`), l),
          l,
          {
            mountFrom: parseReference(`${reg.host}/app/single:v1`),
          },
        );
      const manifest = {
        ...base.manifest,
        config: { ...base.manifest.config, digest: digestOfBytes(prepared), size: prepared.length },
      };
      await client.putManifest(target, Buffer.from(JSON.stringify(manifest)), base.mediaType);

      const dir = await writeTree(join(work, 'inject-owner'), { 'cvmfs/sft/setup.sh': 'echo hi\n' });
      const { chown } = await import('node:fs/promises');
      const root = process.getuid?.() === 0;
      if (root) await chown(join(dir, 'cvmfs/sft/setup.sh'), 4321, 8765);
      const uid = root ? 4321 : process.getuid!();
      const result = await injectLayer(client, `${reg.host}/app/cvmfs:v1`, dir, `${reg.host}/app/cvmfs:v2`, {
        preserveOwner: true,
      });
      expect(result.replaced).toBe(true); // the injector's layer, replaced in place
      expect(result.layerIndex).toBe(base.layers.length - 1);
      const injected = await pull(`${reg.host}/app/cvmfs:v2`);
      const labels = injected.config.config?.Labels ?? {};
      expect(labels).toMatchObject({
        cvmfs_injection_tar: result.layer.diffId,
        cvmfs_injection_gz: result.layer.digest,
        'org.ocidelta.injected.diff_id': result.layer.diffId,
        'org.ocidelta.injected.digest': result.layer.digest,
      });
      const raw = JSON.parse(injected.configBytes.toString()) as {
        container_config: { Labels: Record<string, string> };
      };
      expect(raw.container_config.Labels.cvmfs_injection_gz).toBe(result.layer.digest);
      // The file keeps its owner in the layer tar.
      const { extract } = await import('tar-stream');
      const ex = extract();
      const owners: Record<string, number> = {};
      ex.on('entry', (h, stream, next) => {
        owners[h.name] = h.uid ?? -1;
        stream.resume();
        stream.on('end', next);
      });
      const { pipeline } = await import('node:stream/promises');
      await pipeline(await injected.layers[result.layerIndex]!.uncompressed(), ex);
      expect(owners['cvmfs/sft/setup.sh']).toBe(uid);
    });

    it('fails when the marked layer is gone, and extract without a marker needs --layer', async () => {
      const image = await pull(`${reg.host}/app/injected:v1`);
      const tampered = { ...image, layers: image.layers.slice(0, -1) } as Image;
      expect(() => injectedLayerIndex(tampered)).toThrow(/no longer among its layers/);
      await expect(
        resolveLayerToExtract(client, `${reg.host}/app/single:v1`, {
          platform: parsePlatform('linux/arm64'),
        }),
      ).rejects.toMatchObject({
        code: 'ERR_INPUT',
      });
      const first = await resolveLayerToExtract(client, `${reg.host}/app/single:v1`, {
        platform: parsePlatform('linux/arm64'),
        layer: 0,
      });
      expect(first.index).toBe(0);
      await expect(
        resolveLayerToExtract(client, `${reg.host}/app/single:v1`, {
          platform: parsePlatform('linux/arm64'),
          layer: 9,
        }),
      ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    });
  });
});

describe.skipIf(!haveBinaries('docker-registry', 'skopeo'))('release tools with token auth', () => {
  let reg: RunningRegistry;
  let work: string;
  let client: RegistryClient;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-tools-token-'));
    // The user may not even pull from hidden/*: the registry answers 401 there, as Docker Hub
    // does for repositories that do not exist.
    reg = await startRegistry({
      auth: 'token',
      tokenOptions: {
        users: {
          ci: { password: 'cipass', actions: (repo) => (repo.startsWith('hidden/') ? [] : ['pull', 'push']) },
        },
      },
    });
    const src = await buildTestLayout(join(work, 'src'), [
      { platform: AMD64, label: 't-amd64' },
      { platform: ARM64, label: 't-arm64' },
    ]);
    await skopeoPushLayout(src, reg.host, 'app/src:v1', { creds: `${reg.username}:${reg.password}` });
    client = new RegistryClient({
      insecureRegistries: [reg.host],
      credentials: { username: 'ci', password: 'cipass' },
    });
  });

  afterAll(async () => {
    await client?.close();
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('a destination answering 401 counts as empty', async () => {
    const result = await mergeIndex(client, `${reg.host}/app/src:v1`, `${reg.host}/hidden/dest:v1`, {
      to: `${reg.host}/app/merged:v1`,
    });
    expect(result.entries.map((e) => [e.platform, e.from])).toEqual([
      ['linux/amd64', 'source'],
      ['linux/arm64/v8', 'source'],
    ]);
    const head = await client.headManifest(parseReference(`${reg.host}/app/merged:v1`));
    expect(head?.digest).toBe(result.digest);
  });

  it('status reports a ref it may not read as not present, with the auth error', async () => {
    const [ok, hidden] = await imageStatus(client, [`${reg.host}/app/src:v1`, `${reg.host}/hidden/dest:v1`]);
    expect(ok?.present).toBe(true);
    expect(hidden).toMatchObject({ present: false, errorCode: 'ERR_AUTH' });
  });
});
