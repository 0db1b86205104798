/**
 * A registry as an `ImageStore` (see @ocidelta/core): images by reference, resolved for a
 * platform; written blobs first (mounted from `mountFrom` where possible), then the manifest.
 */
import {
  type ImageStore,
  OciDeltaError,
  parseRegistryReference,
  platformOfSelector,
  type ReferenceLike,
} from '@ocidelta/core';
import type { RegistryClient } from './client.js';
import { writeImage } from './transfer/write-image.js';

export interface RegistryStoreOptions {
  /** Repository of the same registry written images mount their blobs from. */
  mountFrom?: ReferenceLike;
  /** Blobs sent at once when writing (default 4). */
  concurrency?: number;
}

/** `client` as an image store. It does not own the client: closing the store leaves it open. */
export function registryStore(client: RegistryClient, options: RegistryStoreOptions = {}): ImageStore {
  return {
    where: 'registry',
    async image(name, read = {}) {
      if (name === undefined) {
        throw new OciDeltaError(
          'ERR_INVALID_REFERENCE',
          'a registry store needs the reference of the image to read',
          {},
        );
      }
      return client.resolveImage(parseRegistryReference(name), {
        ...(read.platform !== undefined ? { platform: platformOfSelector(read.platform) } : {}),
        ...(read.signal ? { signal: read.signal } : {}),
      });
    },
    async write(image, name, write = {}) {
      await writeImage(client, image, parseRegistryReference(name), {
        ...(options.mountFrom !== undefined ? { mountFrom: options.mountFrom } : {}),
        ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
        ...(write.signal ? { signal: write.signal } : {}),
      });
    },
    close: async () => undefined,
  };
}
