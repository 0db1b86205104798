/**
 * Pure metadata of a Docker >= 25 `docker save` archive (`index.json`, `manifest.json`,
 * `repositories`, `oci-layout`), for stored or decompressed layers. Writers of archive variants
 * (e.g. deep deltas replacing some layer blobs) build on these functions.
 */

import { z } from 'zod';
import type { Digest } from '../digest.js';
import { digestOf } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { MediaType, uncompressedLayerMediaType } from '../media-types.js';
import type { Image, Layer } from '../model.js';
import { rewriteManifest } from '../mutate/mutate.js';
import { parseReference } from '../reference.js';
import type { Descriptor, IndexManifest } from '../schemas.js';
import { ociLayoutBytes } from './oci-layout.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME } from './resolve.js';
import { blobEntryName } from './safe-path.js';

/** How layer blobs are stored in a docker-archive. */
export type DockerLayerMode = 'stored' | 'uncompressed';

/** One image of a docker-archive and its tags (`alpine:3.19`, `registry:5000/app:1`). */
export interface DockerArchiveImage {
  image: Image;
  repoTags?: string[];
}

/** One item of `manifest.json`. */
export const DockerManifestItemSchema = z.object({
  Config: z.string().min(1),
  RepoTags: z.array(z.string()).nullable().optional(),
  Layers: z.array(z.string()),
  LayerSources: z.record(z.string(), z.unknown()).nullable().optional(),
});
export type DockerManifestItem = z.infer<typeof DockerManifestItemSchema>;
export const DockerManifestJsonSchema = z.array(DockerManifestItemSchema);

/** The descriptor a layer gets when stored decompressed: digest = diff_id, uncompressed media type. */
export function uncompressedLayerDescriptor(layer: Layer, size: number): Descriptor {
  const d: Descriptor = {
    mediaType: uncompressedLayerMediaType(layer.mediaType),
    digest: layer.diffId,
    size,
  };
  if (layer.descriptor.annotations) d.annotations = { ...layer.descriptor.annotations };
  return d;
}

/**
 * The manifest of `image` with its layers replaced by `layers` (same count); config unchanged.
 * Returns the new bytes and digest.
 */
export function rewriteManifestLayers(
  image: Image,
  layers: readonly Descriptor[],
): { manifestBytes: Buffer; digest: Digest } {
  if (layers.length !== image.layers.length) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `image ${image.digest} has ${image.layers.length} layers, got ${layers.length} replacement descriptors`,
      { digest: image.digest },
    );
  }
  const manifestBytes = rewriteManifest(image, { layers });
  return { manifestBytes, digest: digestOf(manifestBytes) };
}

/** Normalized full name and familiar tag of a repo tag (`alpine` -> docker.io/library/alpine:latest, alpine:latest). */
export function normalizeRepoTag(tag: string): {
  full: string;
  familiar: string;
  tag: string;
  familiarName: string;
} {
  const ref = parseReference(tag);
  const t = ref.tag ?? 'latest';
  const familiar = ref.withTag(t).familiar();
  return {
    full: ref.withTag(t).toString(),
    familiar,
    tag: t,
    familiarName: familiar.slice(0, familiar.length - t.length - 1),
  };
}

/** Everything but the layer and config blobs of a docker-archive. */
export interface DockerArchiveMetadata {
  /** Manifest blobs to write (`blobs/sha256/<hex>`): original bytes, or rewritten ones. */
  manifests: { digest: Digest; bytes: Buffer; layers: Descriptor[] }[];
  indexJson: Buffer;
  manifestJson: Buffer;
  /** Legacy `repositories` file; undefined when no image is tagged. */
  repositories: Buffer | undefined;
  ociLayout: Buffer;
}

export interface DockerMetadataOptions {
  layers?: DockerLayerMode;
  /** For 'uncompressed': decompressed size of each layer by diff_id (known after writing it). */
  uncompressedSizes?: ReadonlyMap<string, number>;
  /** Explicit layer descriptors per image (same order as `images`): overrides `layers`. */
  layerDescriptors?: readonly (readonly Descriptor[] | undefined)[];
}

/** The layer descriptors an image gets in a docker-archive written in `mode`. */
export function dockerArchiveLayers(
  image: Image,
  mode: DockerLayerMode,
  sizes?: ReadonlyMap<string, number>,
): Descriptor[] {
  return image.layers.map((layer) => {
    if (mode === 'stored' || layer.compression === 'none') return layer.descriptor;
    const size = sizes?.get(layer.diffId);
    if (size === undefined) {
      throw new OciDeltaError(
        'ERR_INVALID_OPTIONS',
        `uncompressed size of layer ${layer.diffId} (image ${image.digest}) is not known`,
        { digest: image.digest, diffId: layer.diffId },
      );
    }
    return uncompressedLayerDescriptor(layer, size);
  });
}

/**
 * Metadata files of a Docker >= 25 archive: index.json (annotated with
 * io.containerd.image.name and org.opencontainers.image.ref.name), manifest.json (Config,
 * RepoTags, Layers as `blobs/sha256/<hex>` paths), repositories, oci-layout.
 */
export function dockerArchiveMetadata(
  images: readonly DockerArchiveImage[],
  options: DockerMetadataOptions = {},
): DockerArchiveMetadata {
  const mode = options.layers ?? 'stored';
  const manifests: DockerArchiveMetadata['manifests'] = [];
  const index: IndexManifest = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  const items: DockerManifestItem[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  images.forEach(({ image, repoTags = [] }, i) => {
    const layers = options.layerDescriptors?.[i]
      ? [...options.layerDescriptors[i]!]
      : dockerArchiveLayers(image, mode, options.uncompressedSizes);
    const unchanged = layers.every(
      (l, j) => l.digest === image.manifest.layers[j]?.digest && l.size === image.manifest.layers[j]?.size,
    );
    const { manifestBytes, digest } = unchanged
      ? { manifestBytes: Buffer.from(image.manifestBytes), digest: image.digest }
      : rewriteManifestLayers(image, layers);
    manifests.push({ digest, bytes: manifestBytes, layers });
    const tags = repoTags.map(normalizeRepoTag);
    const base: Descriptor = { mediaType: image.mediaType, digest, size: manifestBytes.length };
    if (tags.length === 0) index.manifests.push(base);
    for (const t of tags) {
      index.manifests.push({
        ...base,
        annotations: { [ANNOTATION_CONTAINERD_NAME]: t.full, [ANNOTATION_REF_NAME]: t.tag },
      });
      const last = layers.at(-1);
      if (last) {
        const repo = repositories[t.familiarName] ?? {};
        repo[t.tag] = last.digest.slice(last.digest.indexOf(':') + 1);
        repositories[t.familiarName] = repo;
      }
    }
    items.push({
      Config: blobEntryName(image.configDigest),
      RepoTags: tags.map((t) => t.familiar),
      Layers: layers.map((l) => blobEntryName(l.digest)),
    });
  });
  return {
    manifests,
    indexJson: Buffer.from(JSON.stringify(index)),
    manifestJson: Buffer.from(JSON.stringify(items)),
    repositories: Object.keys(repositories).length ? Buffer.from(JSON.stringify(repositories)) : undefined,
    ociLayout: ociLayoutBytes(),
  };
}
