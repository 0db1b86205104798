/**
 * Device store modes (pure): where the device's own `docker image save <url-current>` puts the
 * current layer, i.e. what a `.source` file must contain (docs/delta.md, "Device store modes").
 * - `classic` (overlay2 image store): layers are exported uncompressed, named by diff_id.
 * - `containerd` (containerd image store): the blobs it holds are exported as they are: the
 *   registry's compressed blob for an image it pulled (`currentOrigin: 'registry'`), or the
 *   uncompressed blob named by diff_id for an image loaded from one of our artifacts
 *   (`currentOrigin: 'artifact'`).
 * The device's stock `xdelta3 -d -s` decompresses a gzip/bzip2/xz source by itself, so every delta
 * is computed against the decompressed layer whatever the path names; a zstd blob it cannot
 * decompress, so that case has no deep delta.
 */
import { blobEntryName, type Digest, OciDeltaError } from '@ocidelta/core';
import type { SourceAccess } from '../vcdiff/index.js';

/** How the device stores images: Docker's classic store or the containerd image store. */
export const DEVICE_STORES = ['classic', 'containerd'] as const;
export type DeviceStore = (typeof DEVICE_STORES)[number];

/** How the device got the current image: pulled from a registry, or loaded from an artifact. */
export const CURRENT_ORIGINS = ['registry', 'artifact'] as const;
export type CurrentOrigin = (typeof CURRENT_ORIGINS)[number];

/** What the source path needs to know about the current layer. */
export interface SourceLayer {
  readonly digest: Digest;
  readonly diffId: Digest;
  readonly compression: 'gzip' | 'zstd' | 'none';
}

export interface SourcePathOptions {
  deviceStore?: DeviceStore;
  currentOrigin?: CurrentOrigin;
}

/**
 * Path of `layer` inside the device's `docker image save` output for the given store mode.
 * Throws ERR_NO_DEEP_DELTA when the device could not use it as an xdelta3 source (a zstd blob in
 * the containerd store) and ERR_INVALID_OPTIONS for an unknown mode.
 */
export function sourcePath(layer: SourceLayer, options: SourcePathOptions = {}): string {
  const store = options.deviceStore ?? 'classic';
  const origin = options.currentOrigin ?? 'registry';
  if (!DEVICE_STORES.includes(store)) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `unknown device store "${store}" (expected ${DEVICE_STORES.join(' or ')})`,
      { deviceStore: store },
    );
  }
  if (!CURRENT_ORIGINS.includes(origin)) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `unknown current image origin "${origin}" (expected ${CURRENT_ORIGINS.join(' or ')})`,
      { currentOrigin: origin },
    );
  }
  if (store === 'classic' || origin === 'artifact') return blobEntryName(layer.diffId);
  if (layer.compression === 'zstd') {
    throw new OciDeltaError(
      'ERR_NO_DEEP_DELTA',
      `no deep delta possible: current layer ${layer.digest} is zstd-compressed and a containerd-store device exports it as is, which stock xdelta3 cannot decompress; ship the full image`,
      { digest: layer.digest, deviceStore: store, currentOrigin: origin },
    );
  }
  return blobEntryName(layer.digest);
}

/**
 * How the device's xdelta3 reads `layer` as a source in this store mode: a compressed blob is
 * piped through its decompressor (`sequential`: copies must stay within the last `-B` bytes
 * read), an uncompressed tar is a file it seeks in (`seekable`).
 */
export function sourceAccessOf(layer: SourceLayer, options: SourcePathOptions = {}): SourceAccess {
  const store = options.deviceStore ?? 'classic';
  const origin = options.currentOrigin ?? 'registry';
  return store === 'containerd' && origin === 'registry' && layer.compression !== 'none'
    ? 'sequential'
    : 'seekable';
}
