/**
 * Write an in-memory image (read from its own BlobSource) to a registry, as go-containerregistry's
 * `remote.Write` does: every blob the repository lacks is mounted from `mountFrom` when that is
 * on the same registry, else streamed from the image's source (verified as it is read; nothing
 * is copied to disk first), several at a time; then the manifest under the reference's tag (or
 * checked against its digest).
 */
import {
  type Descriptor,
  type Digest,
  forEachLimit,
  type Image,
  openVerified,
  type Reference,
  type ReferenceLike,
  toReference,
} from '@ocidelta/core';
import type { RegistryClient } from '../client.js';
import { DEFAULT_CONCURRENCY } from './progress.js';

export interface WriteImageOptions {
  /** A repository of the same registry to mount missing blobs from (ignored elsewhere). */
  mountFrom?: ReferenceLike;
  /** Blobs sent at once (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Called as each blob is in place (mounted, already present, or sent). */
  onBlob?: (descriptor: Descriptor, outcome: 'mounted' | 'skipped' | 'sent') => void;
}

export interface WriteImageResult {
  digest: Digest;
  /** Blobs mounted, already present, and sent. */
  mounted: number;
  skipped: number;
  sent: number;
}

/** Push `image` to `target`: blobs first, then the manifest. */
export async function writeImage(
  client: RegistryClient,
  image: Image,
  targetIn: ReferenceLike,
  options: WriteImageOptions = {},
): Promise<WriteImageResult> {
  const target = toReference(targetIn);
  const mountFrom = mountSource(target, options.mountFrom);
  const counts = { mounted: 0, skipped: 0, sent: 0 };
  const blobs = [...image.manifest.layers, image.manifest.config];
  const unique = blobs.filter((d, i) => blobs.findIndex((x) => x.digest === d.digest) === i);
  await forEachLimit(
    unique,
    options.concurrency ?? DEFAULT_CONCURRENCY,
    async (d, signal) => {
      const r = await client.uploadBlob(
        target,
        () => openVerified(image.source, d, { signal, context: { digest: d.digest } }),
        { digest: d.digest, size: d.size },
        { ...(mountFrom ? { mountFrom } : {}), signal },
      );
      const outcome = r.mounted ? 'mounted' : r.skipped ? 'skipped' : 'sent';
      counts[outcome]++;
      options.onBlob?.(d, outcome);
    },
    { ...(options.signal ? { signal: options.signal } : {}), what: `pushing to ${target}` },
  );
  const digest = await client.putManifest(target, image.manifestBytes, image.mediaType, {
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return { digest, ...counts };
}

function mountSource(target: Reference, from: ReferenceLike | undefined): Reference | undefined {
  if (from === undefined) return undefined;
  const ref = toReference(from);
  return ref.registry === target.registry && ref.repository !== target.repository ? ref : undefined;
}
