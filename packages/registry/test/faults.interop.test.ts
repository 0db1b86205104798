// Pull and push through a fault-injecting proxy in front of the real docker-registry: a cut
// connection mid-blob resumes with Range, 429 + Retry-After and 503 are retried, and a
// corrupted byte fails with ERR_DIGEST_MISMATCH leaving no blob (and no temp file) behind.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciLayout } from '@ocidelta/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { pullImage, pushLayout, RegistryClient } from '../src/index.js';
import {
  type BuiltLayout,
  buildTestLayout,
  type FaultProxy,
  pseudoRandom,
  type RunningRegistry,
  skopeoInspectRaw,
  skopeoPushLayout,
  startFaultProxy,
  startRegistry,
} from './harness/index.js';

const BIG = 3 * 1024 * 1024;

async function hashFile(path: string): Promise<string> {
  return `sha256:${createHash('sha256')
    .update(await readFile(path))
    .digest('hex')}`;
}

describe.skipIf(!haveBinaries('docker-registry', 'skopeo'))('transfers through faults', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;
  let fixture: BuiltLayout;
  let bigLayer: string;
  let client: RegistryClient;
  let n = 0;
  const ref = () => `${proxy.host}/faults/app:v1`;
  const freshDir = () => join(work, `out-${++n}`);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-faults-'));
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    fixture = await buildTestLayout(join(work, 'fixture'), [
      {
        label: 'faults',
        layers: [
          { files: { 'small.txt': 'small\n' } },
          { files: { 'big.bin': pseudoRandom(BIG, 'faults') }, compression: 'none' },
        ],
      },
    ]);
    bigLayer = fixture.images[0]?.layers[1]?.digest as string;
    await skopeoPushLayout(fixture, reg.host, 'faults/app:v1');
    client = new RegistryClient({ useDockerConfig: false, retries: { baseMs: 20, maxMs: 200 } });
  });

  afterAll(async () => {
    await client?.close();
    await proxy?.stop();
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(() => {
    proxy.clearFaults();
    proxy.requests.length = 0;
  });

  it('resumes a blob whose connection is cut midway, with the right digest', async () => {
    proxy.addFault({
      method: 'GET',
      path: `/blobs/${bigLayer}`,
      fault: { kind: 'cut', afterBytes: 1_000_000 },
    });
    const dir = freshDir();
    const result = await pullImage(client, ref(), { oci: dir });
    expect(result.digest).toBe(fixture.digest);
    expect(proxy.pendingFaults()).toBe(0);
    const blobGets = proxy.requests.filter((r) => r.method === 'GET' && r.path.includes(bigLayer));
    expect(blobGets.length).toBe(2);
    expect(blobGets[0]?.fault).toBe('cut');
    // The second request resumes where the data stopped rather than starting over.
    expect(blobGets[1]?.range).toMatch(/^bytes=[1-9]\d*-$/);
    const layout = await OciLayout.open(dir);
    expect(await hashFile(layout.blobPath(bigLayer))).toBe(bigLayer);
  });

  it('waits on 429 with Retry-After, then succeeds', async () => {
    proxy.addFault({
      method: 'GET',
      path: '/manifests/v1',
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
    });
    const result = await pullImage(client, ref(), { oci: freshDir() });
    expect(result.digest).toBe(fixture.digest);
    const manifestGets = proxy.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/manifests/v1'));
    expect(manifestGets.map((r) => r.status)).toEqual([429, 200]);
  });

  it('retries a blob answering 503 twice, then succeeds', async () => {
    proxy.addFault({
      method: 'GET',
      path: `/blobs/${bigLayer}`,
      fault: { kind: 'status', status: 503 },
      times: 2,
    });
    const dir = freshDir();
    const result = await pullImage(client, ref(), { oci: dir });
    expect(result.blobs.transferred).toBe(3);
    const statuses = proxy.requests.filter((r) => r.path.includes(bigLayer)).map((r) => r.status);
    expect(statuses).toEqual([503, 503, 200]);
    expect(await hashFile((await OciLayout.open(dir)).blobPath(bigLayer))).toBe(bigLayer);
  });

  it('fails a corrupted blob with ERR_DIGEST_MISMATCH and leaves no blob in the layout', async () => {
    // An existing layout: the failed pull must not leave the bad blob, any temp file, or any
    // other blob it added.
    const dir = freshDir();
    const layout = await OciLayout.create(dir);
    proxy.addFault({
      method: 'GET',
      path: `/blobs/${bigLayer}`,
      fault: { kind: 'corrupt', offset: 12_345 },
      times: Infinity,
    });
    await expect(pullImage(client, ref(), { oci: dir, concurrency: 1 })).rejects.toMatchObject({
      code: 'ERR_DIGEST_MISMATCH',
    });
    expect(proxy.requests.some((r) => r.fault === 'corrupt')).toBe(true);
    expect(await layout.hasBlob(bigLayer)).toBe(false);
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
    expect((await layout.readIndex()).manifests).toEqual([]);

    // A fresh destination is removed entirely.
    const fresh = freshDir();
    await expect(pullImage(client, ref(), { oci: fresh })).rejects.toMatchObject({
      code: 'ERR_DIGEST_MISMATCH',
    });
    await expect(readdir(fresh)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('gives up after bounded retries on a registry that keeps failing', async () => {
    proxy.addFault({
      method: 'GET',
      path: '/manifests/v1',
      fault: { kind: 'status', status: 503 },
      times: Infinity,
    });
    const err = await pullImage(client, ref(), { oci: freshDir() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_REGISTRY', status: 503 });
    const attempts = proxy.requests.filter((r) => r.path.endsWith('/manifests/v1')).length;
    expect(attempts).toBe(5); // first attempt + 4 retries (the default bound)
  });

  it('pushes through 503 on upload start and 429 on the manifest PUT', async () => {
    const layout = await buildTestLayout(join(work, 'push-src'), [{ label: 'push-through-faults' }]);
    proxy.addFault({ method: 'POST', path: '/blobs/uploads/', fault: { kind: 'status', status: 503 } });
    proxy.addFault({
      method: 'PUT',
      path: '/manifests/v2',
      fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
    });
    const target = `${proxy.host}/faults/pushed:v2`;
    const result = await pushLayout(client, layout.dir, target);
    expect(result.digest).toBe(layout.digest);
    expect(proxy.pendingFaults()).toBe(0);
    const raw = await skopeoInspectRaw(`${reg.host}/faults/pushed:v2`);
    expect(`sha256:${createHash('sha256').update(raw).digest('hex')}`).toBe(layout.digest);
  });

  it('stops a pull when aborted and leaves nothing behind', async () => {
    const controller = new AbortController();
    const dir = freshDir();
    const pending = pullImage(client, ref(), {
      oci: dir,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === 'blob' && e.done > 0) controller.abort();
      },
    });
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
