/**
 * The check a chain runs on each built image before it is pushed: the platform its spec asks
 * for, a config that names as many layers as the manifest, and every layer readable: its blob
 * hashed against the manifest, decompressed, parsed as a tar, and hashed against its diff_id.
 */
import { pipeline } from 'node:stream/promises';
import {
  applyLayerToTree,
  type BuildImageSpec,
  type Image,
  normalizePlatform,
  OciDeltaError,
  type Tree,
  verifyingStream,
} from '@ocidelta/core';

/** Throws ERR_VERIFY naming the image and what is wrong. */
export async function verifyBuiltImage(
  image: Image,
  spec: BuildImageSpec,
  where: string,
  signal?: AbortSignal,
): Promise<void> {
  const fail = (why: string) =>
    new OciDeltaError('ERR_VERIFY', `${where} (${image.digest}): ${why}`, { digest: image.digest });
  const have = normalizePlatform({
    os: image.config.os,
    architecture: image.config.architecture,
    ...(image.config.variant !== undefined ? { variant: image.config.variant } : {}),
  });
  if (have.os !== spec.os) throw fail(`os is ${have.os}, the spec asks for ${spec.os}`);
  if (spec.architecture !== undefined) {
    const want = normalizePlatform({
      os: spec.os,
      architecture: spec.architecture,
      ...(spec.variant !== undefined ? { variant: spec.variant } : {}),
    });
    if (want.architecture !== have.architecture || (want.variant ?? '') !== (have.variant ?? '')) {
      throw fail(
        `platform is ${have.architecture}${have.variant ? `/${have.variant}` : ''}, the spec asks for ${want.architecture}${want.variant ? `/${want.variant}` : ''}`,
      );
    }
  }
  if (image.config.rootfs.diff_ids.length !== image.manifest.layers.length) {
    throw fail('the config lists a different number of layers than the manifest');
  }
  const tree: Tree = new Map();
  for (const [i, layer] of image.layers.entries()) {
    const check = verifyingStream({ digest: layer.diffId, context: { layer: i, diffId: layer.diffId } });
    const uncompressed = await layer.uncompressed({ signal });
    try {
      await Promise.all([
        pipeline(uncompressed, check, { signal }),
        applyLayerToTree(tree, check, `${where} layer ${i} (${layer.digest})`),
      ]);
    } catch (err) {
      throw new OciDeltaError(
        'ERR_VERIFY',
        `${where}: layer ${i} (${layer.digest}) is not readable: ${(err as Error).message}`,
        { digest: layer.digest },
        { cause: err },
      );
    }
  }
}
