/**
 * The registry operations transfers use, on top of `RegistryClient`: fetch manifests (top
 * level, or a child by descriptor, verified), open blobs (verified, resumable), send blobs
 * (skip / mount / upload, with progress) and put manifests.
 */
import type { Readable } from 'node:stream';
import { type Descriptor, MANIFEST_ACCEPT, type Reference } from '@ocidelta/core';
import type { RegistryClient } from '../client.js';
import type { ManifestNode } from './plan.js';
import { checkDigest } from './plan.js';
import type { TransferProgress } from './progress.js';

/** GET the manifest `ref` names; its descriptor carries the verified digest. */
export async function fetchTopManifest(
  client: RegistryClient,
  ref: Reference,
  signal?: AbortSignal,
): Promise<{ descriptor: Descriptor; bytes: Uint8Array }> {
  const m = await client.getManifest(ref, { signal });
  return {
    descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.bytes.byteLength },
    bytes: m.bytes,
  };
}

/** GET a manifest of `ref`'s repository by descriptor, checked against its digest and size. */
export async function fetchManifestByDescriptor(
  client: RegistryClient,
  ref: Reference,
  d: Descriptor,
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; mediaType: string }> {
  const m = await client.getManifest(ref.withDigest(d.digest), {
    signal,
    accept: [...new Set([d.mediaType, ...MANIFEST_ACCEPT])],
  });
  checkDigest(d, m.bytes);
  return { bytes: m.bytes, mediaType: m.mediaType };
}

/** Open a blob of `ref`'s repository: verified against the descriptor, resumed after drops. */
export function openRemoteBlob(
  client: RegistryClient,
  ref: Reference,
  d: Descriptor,
  signal?: AbortSignal,
  onProgress?: (done: number) => void,
): Promise<Readable> {
  return client.getBlob(ref, d, { signal, ...(onProgress ? { onProgress: (p) => onProgress(p.done) } : {}) });
}

/** What happened to a blob sent to a registry. */
export type BlobOutcome = 'skipped' | 'mounted' | 'uploaded';

/**
 * Make `d` present in `ref`'s repository: skipped when there, mounted from `mountFrom` (same
 * registry) when possible, else uploaded from `open()` (re-opened if the upload restarts).
 */
export async function sendBlob(
  client: RegistryClient,
  ref: Reference,
  d: Descriptor,
  open: () => Promise<Readable>,
  options: { mountFrom?: Reference; signal?: AbortSignal; onProgress?: (e: TransferProgress) => void },
): Promise<BlobOutcome> {
  const result = await client.uploadBlob(
    ref,
    open,
    { digest: d.digest, size: d.size },
    {
      ...(options.mountFrom !== undefined ? { mountFrom: options.mountFrom } : {}),
      signal: options.signal,
      onProgress: (p) =>
        options.onProgress?.({ phase: 'blob', item: d.digest, done: p.done, total: p.total ?? d.size }),
    },
  );
  if (result.skipped) return 'skipped';
  return result.mounted ? 'mounted' : 'uploaded';
}

/** PUT a manifest of the plan under `identifier` (a tag, or its digest). */
export async function putRemoteManifest(
  client: RegistryClient,
  ref: Reference,
  identifier: string,
  m: ManifestNode,
  signal?: AbortSignal,
): Promise<void> {
  const target = identifier.includes(':') ? ref.withDigest(identifier) : ref.withTag(identifier);
  await client.putManifest(target, m.bytes, m.descriptor.mediaType, { signal });
}
