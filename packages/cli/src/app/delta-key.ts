/**
 * What identifies a deep delta wherever it is kept (the local cache, a shared store): the two
 * platform images, the device store and delivery that decide its `.source` paths, the names
 * written into it, the target platform, the device decoder's `-B` it is bounded for, and the
 * encoder format. Pure.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '@ocidelta/core';
import type { DeviceStore } from '@ocidelta/delta';
import type { Delivery } from './release-metadata.js';

/** Identifies a deep delta. */
export interface DeltaKey {
  from: Digest;
  to: Digest;
  deviceStore: DeviceStore;
  delivery: Delivery;
  /** The image names written into the archive (`docker load` tags the image with them). */
  repoTags?: string[];
  /** Target platform (the digests are platform images already; kept so no entry can cross platforms). */
  platform: string;
  /** The device decoder's `-B` the delta was bounded for. */
  sourceWindow: number;
}

/** A delta's record: its key, the image names it was made for, size, time and device cost. */
export interface DeltaInfo extends DeltaKey {
  fromRef: string;
  toRef: string;
  size: number;
  createdAt: string;
  /** What installing it costs the device (source bytes its xdelta3 reads, decoder memory). */
  device?: { sourceBytesRead: number; decoderMemory: number };
}

/**
 * Version of the deltas: 2 = bounded for the device decoder's source cache. Deltas of an
 * older encoder are never reused.
 */
export const DELTA_FORMAT = 2;

/** The key's identity: sha256 hex of every field (and the format), in a fixed order. */
export function deltaKeyId(key: DeltaKey): string {
  return createHash('sha256')
    .update(
      `${DELTA_FORMAT}\n${key.from}\n${key.to}\n${key.deviceStore}\n${key.delivery}\n${(key.repoTags ?? []).join(',')}\n${key.platform}\n${key.sourceWindow}`,
    )
    .digest('hex');
}

/** True when `info` was made for exactly `key` (a record fetched from elsewhere is checked with it). */
export function sameDeltaKey(info: DeltaKey, key: DeltaKey): boolean {
  return deltaKeyId(info) === deltaKeyId(key);
}
