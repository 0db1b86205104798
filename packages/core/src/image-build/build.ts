/**
 * Build images from a spec (see spec.ts): each layer directory becomes the difference between
 * the filesystem below it and the directory, written as a deterministic gzip layer into a blob
 * store (an OCI layout); configs and manifests follow. Parents come from earlier images of the
 * spec, local layouts/archives, or a caller-supplied resolver (registry references).
 */
import { resolve } from 'node:path';
import type { Digest } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import type { OciLayout } from '../layout/oci-layout.js';
import type { NamedImage, NamedIndex } from '../layout/write-image.js';
import { layerCompression, MediaType } from '../media-types.js';
import type { BlobSource, Image } from '../model.js';
import { imageFromBlobs } from '../mutate/mutate.js';
import type { Platform } from '../platform.js';
import type { Progress } from '../progress.js';
import type { ContainerConfig, Descriptor, History, ImageConfig } from '../schemas.js';
import { parseImageRef } from '../store/image-ref.js';
import { openImage } from '../store/image-store.js';
import { diffTrees } from './diff.js';
import { layerBlobStream, resolveMtime } from './layer-tar.js';
import { buildEntries } from './multi-platform.js';
import { type BuildContainerConfig, type BuildImageSpec, type BuildSpec, specLayers } from './spec.js';
import { mergeTrees, scanDirectory, type Tree, treeOfLayers } from './tree.js';

export type ImageFormat = 'oci' | 'docker';

/**
 * Progress of a build (unit items): `parent` (resolving image N's parent), `layer` (item
 * `image N layer I: DIGEST` written), `image` (item `image N: DIGEST` done); `overall` counts
 * images of the spec.
 */
export type BuildProgress = Progress<'parent' | 'layer' | 'image'>;

export interface BuildOptions {
  /** Directory that relative layer paths and local parent references are resolved against. */
  baseDir?: string;
  /** Where new blobs (layers, configs, manifests) are written. */
  store: OciLayout;
  /** Media types of the result (default: the spec's `mode`, else oci). */
  format?: ImageFormat;
  /** Gzip new layers (default: the spec's `gzip`, else true); false stores plain tar. */
  gzip?: boolean;
  /** mtime of layer entries and `created` (seconds; default SOURCE_DATE_EPOCH, else 0). */
  mtime?: number;
  env?: NodeJS.ProcessEnv;
  /** Resolve a registry reference to an image of `platform` (undefined when the spec gives no architecture). */
  resolveParent?: (ref: string, platform: Platform | undefined, signal?: AbortSignal) => Promise<Image>;
  signal?: AbortSignal;
  onProgress?: (p: BuildProgress) => void;
}

/** One built image with the names it should get. */
export interface BuiltImage {
  image: Image;
  tags: string[];
}

export interface BuildResult {
  images: BuiltImage[];
  /** What the output lists: per tag an image or a multi-platform index (see buildEntries). */
  entries: (NamedImage | NamedIndex)[];
  /** The media-type family the images were built in. */
  format: ImageFormat;
  /** The spec's top-level annotations (for index.json and multi-platform indexes). */
  annotations?: Record<string, string>;
  /** Release local parents (archives) once the images have been written. */
  close(): Promise<void>;
}

const FAMILY: Record<
  ImageFormat,
  { manifest: string; config: string; gzip: string; tar: string; zstd: string }
> = {
  oci: {
    manifest: MediaType.OciManifest,
    config: MediaType.OciConfig,
    gzip: MediaType.OciLayerGzip,
    tar: MediaType.OciLayer,
    zstd: MediaType.OciLayerZstd,
  },
  docker: {
    manifest: MediaType.DockerManifest,
    config: MediaType.DockerConfig,
    gzip: MediaType.DockerLayerGzip,
    tar: MediaType.DockerLayer,
    zstd: MediaType.DockerLayerZstd,
  },
};

/** A parent layer's descriptor in the media-type family of the image being built. */
function inFamily(d: Descriptor, format: ImageFormat): Descriptor {
  if (d.mediaType === MediaType.DockerForeignLayerGzip || d.mediaType.includes('nondistributable')) return d;
  const compression = layerCompression(d.mediaType) ?? 'none';
  return { ...d, mediaType: FAMILY[format][compression === 'none' ? 'tar' : compression] };
}

/** Env lists merged by variable name: later values win, first position kept. */
function mergeEnv(base: readonly string[] = [], add: readonly string[] = []): string[] {
  const out = [...base];
  for (const kv of add) {
    const name = kv.split('=')[0];
    const at = out.findIndex((e) => e.split('=')[0] === name);
    if (at >= 0) out[at] = kv;
    else out.push(kv);
  }
  return out;
}

/** The parent's container config with the spec's on top (Env, Labels, ports, volumes merged). */
export function mergeContainerConfig(
  parent: ContainerConfig | undefined,
  spec: BuildContainerConfig | undefined,
): ContainerConfig {
  const out: ContainerConfig = { ...(parent ?? {}) };
  if (!spec) return out;
  const rec = out as Record<string, unknown>;
  for (const [key, value] of Object.entries(spec)) {
    if (key === 'Env') rec.Env = mergeEnv(parent?.Env ?? [], value as string[]);
    else if (key === 'Labels' || key === 'ExposedPorts' || key === 'Volumes') {
      rec[key] = {
        ...((parent as Record<string, object | null | undefined> | undefined)?.[key] ?? {}),
        ...(value as object),
      };
    } else rec[key] = value;
  }
  return out;
}

/** Blobs from the store first, then from the parent image. */
function layeredSource(store: OciLayout, parent: BlobSource | undefined): BlobSource {
  return {
    async openBlob(d, options) {
      if (parent === undefined || (await store.hasBlob(d.digest))) return store.openBlob(d);
      return parent.openBlob(d, options);
    },
  };
}

function platformOf(spec: BuildImageSpec, parent: Image | undefined, where: string): Platform {
  const architecture = spec.architecture ?? parent?.config.architecture;
  if (!architecture) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `${where}: architecture is required (no parent to inherit it from)`,
      {
        field: 'architecture',
      },
    );
  }
  return {
    os: spec.os,
    architecture,
    ...(spec.variant !== undefined ? { variant: spec.variant } : {}),
    ...(spec['os.version'] !== undefined ? { osVersion: spec['os.version'] } : {}),
  };
}

/** The parent of image `n`: an earlier image of the spec (with its tree), or one opened by reference. */
async function parentOf(
  imageSpec: BuildImageSpec,
  n: number,
  built: readonly { image: Image; tree: Tree | undefined }[],
  baseDir: string,
  options: BuildOptions,
  closers: (() => Promise<void>)[],
  progress: (phase: BuildProgress['phase'], item: string, done: number) => void,
): Promise<{ parent?: Image; parentTree?: Tree }> {
  const where = `images[${n}]`;
  if (typeof imageSpec.parent === 'number') {
    const earlier = built[imageSpec.parent];
    if (!earlier || imageSpec.parent >= n) {
      throw new OciDeltaError(
        'ERR_INPUT',
        `${where}.parent: ${imageSpec.parent} is not an earlier image of the spec`,
        {
          field: `${where}.parent`,
        },
      );
    }
    return { parent: earlier.image, parentTree: earlier.tree };
  } else if (imageSpec.parent !== undefined) {
    const platform = imageSpec.architecture ? platformOf(imageSpec, undefined, where) : undefined;
    const loc = parseImageRef(imageSpec.parent, baseDir);
    progress('parent', `image ${n}`, 0);
    if (loc.transport === 'docker') {
      if (!options.resolveParent) {
        throw new OciDeltaError(
          'ERR_INPUT',
          `${where}.parent: registry reference ${loc.ref} needs a registry client`,
          {
            ref: loc.ref,
          },
        );
      }
      const parent = await options.resolveParent(loc.ref, platform, options.signal);
      if (!parent)
        throw new OciDeltaError('ERR_MANIFEST_UNKNOWN', `${where}.parent: ${loc.ref} not found`, {
          ref: loc.ref,
        });
      return { parent };
    } else {
      const opened = await openImage(loc, {
        ...(platform ? { platform } : {}),
        signal: options.signal,
      });
      closers.push(opened.close);
      return { parent: opened.image };
    }
  }
  return {};
}

/** The config of a built image: its platform, the merged container config, its rootfs and history. */
function configOf(
  imageSpec: BuildImageSpec,
  platform: Platform,
  created: string,
  parent: Image | undefined,
  diffIds: Digest[],
  history: History[],
): ImageConfig {
  return {
    created,
    ...(imageSpec.author !== undefined ? { author: imageSpec.author } : {}),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.osVersion !== undefined ? { 'os.version': platform.osVersion } : {}),
    ...(imageSpec['os.features'] !== undefined ? { 'os.features': imageSpec['os.features'] } : {}),
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    config: mergeContainerConfig(parent?.config.config, imageSpec.config),
    rootfs: { type: 'layers', diff_ids: diffIds },
    history,
  };
}

/** Build every image of `spec`, in order. */
export async function buildImages(spec: BuildSpec, options: BuildOptions): Promise<BuildResult> {
  const baseDir = options.baseDir ?? process.cwd();
  const format = options.format ?? spec.mode ?? 'oci';
  const compression = (options.gzip ?? spec.gzip ?? true) ? 'gzip' : 'none';
  const family = FAMILY[format];
  const mtime = resolveMtime(options.mtime, options.env);
  const created = new Date(mtime * 1000).toISOString().replace('.000Z', 'Z');
  const closers: (() => Promise<void>)[] = [];
  const built: { image: Image; tree: Tree | undefined; tags: string[] }[] = [];
  const { store } = options;
  let entries: (NamedImage | NamedIndex)[] = [];
  const progress = (phase: BuildProgress['phase'], item: string, done: number) =>
    options.onProgress?.({
      phase,
      item,
      done,
      total: 1,
      unit: 'items',
      overall: { done: built.length, total: spec.images.length, unit: 'items' },
    });
  try {
    for (const [n, imageSpec] of spec.images.entries()) {
      const where = `images[${n}]`;
      const { parent, parentTree } = await parentOf(imageSpec, n, built, baseDir, options, closers, progress);
      const platform = platformOf(imageSpec, parent, where);
      let base: Tree =
        parentTree ??
        (parent
          ? await treeOfLayers(parent.layers, { signal: options.signal, where: imageSpec.parent?.toString() })
          : new Map());
      const layers: Descriptor[] = (parent?.manifest.layers ?? []).map((d) => inFamily(d, format));
      const diffIds: Digest[] = [...(parent?.config.rootfs.diff_ids ?? [])] as Digest[];
      const history: History[] = [...(parent?.config.history ?? [])];
      const layerDirs = specLayers(imageSpec);
      for (const [i, dirs] of layerDirs.entries()) {
        const trees: Tree[] = [];
        for (const dir of dirs)
          trees.push(await scanDirectory(resolve(baseDir, dir), { signal: options.signal }));
        const target = mergeTrees(trees);
        const entries = diffTrees(base, target);
        const produced = layerBlobStream(entries, { mtime, signal: options.signal, compression });
        const { digest, size } = await store.writeBlob(produced.stream, {}, { signal: options.signal });
        diffIds.push(produced.diffId().digest);
        layers.push({ mediaType: compression === 'gzip' ? family.gzip : family.tar, digest, size });
        history.push({
          created,
          created_by: `ocidelta image build: layer ${dirs.join(' + ')}`,
          ...(imageSpec.author !== undefined ? { author: imageSpec.author } : {}),
          ...(imageSpec.comment !== undefined ? { comment: imageSpec.comment } : {}),
        });
        progress('layer', `image ${n} layer ${i}: ${digest}`, 1);
        base = target;
      }
      if (layerDirs.length === 0) {
        history.push({
          created,
          created_by: 'ocidelta image build',
          ...(imageSpec.comment !== undefined ? { comment: imageSpec.comment } : {}),
          empty_layer: true,
        });
      }
      const config = configOf(imageSpec, platform, created, parent, diffIds, history);
      const image = await imageFromBlobs(
        {
          mediaType: family.manifest,
          configMediaType: family.config,
          config,
          layers,
          ...(format === 'oci' && imageSpec.annotations ? { annotations: imageSpec.annotations } : {}),
        },
        layeredSource(store, parent?.source),
      );
      built.push({ image, tree: base, tags: imageSpec.tags });
      progress('image', `image ${n}: ${image.digest}`, 1);
    }
    // A tag on two images of one platform is refused here, before anything is written.
    entries = buildEntries(built, format, spec.annotations);
  } catch (err) {
    for (const c of closers) await c();
    throw err;
  }
  return {
    images: built.map(({ image, tags }) => ({ image, tags })),
    entries,
    format,
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
    async close() {
      for (const c of closers) await c();
    },
  };
}
