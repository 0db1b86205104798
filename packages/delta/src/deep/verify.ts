/**
 * Check a deep delta someone else computed (a shared store, a cache volume) before shipping it:
 * every `.vcdiff` is decoded against the current layer its `.source` names, as the device's
 * stock xdelta3 would (its source cache emulated: a compressed containerd source is read
 * sequentially), and must hash to the new layer's diff_id; the archive's config and layer list
 * must be the new image's. A delta that passes rebuilds the new image on the device; one that
 * does not is ERR_DELTA_SELF_CHECK (or the decode error that stopped it). Nothing is written to
 * disk; memory is O(largest current layer), as for the encoder.
 */
import {
  blobEntryName,
  type Digest,
  digestOf,
  digestStream,
  type Image,
  OciDeltaError,
  TarIndex,
  throwIfAborted,
} from '@ocidelta/core';
import { decodeWindows } from '../vcdiff/index.js';
import { readSourcePath } from './apply.js';
import { loadUncompressedLayer } from './encode-layer.js';
import { type CurrentOrigin, type DeviceStore, sourceAccessOf, sourcePath } from './source-path.js';

export interface VerifyDeepDeltaOptions {
  deviceStore?: DeviceStore;
  currentOrigin?: CurrentOrigin;
  /** The device xdelta3's `-B` (default 64 MiB). */
  sourceWindow?: number;
  signal?: AbortSignal;
}

function bad(deltaImg: string, message: string): OciDeltaError {
  return new OciDeltaError('ERR_DELTA_SELF_CHECK', `${deltaImg}: ${message}`, { path: deltaImg });
}

/** Rebuild `next`'s layers from `current` and the deep delta at `deltaImg` as the device would; throws unless equal. */
export async function verifyDeepDelta(
  current: Image,
  next: Image,
  deltaImg: string,
  options: VerifyDeepDeltaOptions = {},
): Promise<void> {
  const { signal } = options;
  const paths = { deviceStore: options.deviceStore, currentOrigin: options.currentOrigin };
  const delta = await TarIndex.scan(deltaImg, { signal });
  const manifestEntry = delta.get('manifest.json');
  if (!manifestEntry) throw bad(deltaImg, 'no manifest.json');
  const manifest = JSON.parse((await delta.read(manifestEntry, 1 << 20)).toString('utf8')) as unknown;
  const entry =
    Array.isArray(manifest) && manifest.length === 1 ? (manifest[0] as Record<string, unknown>) : {};
  const want = next.config.rootfs.diff_ids.map((d) => blobEntryName(d));
  if (
    entry.Config !== blobEntryName(next.configDigest) ||
    JSON.stringify(entry.Layers) !== JSON.stringify(want)
  ) {
    throw bad(deltaImg, `manifest.json does not describe ${next.digest} (config or layer list differ)`);
  }
  const config = delta.get(blobEntryName(next.configDigest));
  if (!config || digestOf(await delta.read(config)) !== next.configDigest) {
    throw bad(deltaImg, `the config blob is not ${next.configDigest}`);
  }
  for (const [i, diffId] of next.config.rootfs.diff_ids.entries()) {
    throwIfAborted(signal, 'verifying a deep delta');
    const base = blobEntryName(diffId);
    const vcdiff = delta.entries.get(`${base}.vcdiff`);
    let got: Digest;
    if (vcdiff?.type === 'file') {
      const path = await readSourcePath(delta, base);
      const layer = current.layers.find((l) => sourcePath(l, paths) === path);
      if (!layer) throw bad(deltaImg, `${base}.source names ${path}, which is no layer of ${current.digest}`);
      const source = await loadUncompressedLayer(layer, `current layer ${layer.digest}`);
      // Only hashed: every window is rebuilt into one buffer.
      const out = decodeWindows(source, delta.open(vcdiff), {
        signal,
        device: { sourceAccess: sourceAccessOf(layer, paths), sourceWindow: options.sourceWindow },
      });
      got = (await digestStream(out)).digest;
    } else if (delta.entries.get(base)?.type === 'file') {
      got = (await digestStream(delta.open(delta.entries.get(base)!))).digest;
    } else {
      throw bad(deltaImg, `layer ${i} (${diffId}) is neither a delta nor included`);
    }
    if (got !== diffId) throw bad(deltaImg, `layer ${i} rebuilds to ${got}, not ${diffId}`);
  }
}
