/**
 * New images from existing ones, without touching the originals (go-containerregistry's
 * `mutate`): each function returns an `Image` whose manifest and config are rewritten from the
 * raw JSON (so fields ocidelta does not model survive), whose new blobs come from the source
 * given, and whose other blobs still come from the original image's source. Nothing is written
 * anywhere; write the result with a layout, an archive or a registry.
 */
import { type Digest, digestOf } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { type BlobSource, type Image, type Index, jsonBytes, loadImage, loadIndex } from '../model.js';
import type { Descriptor, History } from '../schemas.js';
import { overlaySource } from './overlay-source.js';

/** A layer to add or put in place: its stored blob, the digest of its tar, its history entry. */
export interface NewLayer {
  descriptor: Descriptor;
  diffId: Digest;
  /** Appended to the config's history (appendLayers); replaceLayer leaves history alone. */
  history?: History;
}

/** An image config as raw JSON: the fields ocidelta models and any others, kept as they are. */
export type RawConfig = Record<string, unknown> & {
  rootfs: { type: string; diff_ids?: string[] | null };
  history?: Record<string, unknown>[];
};

type RawManifest = Record<string, unknown>;

const rawJson = <T>(bytes: Uint8Array): T => JSON.parse(Buffer.from(bytes).toString('utf8')) as T;

/** The image with `layers` added on top, their blobs read from `from`. */
export async function appendLayers(
  image: Image,
  layers: readonly NewLayer[],
  from: BlobSource,
): Promise<Image> {
  const config = rawJson<RawConfig>(image.configBytes);
  const history = [...(config.history ?? []), ...layers.flatMap((l) => (l.history ? [l.history] : []))];
  return rebuild(image, {
    config: {
      ...config,
      rootfs: {
        ...config.rootfs,
        diff_ids: [...(config.rootfs.diff_ids ?? []), ...layers.map((l) => l.diffId)],
      },
      ...(history.length > 0 ? { history } : {}),
    },
    layers: [...image.manifest.layers, ...layers.map((l) => l.descriptor)],
    from: layers.map((l) => [l.descriptor.digest as Digest, from]),
  });
}

/** The image with layer `index` replaced by `layer` (diff_id too), its blob read from `from`. */
export async function replaceLayer(
  image: Image,
  index: number,
  layer: NewLayer,
  from: BlobSource,
): Promise<Image> {
  if (!Number.isInteger(index) || index < 0 || index >= image.layers.length) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `image ${image.digest} has no layer ${index} (it has ${image.layers.length})`,
      { digest: image.digest, layer: index },
    );
  }
  const config = rawJson<RawConfig>(image.configBytes);
  const diffIds = [...(config.rootfs.diff_ids ?? [])];
  diffIds[index] = layer.diffId;
  const layers = [...image.manifest.layers];
  layers[index] = layer.descriptor;
  return rebuild(image, {
    config: { ...config, rootfs: { ...config.rootfs, diff_ids: diffIds } },
    layers,
    from: [[layer.descriptor.digest as Digest, from]],
  });
}

/** The image with its config rewritten by `edit` (the raw JSON, unknown fields included). */
export async function withConfig(image: Image, edit: (config: RawConfig) => RawConfig): Promise<Image> {
  return rebuild(image, {
    config: edit(rawJson<RawConfig>(image.configBytes)),
    layers: image.manifest.layers,
    from: [],
  });
}

/**
 * The image with other stored forms of the same layers (e.g. uncompressed instead of gzip, or
 * recompressed): one descriptor per layer, diff_ids unchanged, the new blobs read from `from`.
 */
export async function withLayerDescriptors(
  image: Image,
  descriptors: readonly Descriptor[],
  from: BlobSource,
): Promise<Image> {
  if (descriptors.length !== image.layers.length) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `${descriptors.length} layer descriptors for an image with ${image.layers.length} layers`,
      { digest: image.digest },
    );
  }
  return rebuild(image, {
    config: image.configBytes,
    layers: descriptors,
    from: descriptors.map((d) => [d.digest as Digest, from]),
  });
}

export interface ImageParts {
  /** The manifest media type (OCI or Docker); config and manifest descriptors follow it. */
  mediaType: string;
  configMediaType: string;
  /** The config: an object to serialize, or existing bytes kept exactly (their digest is the image ID). */
  config: RawConfig | Uint8Array;
  layers: readonly Descriptor[];
  annotations?: Record<string, string>;
}

/** An image from its parts: the config and manifest are serialized here, layers read from `from`. */
export async function imageFromBlobs(parts: ImageParts, from: BlobSource): Promise<Image> {
  const configBytes = parts.config instanceof Uint8Array ? parts.config : jsonBytes(parts.config);
  const manifestBytes = jsonBytes({
    schemaVersion: 2,
    mediaType: parts.mediaType,
    config: { mediaType: parts.configMediaType, digest: digestOf(configBytes), size: configBytes.length },
    layers: parts.layers,
    ...(parts.annotations ? { annotations: parts.annotations } : {}),
  });
  return loadImage(overlaySource(new Map([[digestOf(configBytes), configBytes]]), from), manifestBytes, {
    mediaType: parts.mediaType,
  });
}

/**
 * The manifest bytes of `image` with `change` applied (config descriptor, layer list), every
 * other field of its raw JSON kept (pure; the one place manifests are rewritten).
 */
export function rewriteManifest(
  image: Image,
  change: { config?: Descriptor; layers?: readonly Descriptor[] },
): Buffer {
  return jsonBytes({
    ...rawJson<RawManifest>(image.manifestBytes),
    ...(change.config ? { config: change.config } : {}),
    ...(change.layers ? { layers: change.layers } : {}),
  });
}

/** `image` with a new config and layer list, keeping the rest of its raw manifest. */
async function rebuild(
  image: Image,
  change: {
    /** The new config, or existing bytes kept exactly. */
    config: RawConfig | Uint8Array;
    layers: readonly Descriptor[];
    from: readonly (readonly [Digest, BlobSource])[];
  },
): Promise<Image> {
  const configBytes = change.config instanceof Uint8Array ? change.config : jsonBytes(change.config);
  const configDigest = digestOf(configBytes);
  const manifestBytes = rewriteManifest(image, {
    config: { ...image.manifest.config, digest: configDigest, size: configBytes.length },
    layers: change.layers,
  });
  const blobs = new Map<Digest, Uint8Array | BlobSource>(change.from);
  blobs.set(configDigest, configBytes);
  return loadImage(overlaySource(blobs, image.source), manifestBytes, { mediaType: image.mediaType });
}

export interface IndexParts {
  /** OCI image index or Docker manifest list. */
  mediaType: string;
  manifests: readonly Descriptor[];
  annotations?: Record<string, string>;
  /** Further top-level fields kept from an index being rewritten (before the standard ones). */
  extra?: Record<string, unknown>;
}

/** An index (multi-platform list) from its entries, serialized here (pure). */
export function indexFromDescriptors(parts: IndexParts): Index {
  const bytes = jsonBytes({
    ...(parts.extra ?? {}),
    schemaVersion: 2,
    mediaType: parts.mediaType,
    manifests: parts.manifests,
    ...(parts.annotations && Object.keys(parts.annotations).length > 0
      ? { annotations: parts.annotations }
      : {}),
  });
  return loadIndex(bytes, parts.mediaType);
}
