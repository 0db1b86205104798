/**
 * One identity check for every image the app pipeline ships or diffs against, whatever path it
 * came by (registry, cache, `--service-file` archive, dry run): the manifest bytes hash to the
 * digest the release names, the config bytes to the manifest's config digest, the layers pair with
 * the config's diff_ids, and the config's platform (os, architecture, variant) is the one the
 * artifact targets. A cache entry can never stand in for another platform's image.
 */
import {
  type Digest,
  DigestMismatchError,
  digestOf,
  formatPlatform,
  type Image,
  OciDeltaError,
  parsePlatform,
  platformMatches,
} from '@ocidelta/core';

export interface ExpectedIdentity {
  /** Image reference, for messages. */
  ref: string;
  /** Manifest digest the release names. */
  digest: Digest;
  /** Target platform, `os/arch[/variant]`. */
  platform: string;
  /** Where the image came from, for messages (`cache`, `registry`, a file). */
  from: string;
}

/** Throw ERR_PLATFORM_NOT_FOUND or ERR_DIGEST_MISMATCH unless `image` is the expected image. */
export function checkImageIdentity(image: Image, want: ExpectedIdentity): Image {
  const context = { ref: want.ref, from: want.from };
  const manifestDigest = digestOf(image.manifestBytes);
  if (manifestDigest !== want.digest || image.digest !== want.digest) {
    throw new DigestMismatchError(want.digest, manifestDigest, { ...context, what: 'manifest' });
  }
  const configDigest = digestOf(image.configBytes);
  if (configDigest !== image.manifest.config.digest || image.configDigest !== configDigest) {
    throw new DigestMismatchError(image.manifest.config.digest, configDigest, { ...context, what: 'config' });
  }
  const diffIds = image.config.rootfs.diff_ids;
  if (diffIds.length !== image.layers.length || image.layers.some((l, i) => l.diffId !== diffIds[i])) {
    throw new OciDeltaError(
      'ERR_DIGEST_MISMATCH',
      `${want.ref} (${want.from}): its layers do not match the config's diff_ids`,
      context,
    );
  }
  const have = {
    os: image.config.os,
    architecture: image.config.architecture,
    variant: image.config.variant,
  };
  if (!platformMatches(parsePlatform(want.platform), have)) {
    throw new OciDeltaError(
      'ERR_PLATFORM_NOT_FOUND',
      `${want.ref} (${want.digest}, from ${want.from}) is a ${formatPlatform(have)} image, not ${want.platform}`,
      { ...context, platform: want.platform, have: formatPlatform(have) },
    );
  }
  return image;
}
