// RegistryClient against the real docker-registry (distribution 2.8) without auth: manifests
// put/get/head/delete, blob upload (monolithic, chunked, mount, skip), blob download, tags,
// catalog, and images pushed/read back by the real skopeo.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { isOciDeltaError, MediaType, Reference } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { RegistryClient } from '../src/index.js';
import { loadUndiciParts, requestVia, undici } from '../src/undici.js';
import {
  buildTestLayout,
  digestOfBytes,
  pseudoRandom,
  type RunningRegistry,
  readAll,
  skopeoInspectRaw,
  skopeoListTags,
  skopeoPushLayout,
  startForwardProxy,
  startRegistry,
  tarFiles,
} from './harness/index.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isOciDeltaError(err) ? err.code : `non-typed: ${String(err)}`;
  }
  return undefined;
}

/** A small image (config + one gzip layer) as blobs plus manifest bytes. */
async function makeImage(label: string) {
  const layer = gzipSync(await tarFiles({ 'hello.txt': `hello ${label}\n` }));
  const diffId = digestOfBytes(await tarFiles({ 'hello.txt': `hello ${label}\n` }));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [diffId] },
      config: { Labels: { label } },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: digestOfBytes(config), size: config.length },
      layers: [{ mediaType: MediaType.OciLayerGzip, digest: digestOfBytes(layer), size: layer.length }],
    }),
  );
  return { layer, config, manifest };
}

describe.skipIf(!haveBinaries('docker-registry', 'skopeo'))('RegistryClient, registry without auth', () => {
  let reg: RunningRegistry;
  let client: RegistryClient;
  let tmp: string;
  const ref = (s: string) => Reference.parse(`${reg.host}/${s}`);

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none', deleteEnabled: true });
    client = new RegistryClient({ useDockerConfig: false });
    tmp = await mkdtemp(join(tmpdir(), 'ocidelta-client-'));
  });
  afterAll(async () => {
    await client?.close();
    await reg?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it("sends requests through undici's parts, and through the package index they fall back to", async () => {
    const fallback = loadUndiciParts(import.meta.url, 'undici/lib/moved-in-a-newer-release');
    for (const parts of [undici(), fallback]) {
      const dispatcher = new parts.Agent();
      try {
        const r = await requestVia(dispatcher, new URL(`${reg.url}/v2/_catalog?n=1`), { method: 'GET' });
        expect(r.statusCode).toBe(200);
        expect(JSON.parse(await r.body.text())).toHaveProperty('repositories');
      } finally {
        await dispatcher.close();
      }
    }
  });

  it('pushes blobs and a manifest that skopeo reads back byte for byte', async () => {
    const img = await makeImage('one');
    const repo = ref('app/one:v1');
    const up1 = await client.uploadBlob(repo, img.layer, {
      digest: digestOfBytes(img.layer),
      size: img.layer.length,
    });
    expect(up1).toEqual({ digest: digestOfBytes(img.layer), mounted: false, skipped: false });
    const up2 = await client.uploadBlob(repo, Readable.from([img.config]), {
      digest: digestOfBytes(img.config),
      size: img.config.length,
    });
    expect(up2.skipped).toBe(false);
    const again = await client.uploadBlob(repo, img.layer, {
      digest: digestOfBytes(img.layer),
      size: img.layer.length,
    });
    expect(again.skipped).toBe(true);

    const digest = await client.putManifest(repo, img.manifest, MediaType.OciManifest);
    expect(digest).toBe(digestOfBytes(img.manifest));
    const raw = await skopeoInspectRaw(`${reg.host}/app/one:v1`);
    expect(digestOfBytes(Buffer.from(raw))).toBe(digest);

    const got = await client.getManifest(repo);
    expect(got.digest).toBe(digest);
    expect(got.mediaType).toBe(MediaType.OciManifest);
    expect(got.bytes.equals(img.manifest)).toBe(true);

    const head = await client.headManifest(repo);
    expect(head).toEqual({ digest, mediaType: MediaType.OciManifest, size: img.manifest.length });
    expect(await client.headManifest(ref('app/one:missing'))).toBeUndefined();
    expect(await codeOf(client.getManifest(ref('app/one:missing')))).toBe('ERR_MANIFEST_UNKNOWN');

    const blob = await readAll(
      await client.getBlob(repo, { digest: digestOfBytes(img.layer), size: img.layer.length }),
    );
    expect(blob.equals(img.layer)).toBe(true);
    expect(await client.headBlob(repo, digestOfBytes(img.layer))).toEqual({ size: img.layer.length });
    expect(await client.headBlob(repo, digestOfBytes(Buffer.from('nope')))).toBeUndefined();
    // Every method takes the reference as text too, skopeo's docker:// form included.
    expect((await client.getManifest(`${reg.host}/app/one:v1`)).digest).toBe(digest);
    expect((await client.headManifest(`docker://${reg.host}/app/one:v1`))?.digest).toBe(digest);
    expect(await client.headBlob(`${reg.host}/app/one`, digestOfBytes(img.layer))).toEqual({
      size: img.layer.length,
    });
    expect(await client.listTags(`${reg.host}/app/one`)).toEqual(['v1']);
    expect(await codeOf(client.getManifest(`oci:${reg.host}/app/one:v1`))).toBe('ERR_INVALID_REFERENCE');
  });

  it('uploads large blobs in chunks and mounts across repositories', async () => {
    const big = pseudoRandom(300_000, 'chunked');
    const repo = ref('app/chunked:latest');
    const events: number[] = [];
    const res = await client.uploadBlob(
      repo,
      async () => Readable.from([big.subarray(0, 100_001), big.subarray(100_001)]),
      { digest: digestOfBytes(big), size: big.length },
      { chunkSize: 64 * 1024, onProgress: (p) => events.push(p.done) },
    );
    expect(res).toEqual({ digest: digestOfBytes(big), mounted: false, skipped: false });
    expect(events.at(-1)).toBe(big.length);
    const back = await readAll(await client.getBlob(repo, { digest: digestOfBytes(big), size: big.length }));
    expect(digestOfBytes(back)).toBe(digestOfBytes(big));

    const other = ref('other/place:latest');
    const mounted = await client.uploadBlob(
      other,
      () => Promise.reject(new Error('data must not be read when mounting')),
      { digest: digestOfBytes(big), size: big.length },
      { mountFrom: repo },
    );
    expect(mounted).toEqual({ digest: digestOfBytes(big), mounted: true, skipped: false });
    expect(await client.headBlob(other, digestOfBytes(big))).toEqual({ size: big.length });
  });

  it('uploads an empty blob, chunked bytes, and falls back to upload when a mount source lacks the blob', async () => {
    const repo = ref('app/edge:latest');
    const empty = Buffer.alloc(0);
    expect(
      await client.uploadBlob(repo, Readable.from([]), { digest: digestOfBytes(empty), size: 0 }),
    ).toMatchObject({
      skipped: false,
    });
    expect(await client.headBlob(repo, digestOfBytes(empty))).toEqual({ size: 0 });

    const bytes = pseudoRandom(150_000, 'chunked-bytes');
    await client.uploadBlob(
      repo,
      bytes,
      { digest: digestOfBytes(bytes), size: bytes.length },
      { chunkSize: 50_000 },
    );
    expect(await client.headBlob(repo, digestOfBytes(bytes))).toEqual({ size: bytes.length });

    const fresh = pseudoRandom(1000, 'not-in-source');
    const res = await client.uploadBlob(
      repo,
      fresh,
      { digest: digestOfBytes(fresh), size: fresh.length },
      { mountFrom: ref('app/one:v1') },
    );
    expect(res).toEqual({ digest: digestOfBytes(fresh), mounted: false, skipped: false });
    expect(await client.headBlob(repo, digestOfBytes(fresh))).toEqual({ size: fresh.length });
  });

  it('stops a download with ERR_ABORTED when the signal fires', async () => {
    const big = pseudoRandom(2_000_000, 'abort');
    const repo = ref('app/abort:latest');
    await client.uploadBlob(repo, big, { digest: digestOfBytes(big), size: big.length });
    const ac = new AbortController();
    const stream = await client.getBlob(
      repo,
      { digest: digestOfBytes(big), size: big.length },
      { signal: ac.signal },
    );
    let got = 0;
    const err = await (async () => {
      try {
        for await (const c of stream) {
          got += (c as Buffer).length;
          ac.abort();
        }
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isOciDeltaError(err, 'ERR_ABORTED')).toBe(true);
    expect(got).toBeLessThan(big.length);
    expect(await codeOf(client.headManifest(repo, { signal: ac.signal }))).toBe('ERR_ABORTED');
  });

  it('close() returns at once with a blob stream opened and never read; the stream ends in an error', async () => {
    const big = pseudoRandom(8_000_000, 'close');
    const repo = ref('app/close:latest');
    await client.uploadBlob(repo, big, { digest: digestOfBytes(big), size: big.length });
    const own = new RegistryClient({ useDockerConfig: false });
    const stream = await own.getBlob(repo, { digest: digestOfBytes(big), size: big.length });
    const ended = new Promise<unknown>((resolve) => {
      stream.on('error', resolve);
      stream.on('end', () => resolve(undefined));
    });
    const started = Date.now();
    // Before: undici's Agent.close() waited for the unread body forever.
    await own.close();
    expect(Date.now() - started).toBeLessThan(5000);
    let got = 0;
    stream.on('data', (c: Buffer) => {
      got += c.length;
    });
    const err = await ended;
    expect(isOciDeltaError(err, 'ERR_ABORTED')).toBe(true);
    expect(got).toBeLessThan(big.length);
    // a closed client refuses new work instead of opening new connections
    expect(await codeOf(own.headManifest(repo))).toBe('ERR_ABORTED');
  });

  it('goes through HTTP_PROXY in absolute form (no CONNECT to a plain-HTTP registry)', async () => {
    const proxy = await startForwardProxy();
    try {
      const data = Buffer.from('via http proxy');
      const repo = ref('app/proxied:1');
      const viaProxy = new RegistryClient({ useDockerConfig: false, env: { HTTP_PROXY: proxy.url } });
      await viaProxy.uploadBlob(repo, data, { digest: digestOfBytes(data), size: data.length });
      const back = await readAll(
        await viaProxy.getBlob(repo, { digest: digestOfBytes(data), size: data.length }),
      );
      expect(back.equals(data)).toBe(true);
      await viaProxy.close();
      expect(proxy.seen).toContain(`GET http://${reg.host}/v2/`);
      expect(proxy.seen.some((l) => l.startsWith(`GET http://${reg.host}/v2/app/proxied/blobs/`))).toBe(true);
      expect(proxy.seen.some((l) => l.startsWith('CONNECT'))).toBe(false);
    } finally {
      await proxy.stop();
    }
  });

  it('stores and serves Docker v2 manifests with their media type', async () => {
    const img = await makeImage('docker');
    const repo = ref('app/docker:v2');
    await client.uploadBlob(repo, img.layer, { digest: digestOfBytes(img.layer), size: img.layer.length });
    await client.uploadBlob(repo, img.config, { digest: digestOfBytes(img.config), size: img.config.length });
    const m = JSON.parse(img.manifest.toString()) as Record<string, unknown>;
    const docker = Buffer.from(
      JSON.stringify({
        ...m,
        mediaType: MediaType.DockerManifest,
        config: { ...(m.config as object), mediaType: MediaType.DockerConfig },
        layers: (m.layers as object[]).map((l) => ({ ...l, mediaType: MediaType.DockerLayerGzip })),
      }),
    );
    const d = await client.putManifest(repo, docker, MediaType.DockerManifest);
    const got = await client.getManifest(repo.withDigest(d));
    expect(got.mediaType).toBe(MediaType.DockerManifest);
    expect(got.digest).toBe(digestOfBytes(docker));
    const image = await client.resolveImage(repo);
    expect(image.digest).toBe(d);
    expect((await client.getIndexOrImage(repo)).kind).toBe('image');
    // Pushing a manifest whose blobs are missing is a typed error.
    const orphan = Buffer.from(
      JSON.stringify({
        ...m,
        annotations: { x: 'y' },
        layers: [
          { mediaType: MediaType.OciLayerGzip, digest: digestOfBytes(Buffer.from('absent')), size: 6 },
        ],
      }),
    );
    expect(await codeOf(client.putManifest(ref('app/docker:orphan'), orphan, MediaType.OciManifest))).toBe(
      'ERR_BLOB_UNKNOWN',
    );
  });

  it('refuses data that does not match the expected digest and commits nothing', async () => {
    const data = pseudoRandom(10_000, 'bad');
    const wrong = digestOfBytes(Buffer.from('something else'));
    const repo = ref('app/bad:latest');
    expect(
      await codeOf(client.uploadBlob(repo, Readable.from([data]), { digest: wrong, size: data.length })),
    ).toBe('ERR_DIGEST_MISMATCH');
    expect(await client.headBlob(repo, wrong)).toBeUndefined();
    expect(await client.headBlob(repo, digestOfBytes(data))).toBeUndefined();
  });

  it('lists tags and the catalog, deletes manifests', async () => {
    const img = await makeImage('tags');
    const repo = ref('app/tags:a');
    await client.uploadBlob(repo, img.layer, { digest: digestOfBytes(img.layer), size: img.layer.length });
    await client.uploadBlob(repo, img.config, { digest: digestOfBytes(img.config), size: img.config.length });
    for (const t of ['a', 'b', 'c'])
      await client.putManifest(repo.withTag(t), img.manifest, MediaType.OciManifest);
    const tags = await client.listTags(repo);
    expect([...tags].sort()).toEqual(['a', 'b', 'c']);
    expect([...tags].sort()).toEqual([...(await skopeoListTags(`${reg.host}/app/tags`))].sort());
    const repos = await client.catalog({ registry: reg.host });
    expect(repos).toContain('app/tags');
    expect(await codeOf(client.listTags(ref('no/such')))).toBe('ERR_NAME_UNKNOWN');

    await client.deleteManifest(repo.withTag('b'));
    expect(await client.headManifest(repo.withTag('a'))).toBeUndefined();
    expect(await codeOf(client.deleteManifest(repo.withTag('a')))).toBe('ERR_MANIFEST_UNKNOWN');
  });

  it('resolves a platform from an index pushed by skopeo and streams verified layers', async () => {
    const layout = await buildTestLayout(
      join(tmp, 'multi'),
      [
        { platform: { os: 'linux', architecture: 'amd64' }, label: 'x86' },
        { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, label: 'arm' },
      ],
      { tag: 'multi' },
    );
    await skopeoPushLayout(layout, reg.host, 'app/multi:1');
    const r = ref('app/multi:1');
    const top = await client.headManifest(r);
    expect(top?.digest).toBe(layout.digest);
    expect(top?.mediaType).toBe(MediaType.OciIndex);
    const arm = layout.images[1]!;
    const image = await client.resolveImage(r, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(image.digest).toBe(arm.digest);
    expect(image.config.architecture).toBe('arm64');
    expect(image.layers.map((l) => l.digest)).toEqual(arm.layers.map((l) => l.digest));
    const stored = await readAll(await image.layers[0]!.compressed());
    expect(digestOfBytes(stored)).toBe(arm.layers[0]!.digest);
    const both = await client.getIndexOrImage(r);
    expect(both.kind).toBe('index');
    expect(await codeOf(client.resolveImage(r, { platform: { os: 'linux', architecture: 's390x' } }))).toBe(
      'ERR_PLATFORM_NOT_FOUND',
    );
  });
});
