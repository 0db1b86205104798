// RegistryClient under faults injected by a loopback proxy in front of the real registry:
// connection cut mid-blob (resumed with Range, right digest), 429 with Retry-After, 503 then
// success, a corrupted byte (ERR_DIGEST_MISMATCH), an upload restarted after a 503, and
// bounded retries.
import { isOciDeltaError, Reference } from '@ocidelta/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { RegistryClient } from '../src/index.js';
import {
  digestOfBytes,
  errorOf,
  type FaultProxy,
  pseudoRandom,
  type RunningRegistry,
  readAll,
  startFaultProxy,
  startRegistry,
} from './harness/index.js';

describe.skipIf(!haveBinaries('docker-registry'))('RegistryClient under injected faults', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let client: RegistryClient;
  const blob = pseudoRandom(400_000, 'faults');
  const digest = digestOfBytes(blob);
  const repo = () => Reference.parse(`${proxy.host}/faults/app:1`);
  const blobPath = `/v2/faults/app/blobs/${digest}`;

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none' });
    proxy = await startFaultProxy(reg.url);
    client = new RegistryClient({ useDockerConfig: false, retries: { baseMs: 5, maxMs: 50 } });
    await client.uploadBlob(repo(), blob, { digest, size: blob.length });
  });
  /** Upload `config` and put an OCI image manifest of it and `layers` under `ref` (through the proxy). */
  async function putImage(
    ref: Reference,
    config: Buffer,
    layers: { mediaType: string; digest: string; size: number }[],
  ): Promise<void> {
    await client.uploadBlob(ref, config, { digest: digestOfBytes(config), size: config.length });
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: digestOfBytes(config),
          size: config.length,
        },
        layers,
      }),
    );
    await client.putManifest(ref, manifest, 'application/vnd.oci.image.manifest.v1+json');
  }

  afterEach(() => {
    proxy.clearFaults();
  });
  afterAll(async () => {
    await client?.close();
    await proxy?.stop();
    await reg?.stop();
  });

  it('resumes a download cut mid-blob with Range and verifies the whole blob', async () => {
    proxy.addFault({ method: 'GET', path: blobPath, fault: { kind: 'cut', afterBytes: 150_000 }, times: 2 });
    const start = proxy.requests.length;
    const got = await readAll(await client.getBlob(repo(), { digest, size: blob.length }));
    expect(digestOfBytes(got)).toBe(digest);
    const gets = proxy.requests.slice(start).filter((r) => r.method === 'GET' && r.path === blobPath);
    expect(gets.length).toBe(3);
    expect(gets[0]?.range).toBeUndefined();
    // Each resume asks from a later byte than the one before.
    const froms = gets.slice(1).map((r) => Number(/^bytes=(\d+)-$/.exec(r.range ?? '')?.[1]));
    expect(froms[0]).toBeGreaterThan(0);
    expect(froms[1]).toBeGreaterThan(froms[0]!);
    expect(proxy.pendingFaults()).toBe(0);
  });

  it('waits for Retry-After on 429 and retries 503, then succeeds', async () => {
    proxy.addFault({
      method: 'HEAD',
      path: blobPath,
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
    });
    proxy.addFault({ method: 'HEAD', path: blobPath, fault: { kind: 'status', status: 503, body: '' } });
    const logs: string[] = [];
    const logged = new RegistryClient({
      useDockerConfig: false,
      retries: { baseMs: 5, maxMs: 50 },
      logger: (m) => logs.push(m),
    });
    const start = proxy.requests.length;
    expect(await logged.headBlob(repo(), digest)).toEqual({ size: blob.length });
    const heads = proxy.requests.slice(start).filter((r) => r.method === 'HEAD');
    expect(heads.map((r) => r.status)).toEqual([429, 503, 200]);
    // Retry-After: 1 was honored (the backoff alone is at most 50 ms).
    const waits = logs.map((l) => /-> (\d+); retry \d+\/\d+ in (\d+) ms/.exec(l)).filter((m) => m !== null);
    expect(waits.map((m) => [m[1], Number(m[2]) >= 1000])).toEqual([
      ['429', true],
      ['503', false],
    ]);
    await logged.close();
  });

  it('fails with ERR_TOO_MANY_REQUESTS after bounded retries, and at once for a long Retry-After', async () => {
    proxy.addFault({
      method: 'HEAD',
      path: blobPath,
      fault: { kind: 'status', status: 429 },
      times: Infinity,
    });
    const start = proxy.requests.length;
    const err = await errorOf(client.headBlob(repo(), digest));
    expect(isOciDeltaError(err, 'ERR_TOO_MANY_REQUESTS')).toBe(true);
    expect(proxy.requests.length - start).toBe(5); // 1 + max 4 retries
    proxy.clearFaults();
    proxy.addFault({
      method: 'HEAD',
      path: blobPath,
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '3600' } },
    });
    const s2 = proxy.requests.length;
    expect(isOciDeltaError(await errorOf(client.headBlob(repo(), digest)), 'ERR_TOO_MANY_REQUESTS')).toBe(
      true,
    );
    expect(proxy.requests.length - s2).toBe(1);
  });

  it('fails with ERR_DIGEST_MISMATCH on a corrupted byte', async () => {
    proxy.addFault({ method: 'GET', path: blobPath, fault: { kind: 'corrupt', offset: 1234 } });
    const stream = await client.getBlob(repo(), { digest, size: blob.length });
    const err = await errorOf(readAll(stream));
    expect(isOciDeltaError(err, 'ERR_DIGEST_MISMATCH')).toBe(true);
  });

  it('fails with ERR_DIGEST_MISMATCH on a corrupted manifest', async () => {
    const config = Buffer.from(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    );
    await putImage(repo(), config, []);
    proxy.addFault({
      method: 'GET',
      path: '/v2/faults/app/manifests/1',
      fault: { kind: 'corrupt', offset: 20 },
    });
    expect(isOciDeltaError(await errorOf(client.getManifest(repo())), 'ERR_DIGEST_MISMATCH')).toBe(true);
  });

  it('explains a refused DELETE on a registry without deletion enabled', async () => {
    const err = await errorOf(client.deleteManifest(repo()));
    expect(isOciDeltaError(err, 'ERR_REGISTRY')).toBe(true);
    expect(err?.message).toContain('deletion may be disabled');
    expect((await client.headManifest(repo()))?.digest).toMatch(/^sha256:/);
  });

  it('follows a Link rel="next" to an opaque URL as given', async () => {
    await client.putManifest(
      repo().withTag('real-tag'),
      (await client.getManifest(repo())).bytes,
      'application/vnd.oci.image.manifest.v1+json',
    );
    // The first page is injected (distribution 2.8 never pages); its next link goes to the real registry.
    proxy.addFault({
      method: 'GET',
      path: '/v2/faults/app/tags/list',
      fault: {
        kind: 'status',
        status: 200,
        headers: { link: '</v2/faults/app/tags/list?cursor=opaque%2Fabc%3D%3D&n=2>; rel="next"' },
        body: JSON.stringify({ name: 'faults/app', tags: ['page-one'] }),
      },
    });
    const start = proxy.requests.length;
    const tags = await client.listTags(repo(), { n: 2 });
    expect(tags[0]).toBe('page-one');
    expect([...tags.slice(1)].sort()).toEqual(['1', 'real-tag']);
    const paths = proxy.requests.slice(start).map((r) => r.path);
    expect(paths).toEqual([
      '/v2/faults/app/tags/list?n=2',
      '/v2/faults/app/tags/list?cursor=opaque%2Fabc%3D%3D&n=2',
    ]);
  });

  it('fails an image layer read from blobSource with ERR_DIGEST_MISMATCH on a corrupted byte', async () => {
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digest] } }),
    );
    const tagged = repo().withTag('layered');
    await putImage(tagged, config, [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: blob.length },
    ]);
    const image = await client.resolveImage(tagged);
    expect(digestOfBytes(await readAll(await image.layers[0]!.compressed()))).toBe(digest);
    proxy.addFault({ method: 'GET', path: blobPath, fault: { kind: 'corrupt', offset: 390_000 } });
    const err = await errorOf(readAll(await image.layers[0]!.compressed()));
    expect(isOciDeltaError(err, 'ERR_DIGEST_MISMATCH')).toBe(true);
  });

  it('restarts an upload after a 503 on the final PUT when the data can be re-opened', async () => {
    const data = pseudoRandom(200_000, 'restart');
    const d = digestOfBytes(data);
    proxy.addFault({
      method: 'PUT',
      path: /\/v2\/faults\/up\/blobs\/uploads\//,
      fault: { kind: 'status', status: 503 },
    });
    let opened = 0;
    const up = await client.uploadBlob(
      Reference.parse(`${proxy.host}/faults/up:1`),
      async () => {
        opened++;
        const { Readable } = await import('node:stream');
        return Readable.from([data.subarray(0, 77_777), data.subarray(77_777)]);
      },
      { digest: d, size: data.length },
    );
    expect(up).toEqual({ digest: d, mounted: false, skipped: false });
    expect(opened).toBe(2);
    expect(proxy.pendingFaults()).toBe(0);
  });
});
