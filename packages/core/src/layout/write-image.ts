/**
 * Sinks for whole images: copy images from any source (registry, archive, layout) into an OCI
 * layout directory, blob by blob, verified, skipping blobs already present.
 */
import type { Readable } from 'node:stream';
import { OciDeltaError } from '../errors.js';
import type { Image, Index } from '../model.js';
import { type Progress, progressTotals } from '../progress.js';
import { parseReference, type Reference } from '../reference.js';
import type { Descriptor, PlatformSpec } from '../schemas.js';
import { OciLayout } from './oci-layout.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME } from './resolve.js';

/** One image to write, with an optional name (a tag like `v1`, or a full reference). */
export interface NamedImage {
  image: Image;
  ref?: string;
  /** Stated on the image's index.json entry. */
  platform?: PlatformSpec;
}

/** A multi-platform index to write with the images it lists, under an optional name. */
export interface NamedIndex {
  index: Index;
  images: readonly Image[];
  ref?: string;
}

/** The images an entry brings, and the top-level descriptor that names it. */
export function entryImages(entry: NamedImage | NamedIndex): readonly Image[] {
  return 'index' in entry ? entry.images : [entry.image];
}

/** The index.json descriptor of an entry. */
export function entryDescriptor(entry: NamedImage | NamedIndex): Descriptor {
  if (!('index' in entry)) return imageDescriptor(entry.image, entry.ref, entry.platform);
  const annotations = refAnnotations(entry.ref);
  return {
    mediaType: entry.index.mediaType,
    digest: entry.index.digest,
    size: entry.index.manifestBytes.byteLength,
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };
}

/**
 * Progress while writing images: `item` is the blob's digest; `config`/`layer` bytes of it,
 * `skip` (already there), `manifest` (unit items); `overall` counts bytes of all blobs.
 */
export type ImageWritePhase = 'config' | 'layer' | 'manifest' | 'skip' | 'metadata';
export type ImageWriteProgress = Progress<ImageWritePhase>;

/** `options` with `overall` added to its progress events (total: every blob of `entries`). */
export function withOverallProgress<T extends { onProgress?: (p: ImageWriteProgress) => void }>(
  entries: readonly (NamedImage | NamedIndex)[],
  options: T,
  known: 'sizes' | 'unknown' = 'sizes',
): T {
  if (!options.onProgress) return options;
  const seen = new Set<string>();
  let total = 0;
  for (const entry of entries) {
    for (const image of entryImages(entry)) {
      for (const d of [image.manifest.config, ...image.manifest.layers]) {
        if (!seen.has(d.digest)) total += d.size;
        seen.add(d.digest);
      }
    }
  }
  const totals = progressTotals(options.onProgress, known === 'sizes' ? { total } : {});
  return { ...options, onProgress: (p: ImageWriteProgress) => totals.emit(p) };
}

export interface ImageWriteOptions {
  signal?: AbortSignal;
  /** Annotations of index.json itself (merged over what it has). */
  annotations?: Record<string, string>;
  onProgress?: (p: ImageWriteProgress) => void;
}

const TAG_ONLY = /^[\w][\w.-]{0,127}$/;

/**
 * Index annotations for a name: a bare tag (`v1`) becomes `org.opencontainers.image.ref.name`;
 * a full reference (`alpine:3`, `registry:5000/app:2`) becomes `io.containerd.image.name` in
 * normalized form (`docker.io/library/alpine:3`), with its tag as the ref name, as containerd
 * and Docker >= 25 write them. Anything else is kept verbatim as the ref name.
 */
export function refAnnotations(ref: string | undefined): Record<string, string> {
  if (ref === undefined || ref === '') return {};
  if (TAG_ONLY.test(ref)) return { [ANNOTATION_REF_NAME]: ref };
  let parsed: Reference;
  try {
    parsed = parseReference(ref);
  } catch {
    return { [ANNOTATION_REF_NAME]: ref };
  }
  return parsed.tag !== undefined
    ? { [ANNOTATION_CONTAINERD_NAME]: parsed.toString(), [ANNOTATION_REF_NAME]: parsed.tag }
    : { [ANNOTATION_CONTAINERD_NAME]: parsed.toString() };
}

/** The top-level descriptor for an image, with name annotations. */
export function imageDescriptor(image: Image, ref?: string, platform?: PlatformSpec): Descriptor {
  const annotations = refAnnotations(ref);
  return {
    mediaType: image.mediaType,
    digest: image.digest,
    size: image.manifestBytes.byteLength,
    ...(Object.keys(annotations).length ? { annotations } : {}),
    ...(platform ? { platform } : {}),
  };
}

/** Copy one blob of `image` into `layout` unless present. */
async function copyBlob(
  layout: OciLayout,
  image: Image,
  d: Descriptor,
  phase: 'config' | 'layer',
  options: ImageWriteOptions,
): Promise<void> {
  if (await layout.hasBlob(d.digest)) {
    options.onProgress?.({ phase: 'skip', item: d.digest, done: d.size, total: d.size });
    return;
  }
  let data: Readable | Uint8Array;
  if (phase === 'config') data = image.configBytes;
  else data = await image.source.openBlob(d, { signal: options.signal });
  await layout.writeBlob(
    data,
    { digest: d.digest, size: d.size },
    {
      signal: options.signal,
      onProgress: (p) => options.onProgress?.({ phase, item: d.digest, done: p.done, total: d.size }),
    },
  );
}

/**
 * Write whole images into an OCI layout directory (created when missing): config and layers
 * copied and verified, existing blobs skipped, then the manifest (and the index of a
 * multi-platform entry), then index.json entries named by `ref`.
 */
export async function writeOciLayout(
  dir: string,
  entries: readonly (NamedImage | NamedIndex)[],
  optionsIn: ImageWriteOptions = {},
): Promise<OciLayout> {
  const options = withOverallProgress(entries, optionsIn);
  const layout = await OciLayout.create(dir);
  for (const entry of entries) {
    for (const image of entryImages(entry)) {
      if (options.signal?.aborted) {
        throw new OciDeltaError('ERR_ABORTED', `writing ${layout.dir} was aborted`, { path: layout.dir });
      }
      await copyBlob(layout, image, image.manifest.config, 'config', options);
      for (const layer of image.manifest.layers) await copyBlob(layout, image, layer, 'layer', options);
      await writeManifestBlob(layout, image.digest, image.manifestBytes);
      options.onProgress?.({ phase: 'manifest', item: image.digest, done: 1, total: 1, unit: 'items' });
    }
    if ('index' in entry) await writeManifestBlob(layout, entry.index.digest, entry.index.manifestBytes);
    await layout.addManifest(entryDescriptor(entry));
  }
  if (options.annotations && Object.keys(options.annotations).length > 0) {
    await layout.annotateIndex(options.annotations);
  }
  return layout;
}

async function writeManifestBlob(layout: OciLayout, digest: string, bytes: Uint8Array): Promise<void> {
  if (!(await layout.hasBlob(digest))) await layout.writeBlob(bytes, { digest, size: bytes.byteLength });
}
