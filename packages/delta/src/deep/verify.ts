/**
 * Check a deep delta someone else computed (a shared store, a cache volume) before shipping it:
 * rebuild the new image from the current image exactly as the device would (its own `docker
 * save` of the current image, the stock xdelta3's source cache emulated, every rebuilt layer
 * checked against its digest) and compare the result with the new image: same config, same
 * layers in the same order. A delta that passes installs on the device; one that does not is
 * ERR_DELTA_SELF_CHECK (or the decode error that stopped it).
 * Disk: the current image's device save and the rebuilt archive, in `tmpDir`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Image, OciDeltaError, readDockerArchive, writeDockerArchive } from '@ocidelta/core';
import { applyDeepDelta } from './apply.js';
import type { CurrentOrigin, DeviceStore } from './source-path.js';

export interface VerifyDeepDeltaOptions {
  deviceStore?: DeviceStore;
  currentOrigin?: CurrentOrigin;
  /** The device xdelta3's `-B` (default 64 MiB). */
  sourceWindow?: number;
  tmpDir?: string;
  signal?: AbortSignal;
}

/** Rebuild `next` from `current` and the deep delta at `deltaImg` as the device would; throws unless equal. */
export async function verifyDeepDelta(
  current: Image,
  next: Image,
  deltaImg: string,
  options: VerifyDeepDeltaOptions = {},
): Promise<void> {
  const { signal } = options;
  const work = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'ocidelta-verify-delta-'));
  try {
    // What the device's `docker image save <url-current>` writes for this store and origin.
    const pulled =
      options.deviceStore === 'containerd' && (options.currentOrigin ?? 'registry') === 'registry';
    const save = join(work, 'current.tar');
    await writeDockerArchive(save, [{ image: current, repoTags: [] }], {
      layers: pulled ? 'stored' : 'uncompressed',
      signal,
    });
    const rebuilt = join(work, 'rebuilt.tar');
    await applyDeepDelta(save, deltaImg, rebuilt, {
      tmpDir: work,
      signal,
      ...(options.sourceWindow ? { sourceWindow: options.sourceWindow } : {}),
    });
    const archive = await readDockerArchive(rebuilt, { signal });
    const image = archive.entries.length === 1 ? archive.entries[0]!.image : undefined;
    const want = next.config.rootfs.diff_ids;
    const got = image?.layers.map((l) => l.digest) ?? [];
    if (!image || image.configDigest !== next.configDigest || got.join() !== want.join()) {
      throw new OciDeltaError(
        'ERR_DELTA_SELF_CHECK',
        `${deltaImg} does not rebuild ${next.digest}: config ${image?.configDigest ?? 'missing'} (want ${next.configDigest}), layers ${got.length} (want ${want.length}${got.join() === want.join() ? '' : ', different'})`,
        { path: deltaImg, digest: next.digest },
      );
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
