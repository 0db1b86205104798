/**
 * Images of one build that share a tag: grouped into one multi-platform index (OCI image index
 * or Docker manifest list) whose descriptors carry each image's platform, taken from its config
 * (os, architecture, variant, os.version, os.features).
 */

import { OciDeltaError } from '../errors.js';
import type { NamedImage, NamedIndex } from '../layout/write-image.js';
import { MediaType } from '../media-types.js';
import type { Image } from '../model.js';
import { indexFromDescriptors } from '../mutate/mutate.js';
import { formatPlatform, normalizePlatform, platformFromSpec } from '../platform.js';
import type { PlatformSpec } from '../schemas.js';
import type { BuiltImage, ImageFormat } from './build.js';

/** The platform of an image as a descriptor states it. */
export function platformOfImage(image: Image): PlatformSpec {
  const c = image.config;
  return {
    architecture: c.architecture,
    os: c.os,
    ...(c.variant !== undefined ? { variant: c.variant } : {}),
    ...(c['os.version'] !== undefined ? { 'os.version': c['os.version'] } : {}),
    ...(c['os.features'] !== undefined ? { 'os.features': [...c['os.features']] } : {}),
  };
}

/** The index listing `images` by platform (annotations only in the OCI form: Docker's has none). */
export function multiPlatformIndex(
  images: readonly Image[],
  format: ImageFormat,
  annotations?: Record<string, string>,
): NamedIndex['index'] {
  return indexFromDescriptors({
    mediaType: format === 'oci' ? MediaType.OciIndex : MediaType.DockerManifestList,
    manifests: images.map((image) => ({
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.manifestBytes.byteLength,
      platform: platformOfImage(image),
    })),
    ...(format === 'oci' && annotations ? { annotations } : {}),
  });
}

/**
 * What a build output lists: per tag, the image, or an index when several images share it
 * (two images of one platform under one tag are an ERR_INPUT); untagged images by themselves.
 * Every image entry carries its platform.
 */
export function buildEntries(
  images: readonly BuiltImage[],
  format: ImageFormat,
  annotations?: Record<string, string>,
): (NamedImage | NamedIndex)[] {
  const byTag = new Map<string, { image: Image; at: number }[]>();
  // Entries in the order of the spec: an untagged image, or a tag where it first appears.
  const order: ({ image: Image } | { tag: string })[] = [];
  for (const [at, { image, tags }] of images.entries()) {
    if (tags.length === 0) order.push({ image });
    for (const tag of tags) {
      const group = byTag.get(tag) ?? [];
      const mine = formatPlatform(normalizePlatform(platformFromSpec(platformOfImage(image))));
      const clash = group.find(
        (g) => formatPlatform(normalizePlatform(platformFromSpec(platformOfImage(g.image)))) === mine,
      );
      if (clash) {
        throw new OciDeltaError(
          'ERR_INPUT',
          `images[${at}].tags: "${tag}" is already the tag of images[${clash.at}], which has the same platform ${mine}`,
          { field: `images[${at}].tags`, tag },
        );
      }
      if (group.length === 0) order.push({ tag });
      group.push({ image, at });
      byTag.set(tag, group);
    }
  }
  return order.map((slot): NamedImage | NamedIndex => {
    if ('image' in slot) return { image: slot.image, platform: platformOfImage(slot.image) };
    const group = (byTag.get(slot.tag) ?? []).map((g) => g.image);
    const [only] = group;
    if (group.length === 1 && only) return { image: only, ref: slot.tag, platform: platformOfImage(only) };
    return { index: multiPlatformIndex(group, format, annotations), images: group, ref: slot.tag };
  });
}
