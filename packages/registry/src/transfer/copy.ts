/**
 * Copy an image or a whole index from one repository to another, in the same registry (blobs
 * mounted, nothing downloaded) or between registries (blobs streamed from the source into the
 * destination upload, verified on the way). Manifests keep their exact bytes, so digests are
 * identical at the destination.
 */
import type { Reference } from '@ocidelta/core';
import { forEachLimit, toReference } from '@ocidelta/core';
import type { RegistryClient } from '../client.js';
import { uniqueBlobs } from './plan.js';
import {
  DEFAULT_CONCURRENCY,
  newCounters,
  resultOf,
  type TransferOptions,
  type TransferResult,
  withTransferTotals,
} from './progress.js';
import { planPull } from './pull.js';
import { count, putManifests } from './push.js';
import { openRemoteBlob, sendBlob } from './remote.js';

export interface CopyOptions extends TransferOptions {
  /** Client for the destination when it needs other credentials or settings (default `client`). */
  destClient?: RegistryClient;
}

/**
 * Copy `source` to `destination`. An index is copied with all its platforms unless `platform`
 * picks one image.
 */
export async function copyImage(
  client: RegistryClient,
  source: Reference | string,
  destination: Reference | string,
  optionsIn: CopyOptions = {},
): Promise<TransferResult> {
  const src = toReference(source);
  const dest = toReference(destination);
  const destClient = optionsIn.destClient ?? client;
  const plan = await planPull(client, src, { ...optionsIn, defaultAllPlatforms: true });
  const options = withTransferTotals(plan, optionsIn);
  const counters = newCounters();
  const sameRegistry = src.registry === dest.registry && src.repository !== dest.repository;
  await forEachLimit(
    uniqueBlobs(plan),
    options.concurrency ?? DEFAULT_CONCURRENCY,
    async (d, signal) => {
      const outcome = await sendBlob(destClient, dest, d, () => openRemoteBlob(client, src, d, signal), {
        ...(sameRegistry ? { mountFrom: src } : {}),
        signal,
        onProgress: options.onProgress,
      });
      count(counters, outcome, d, options);
    },
    { signal: options.signal, what: `copying ${src} to ${dest}` },
  );
  await putManifests(destClient, plan, dest, options);
  return resultOf(plan, counters);
}
