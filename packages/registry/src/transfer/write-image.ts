/**
 * Write an in-memory image (read from its own BlobSource) to a registry, as go-containerregistry's
 * `remote.Write` does: the image is a one-node push plan for `pushPlan`, so every blob the
 * repository lacks is mounted from `mountFrom` when that is on the same registry, else streamed
 * from the image's source (verified as it is read; nothing is copied to disk first), several at
 * a time; then the manifest under the reference's tag (or checked against its digest).
 */
import { type Image, type Reference, type ReferenceLike, toReference } from '@ocidelta/core';
import type { RegistryClient } from '../client.js';
import type { ManifestNode } from './plan.js';
import type { TransferProgress, TransferResult } from './progress.js';
import { pushPlan } from './push.js';

export interface WriteImageOptions {
  /** A repository of the same registry to mount missing blobs from (ignored elsewhere). */
  mountFrom?: ReferenceLike;
  /** Blobs sent at once (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Transfer progress, as `pushLayout` reports it (bytes per blob, skips and mounts). */
  onProgress?: (e: TransferProgress) => void;
}

/** The push plan of one image: its config and layers, then its manifest. */
export function imagePlan(image: Image): ManifestNode {
  return {
    descriptor: { mediaType: image.mediaType, digest: image.digest, size: image.manifestBytes.byteLength },
    bytes: image.manifestBytes,
    kind: 'image',
    blobs: [image.manifest.config, ...image.manifest.layers],
    children: [],
  };
}

/** Push `image` to `target`: blobs first, then the manifest. */
export async function writeImage(
  client: RegistryClient,
  image: Image,
  targetIn: ReferenceLike,
  options: WriteImageOptions = {},
): Promise<TransferResult> {
  const target = toReference(targetIn);
  const mountFrom = mountSource(target, options.mountFrom);
  return pushPlan(client, imagePlan(image), image.source, target, {
    ...(mountFrom ? { mountFrom: mountFrom.repository } : {}),
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}

function mountSource(target: Reference, from: ReferenceLike | undefined): Reference | undefined {
  if (from === undefined) return undefined;
  const ref = toReference(from);
  return ref.registry === target.registry && ref.repository !== target.repository ? ref : undefined;
}
