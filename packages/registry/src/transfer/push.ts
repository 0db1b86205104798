/**
 * Push an OCI layout directory or an image archive (oci-archive, docker-archive) to a registry:
 * blobs first (skipped when the registry has them, mounted from other repositories of the same
 * registry when asked), then image manifests by digest, then the top manifest (an index last)
 * under the destination tag.
 */
import {
  type ArchiveImages,
  type BlobSource,
  type Descriptor,
  forEachLimit,
  type ImageSelector,
  OciDeltaError,
  OciLayout,
  openLocalSource,
  openVerified,
  type Reference,
  type ReferenceLike,
  readBlob,
  resolveTopLevel,
  throwIfAborted,
  toReference,
} from '@ocidelta/core';
import type { RegistryClient } from '../client.js';
import { type ManifestNode, manifestsInOrder, planTransfer, uniqueBlobs } from './plan.js';
import {
  DEFAULT_CONCURRENCY,
  newCounters,
  resultOf,
  type TransferOptions,
  type TransferResult,
  withTransferTotals,
} from './progress.js';
import { type BlobOutcome, putRemoteManifest, sendBlob } from './remote.js';

export interface PushOptions extends TransferOptions {
  /** Which entry of the layout or archive to push (ref name or digest); default the only one. */
  select?: Pick<ImageSelector, 'ref' | 'digest'>;
  /** A repository of the destination registry to mount missing blobs from. */
  mountFrom?: string;
}

/** A local source of blobs and manifests. */
export type PushSource = string | OciLayout | ArchiveImages;

interface OpenedSource {
  blobs: BlobSource;
  top: { descriptor: Descriptor; bytes: Uint8Array };
  where: string;
  close(): Promise<void>;
}

async function openSource(
  source: PushSource,
  select: ImageSelector,
  signal?: AbortSignal,
): Promise<OpenedSource> {
  if (typeof source === 'string') {
    const opened = await openLocalSource({ transport: 'path', path: source }, signal ? { signal } : {});
    if (opened instanceof OciLayout) return openSource(opened, select, signal);
    try {
      return await openSource(opened, select, signal);
    } catch (err) {
      await opened.close();
      throw err;
    }
  }
  if (source instanceof OciLayout) {
    const index = await source.readIndex();
    const ctx = { where: source.dir, index, source, hasBlob: (d: string) => source.hasBlob(d) };
    const descriptor = await resolveTopLevel(ctx, select);
    const bytes = await readBlob(source, descriptor, signal);
    return { blobs: source, top: { descriptor, bytes }, where: source.dir, close: async () => undefined };
  }
  const archive = source;
  if (archive.index && archive.format === 'oci-archive') {
    const ctx = {
      where: archive.file,
      index: archive.index,
      source: archive,
      hasBlob: (d: string) => archive.hasBlob(d),
    };
    const descriptor = await resolveTopLevel(ctx, select);
    const bytes = await readBlob(archive, descriptor, signal);
    return { blobs: archive, top: { descriptor, bytes }, where: archive.file, close: () => archive.close() };
  }
  const image = await archive.image(select);
  return {
    blobs: archive,
    top: {
      descriptor: { mediaType: image.mediaType, digest: image.digest, size: image.manifestBytes.byteLength },
      bytes: image.manifestBytes,
    },
    where: archive.file,
    close: () => archive.close(),
  };
}

/**
 * Upload the blobs and manifests of `plan` (read from `blobs`) to `ref`, then tag the top
 * manifest with `ref`'s tag (or check it against `ref`'s digest).
 */
export async function pushPlan(
  client: RegistryClient,
  plan: ManifestNode,
  blobs: BlobSource,
  refIn: ReferenceLike,
  optionsIn: PushOptions = {},
): Promise<TransferResult> {
  const ref = toReference(refIn);
  const options = withTransferTotals(plan, optionsIn);
  const counters = newCounters();
  const what = `pushing to ${ref}`;
  await forEachLimit(
    uniqueBlobs(plan),
    options.concurrency ?? DEFAULT_CONCURRENCY,
    async (d, signal) => {
      const outcome = await sendBlob(
        client,
        ref,
        d,
        () => openVerified(blobs, d, { signal, context: { digest: d.digest } }),
        {
          ...(options.mountFrom !== undefined && options.mountFrom !== ref.repository
            ? { mountFrom: ref.withRepository(options.mountFrom) }
            : {}),
          signal,
          onProgress: options.onProgress,
        },
      );
      count(counters, outcome, d, options);
    },
    { signal: options.signal, what },
  );
  await putManifests(client, plan, ref, options);
  return resultOf(plan, counters);
}

/** Count a blob's outcome and report skips and mounts (uploads report their own bytes). */
export function count(
  counters: ReturnType<typeof newCounters>,
  outcome: BlobOutcome,
  d: Descriptor,
  options: TransferOptions,
): void {
  if (outcome === 'uploaded') {
    counters.transferred++;
    counters.bytes += d.size;
    return;
  }
  if (outcome === 'skipped') counters.skipped++;
  else counters.mounted++;
  options.onProgress?.({
    phase: outcome === 'skipped' ? 'skip' : 'mount',
    item: d.digest,
    done: d.size,
    total: d.size,
  });
}

/** Put every manifest of `plan`, children by digest, the top one under `ref`'s identifier. */
export async function putManifests(
  client: RegistryClient,
  plan: ManifestNode,
  ref: Reference,
  options: TransferOptions,
): Promise<void> {
  for (const m of manifestsInOrder(plan)) {
    throwIfAborted(options.signal, `pushing to ${ref}`);
    const isTop = m === plan;
    if (isTop && ref.digest !== undefined && ref.digest !== m.descriptor.digest) {
      throw new OciDeltaError(
        'ERR_DIGEST_MISMATCH',
        `cannot push ${m.descriptor.digest} to ${ref}: the reference pins another digest`,
        { ref: ref.toString(), expected: ref.digest, actual: m.descriptor.digest },
      );
    }
    const identifier = isTop && ref.tag !== undefined ? ref.tag : m.descriptor.digest;
    await putRemoteManifest(client, ref, identifier, m, options.signal);
    options.onProgress?.({
      phase: 'manifest',
      item: m.descriptor.digest,
      done: 1,
      total: 1,
      unit: 'items',
    });
  }
}

/**
 * Push a layout directory, an archive file (oci-archive or docker-archive), or an opened
 * layout/archive to `reference`. An index is pushed whole unless `platform` picks one image.
 */
export async function pushLayout(
  client: RegistryClient,
  source: PushSource,
  reference: Reference | string,
  options: PushOptions = {},
): Promise<TransferResult> {
  const ref = toReference(reference);
  const opened = await openSource(source, options.select ?? {}, options.signal);
  try {
    const plan = await planTransfer(
      opened.top,
      async (d) => ({ bytes: await readBlob(opened.blobs, d, options.signal), mediaType: d.mediaType }),
      { platform: options.platform, allPlatforms: options.allPlatforms ?? options.platform === undefined },
    );
    return await pushPlan(client, plan, opened.blobs, ref, options);
  } finally {
    await opened.close();
  }
}
