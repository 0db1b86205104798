/**
 * Pull an image or a whole index from a registry into an OCI layout directory, an oci-archive
 * or a docker-archive. Layers download in parallel (bounded), each streamed to a temp file,
 * verified against its digest and size, then renamed into `blobs/`; manifests follow their
 * blobs and the name is added to index.json last. A failed pull removes every blob it added.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  abortAware,
  archiveLayout,
  type Descriptor,
  exists,
  forEachLimit,
  hostPlatform,
  makeWorkDir,
  OciDeltaError,
  OciLayout,
  type Reference,
  type ReferenceLike,
  refAnnotations,
  replaceFile,
  sweepLeftovers,
  throwIfAborted,
  toReference,
  writeDockerArchive,
} from '@ocidelta/core';
import type { RegistryClient } from '../client.js';
import { type ManifestNode, manifestsInOrder, planTransfer, topDescriptor, uniqueBlobs } from './plan.js';
import {
  DEFAULT_CONCURRENCY,
  newCounters,
  resultOf,
  type TransferOptions,
  type TransferResult,
  withTransferTotals,
} from './progress.js';
import { fetchManifestByDescriptor, fetchTopManifest, openRemoteBlob } from './remote.js';

export interface PullOptions extends TransferOptions {
  /** Write into this OCI layout directory (created when missing, added to when present). */
  oci?: string;
  /** Write an oci-archive (tar of a layout) to this file. */
  ociArchive?: string;
  /** Write a docker-archive (`docker load` input) to this file; one image only. */
  dockerArchive?: string;
  /**
   * Name of the image at the destination: the `org.opencontainers.image.ref.name` in a layout
   * (default: the reference's tag), the RepoTag in a docker-archive (default: the reference).
   */
  name?: string;
}

/** Fetch the manifest tree of `ref` for the platforms asked for. */
export async function planPull(
  client: RegistryClient,
  refIn: ReferenceLike,
  options: TransferOptions & { defaultAllPlatforms?: boolean } = {},
): Promise<ManifestNode> {
  const ref = toReference(refIn);
  const top = await fetchTopManifest(client, ref, options.signal);
  return planTransfer(top, (d) => fetchManifestByDescriptor(client, ref, d, options.signal), {
    platform: options.platform,
    allPlatforms: options.allPlatforms ?? (options.platform === undefined && options.defaultAllPlatforms),
    defaultPlatform: hostPlatform(),
  });
}

/**
 * Download the blobs and manifests of `plan` into `layout` and name the top manifest. Blobs
 * already present are skipped. On failure every blob this call added is removed.
 */
export async function pullPlanIntoLayout(
  client: RegistryClient,
  refIn: ReferenceLike,
  plan: ManifestNode,
  layout: OciLayout,
  optionsIn: TransferOptions & { name?: string } = {},
): Promise<TransferResult> {
  const ref = toReference(refIn);
  const options = withTransferTotals(plan, optionsIn);
  const counters = newCounters();
  const added: string[] = [];
  try {
    await forEachLimit(
      uniqueBlobs(plan),
      options.concurrency ?? DEFAULT_CONCURRENCY,
      async (d: Descriptor, signal) => {
        if (await layout.hasBlob(d.digest)) {
          counters.skipped++;
          options.onProgress?.({ phase: 'skip', item: d.digest, done: d.size, total: d.size });
          return;
        }
        const stream = await openRemoteBlob(client, ref, d, signal, (done) =>
          options.onProgress?.({ phase: 'blob', item: d.digest, done, total: d.size }),
        );
        await writeVerifiedBlob(layout, d, stream, signal);
        added.push(d.digest);
        counters.transferred++;
        counters.bytes += d.size;
      },
      { signal: options.signal, what: `pulling ${ref}` },
    );
    for (const m of manifestsInOrder(plan)) {
      throwIfAborted(options.signal, `pulling ${ref}`);
      if (await layout.hasBlob(m.descriptor.digest)) continue;
      await layout.writeBlob(m.bytes, { digest: m.descriptor.digest, size: m.bytes.byteLength });
      added.push(m.descriptor.digest);
      options.onProgress?.({
        phase: 'manifest',
        item: m.descriptor.digest,
        done: 1,
        total: 1,
        unit: 'items',
      });
    }
    const annotations = refAnnotations(options.name ?? ref.tag);
    await layout.addManifest({
      ...topDescriptor(plan),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    });
  } catch (err) {
    await Promise.all(added.map((digest) => rm(layout.blobPath(digest), { force: true })));
    throw err;
  }
  // A pull mounts nothing: counters.mounted stays 0.
  return resultOf(plan, counters);
}

/** Write buffer of blob files: see writeVerifiedBlob. */
const WRITE_BUFFER = 1 << 20;

/**
 * Store a blob stream the client already verifies (digest and size, failing at the end) under
 * its digest in `layout`: written to a temp name beside the target, renamed only when the
 * stream ended without error, removed otherwise. Hashing once here (rather than again in
 * `OciLayout.writeBlob`) keeps a pull at one sha256 pass per byte.
 */
async function writeVerifiedBlob(layout: OciLayout, d: Descriptor, stream: Readable, signal: AbortSignal) {
  const target = layout.blobPath(d.digest);
  await mkdir(dirname(target), { recursive: true });
  try {
    // A 1 MiB buffer lets chunks that arrive during a write go out in one writev (measured:
    // about half the CPU of writing each 64 KiB socket chunk alone, ~8% of a pull's CPU).
    await replaceFile(target, (tmp) =>
      pipeline(stream, createWriteStream(tmp, { flags: 'wx', highWaterMark: WRITE_BUFFER }), { signal }),
    );
  } catch (err) {
    stream.destroy();
    throw abortAware(err, signal, target);
  }
}

/**
 * Pull `ref` (an image, or an index: all platforms with `allPlatforms`, one with `platform`,
 * else the host's platform) into exactly one of `oci`, `ociArchive`, `dockerArchive`.
 * Every blob is verified against its digest; nothing half-written is left behind.
 */
export async function pullImage(
  client: RegistryClient,
  reference: Reference | string,
  options: PullOptions,
): Promise<TransferResult> {
  const ref = toReference(reference);
  const targets = [options.oci, options.ociArchive, options.dockerArchive].filter((t) => t !== undefined);
  if (targets.length !== 1) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      'pull needs exactly one of oci, ociArchive, dockerArchive',
      {
        ref: ref.toString(),
      },
    );
  }
  if (options.dockerArchive !== undefined && options.allPlatforms) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      'a docker-archive holds one image: choose a platform, not all',
      {
        ref: ref.toString(),
      },
    );
  }
  const out = (options.oci ?? options.ociArchive ?? options.dockerArchive) as string;
  if (!(await exists(dirname(resolve(out))))) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot write ${out}: directory ${dirname(resolve(out))} does not exist`,
      {
        path: out,
      },
    );
  }
  const plan = await planPull(client, ref, options);
  if (options.oci !== undefined) {
    const created = !(await exists(options.oci));
    const layout = await OciLayout.create(options.oci);
    try {
      return await pullPlanIntoLayout(client, ref, plan, layout, options);
    } catch (err) {
      if (created) await rm(layout.dir, { recursive: true, force: true });
      throw err;
    }
  }
  const file = (options.ociArchive ?? options.dockerArchive) as string;
  // What a killed pull left beside the output (staging directories, temp tars) goes first.
  await sweepLeftovers(dirname(file));
  const work = await makeWorkDir(dirname(file), 'pull');
  const staging = join(work.path, 'layout');
  try {
    const layout = await OciLayout.create(staging);
    const name = options.ociArchive !== undefined ? (options.name ?? ref.tag) : 'image';
    const result = await pullPlanIntoLayout(client, ref, plan, layout, { ...options, name });
    if (options.ociArchive !== undefined) {
      await archiveLayout(
        layout,
        options.ociArchive,
        [...uniqueBlobs(plan), ...manifestsInOrder(plan).map((m) => m.descriptor)],
        options.signal ? { signal: options.signal } : {},
      );
    } else {
      const image = await layout.image({ ref: 'image' });
      const repoTag = options.name ?? (ref.tag !== undefined ? ref.withTag(ref.tag).familiar() : undefined);
      await writeDockerArchive(
        options.dockerArchive as string,
        [{ image, repoTags: repoTag ? [repoTag] : [] }],
        {
          signal: options.signal,
        },
      );
    }
    return result;
  } finally {
    await work.remove();
  }
}
