// The pure parts of transfers: the manifest tree for some platforms, unique blobs, write order,
// and bounded parallelism.
import { createHash } from 'node:crypto';
import { getEventListeners } from 'node:events';
import type { Descriptor } from '@ocidelta/core';
import { forEachLimit } from '@ocidelta/core';
import { describe, expect, it } from 'vitest';
import { imagesOf, manifestsInOrder, planTransfer, uniqueBlobs } from '../src/transfer/plan.js';

const sha = (s: string | Uint8Array) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

function blob(name: string, size = 10): Descriptor {
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(name), size };
}

function manifest(config: string, layers: Descriptor[]) {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: 5 },
      layers,
    }),
  );
  return { bytes, descriptor: { mediaType: OCI_MANIFEST, digest: sha(bytes), size: bytes.length } };
}

const shared = blob('shared-base');
const amd = manifest('cfg-amd64', [shared, blob('amd64-app')]);
const arm = manifest('cfg-arm64', [shared, blob('arm64-app')]);
const indexBytes = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { ...amd.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
      { ...arm.descriptor, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
  }),
);
const index = {
  bytes: indexBytes,
  descriptor: { mediaType: OCI_INDEX, digest: sha(indexBytes), size: indexBytes.length },
};
const store = new Map([amd, arm, index].map((m) => [m.descriptor.digest, m.bytes]));
const fetched: string[] = [];
const fetcher = async (d: Descriptor) => {
  fetched.push(d.digest);
  const bytes = store.get(d.digest);
  if (!bytes) throw new Error(`unknown ${d.digest}`);
  return { bytes, mediaType: d.mediaType };
};

describe('planTransfer', () => {
  it('takes an image as is', async () => {
    const plan = await planTransfer(amd, fetcher, {});
    expect(plan.kind).toBe('image');
    expect(uniqueBlobs(plan).map((b) => b.digest)).toEqual([
      sha('cfg-amd64'),
      shared.digest,
      sha('amd64-app'),
    ]);
  });

  it('keeps a whole index with allPlatforms: shared layers once, children before the index', async () => {
    const plan = await planTransfer(index, fetcher, { allPlatforms: true });
    expect(plan.descriptor.digest).toBe(index.descriptor.digest);
    const blobs = uniqueBlobs(plan).map((b) => b.digest);
    expect(blobs.filter((d) => d === shared.digest)).toHaveLength(1);
    expect(blobs).toHaveLength(5); // 2 configs, shared base, 2 app layers
    expect(manifestsInOrder(plan).map((m) => m.descriptor.digest)).toEqual([
      amd.descriptor.digest,
      arm.descriptor.digest,
      index.descriptor.digest,
    ]);
    expect(imagesOf(plan).map((m) => m.platform)).toEqual(['linux/amd64', 'linux/arm64/v8']);
  });

  it('narrows an index to one platform (normalized), or to the default platform', async () => {
    const arm64 = await planTransfer(index, fetcher, { platform: 'linux/arm64' });
    expect(arm64.descriptor.digest).toBe(arm.descriptor.digest);
    expect(manifestsInOrder(arm64)).toHaveLength(1);
    const byDefault = await planTransfer(index, fetcher, {
      defaultPlatform: { os: 'linux', architecture: 'amd64' },
    });
    expect(byDefault.descriptor.digest).toBe(amd.descriptor.digest);
  });

  it('refuses a missing platform, naming those available', async () => {
    await expect(planTransfer(index, fetcher, { platform: 'linux/s390x' })).rejects.toMatchObject({
      code: 'ERR_PLATFORM_NOT_FOUND',
      message: expect.stringContaining('linux/arm64'),
    });
    await expect(
      planTransfer(index, fetcher, { platform: 'linux/amd64', allPlatforms: true }),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTIONS',
    });
  });

  it('rejects a child whose bytes do not match the digest the index lists', async () => {
    const lying = async (d: Descriptor) => ({
      bytes:
        d.digest === arm.descriptor.digest ? amd.bytes : ((store.get(d.digest) as Buffer) ?? Buffer.alloc(0)),
      mediaType: d.mediaType,
    });
    await expect(planTransfer(index, lying, { allPlatforms: true })).rejects.toMatchObject({
      code: 'ERR_DIGEST_MISMATCH',
    });
  });
});

describe('forEachLimit', () => {
  it('never runs more than the limit at once and runs every item', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      done.push(n);
    });
    expect(peak).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('aborts the others on the first failure, waits for them, and throws that failure', async () => {
    const aborted: number[] = [];
    const started: number[] = [];
    const failure = new Error('boom');
    const run = forEachLimit([1, 2, 3, 4, 5], 2, async (n, signal) => {
      started.push(n);
      if (n === 2) throw failure;
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          aborted.push(n);
          resolve();
        });
      });
    });
    await expect(run).rejects.toBe(failure);
    expect(aborted).toEqual([1]);
    expect(started).toEqual([1, 2]); // nothing new starts after the failure
  });

  it('gives each task its own signal, so listeners do not pile up on a shared one', async () => {
    const caller = new AbortController();
    const signals: AbortSignal[] = [];
    await forEachLimit(
      Array.from({ length: 30 }, (_, i) => i),
      30,
      async (_n, signal) => {
        // What a request does: listen for abort while it runs (and, like some, never remove it).
        signal.addEventListener('abort', () => undefined);
        signals.push(signal);
        await new Promise((r) => setTimeout(r, 1));
      },
      { signal: caller.signal },
    );
    expect(new Set(signals).size).toBe(30);
    for (const s of signals) expect(getEventListeners(s, 'abort').length).toBe(1);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('throws ERR_ABORTED when the caller aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      forEachLimit([1], 1, async () => undefined, { signal: controller.signal }),
    ).rejects.toMatchObject({
      code: 'ERR_ABORTED',
    });
  });
});
