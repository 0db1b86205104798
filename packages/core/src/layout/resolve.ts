/**
 * Resolving an image or index inside a layout or archive: by ref-name annotation
 * (`org.opencontainers.image.ref.name` or `io.containerd.image.name`), by digest, or the only /
 * first entry; an index is narrowed to one image by platform.
 */
import { OciDeltaError } from '../errors.js';
import { isIndexMediaType } from '../media-types.js';
import { type BlobSource, type Image, type Index, loadImage, loadIndex, readBlob } from '../model.js';
import {
  formatPlatform,
  indexPlatforms,
  type Platform,
  parsePlatform,
  platformFromSpec,
  selectManifest,
} from '../platform.js';
import { parseReference } from '../reference.js';
import { type Descriptor, type IndexManifest, type PlatformSpec, parseManifest } from '../schemas.js';

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';

/** How to pick an image out of a layout or archive. */
export interface ImageSelector {
  /** A ref-name annotation value: a tag (`v1`) or a full name (`docker.io/library/alpine:3`). */
  ref?: string;
  /** A manifest digest (top-level entry, or any manifest blob present). */
  digest?: string;
  /** When the entry is an index: `linux/arm64/v8` or a platform object. */
  platform?: Platform | PlatformSpec | string;
}

/** What resolution needs: the top-level index, a blob source, and a name for messages. */
export interface ResolveContext {
  where: string;
  index: IndexManifest;
  source: BlobSource;
  /** True when a blob is present (used to resolve digests not listed at top level). */
  hasBlob(digest: string): Promise<boolean> | boolean;
}

/** The ref names a descriptor carries (both annotation keys). */
export function refNamesOf(d: Descriptor): string[] {
  const a = d.annotations ?? {};
  return [a[ANNOTATION_CONTAINERD_NAME], a[ANNOTATION_REF_NAME]].filter((v): v is string => !!v);
}

/** The normalized form of a full image name (`alpine` -> `docker.io/library/alpine:latest`), if it is one. */
export function normalizedRef(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  try {
    return parseReference(name).toString();
  } catch {
    return undefined;
  }
}

/**
 * The first of `names` that denotes `wanted`: the same string, else the same image reference
 * after normalization (`alpine:3` matches `docker.io/library/alpine:3`).
 */
export function matchRefName(names: readonly string[], wanted: string): string | undefined {
  if (names.includes(wanted)) return wanted;
  const w = normalizedRef(wanted);
  return w === undefined ? undefined : names.find((n) => normalizedRef(n) === w);
}

/**
 * Pick the top-level descriptor matching a selector: by name, by digest, or the only entry
 * (platform images listed side by side at top level are narrowed by platform).
 */
export async function resolveTopLevel(
  ctx: ResolveContext,
  selector: ImageSelector = {},
): Promise<Descriptor> {
  const { manifests } = ctx.index;
  if (selector.ref !== undefined) {
    const ref = selector.ref;
    const wanted = normalizedRef(ref);
    const found =
      manifests.find((d) => d.annotations?.[ANNOTATION_CONTAINERD_NAME] === ref) ??
      manifests.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === ref) ??
      (wanted === undefined
        ? undefined
        : manifests.find((d) => normalizedRef(d.annotations?.[ANNOTATION_CONTAINERD_NAME]) === wanted));
    if (!found) {
      const known = manifests.flatMap(refNamesOf);
      throw new OciDeltaError(
        'ERR_MANIFEST_UNKNOWN',
        `no image named "${ref}" in ${ctx.where} (known: ${known.length ? known.join(', ') : 'none'})`,
        { path: ctx.where, ref },
      );
    }
    if (selector.digest !== undefined && found.digest !== selector.digest) {
      throw new OciDeltaError(
        'ERR_MANIFEST_UNKNOWN',
        `"${ref}" in ${ctx.where} is ${found.digest}, not ${selector.digest}`,
        { path: ctx.where, ref, digest: selector.digest },
      );
    }
    return found;
  }
  if (selector.digest !== undefined) {
    const digest = selector.digest;
    const found = manifests.find((d) => d.digest === digest);
    if (found) return found;
    throw new OciDeltaError('ERR_MANIFEST_UNKNOWN', `no manifest ${digest} listed in ${ctx.where}`, {
      path: ctx.where,
      digest,
    });
  }
  const first = manifests[0];
  if (!first) {
    throw new OciDeltaError('ERR_MANIFEST_UNKNOWN', `${ctx.where} contains no images (empty index)`, {
      path: ctx.where,
    });
  }
  // One image under several names (docker save of one image with two tags) is still one image.
  if (manifests.every((d) => d.digest === first.digest)) return first;
  // Several entries and no name: platform images listed at top level are picked by platform,
  // like an index; anything else must be named (never the first one silently).
  if (
    manifests.every(
      (d) => d.platform !== undefined && d.mediaType !== undefined && !isIndexMediaType(d.mediaType),
    )
  )
    return selectPlatform(ctx.index, selector.platform, ctx.where);
  throw severalImagesError(
    ctx.where,
    manifests.map((d) => refNamesOf(d)[0] ?? d.digest),
  );
}

/** The error for a layout or archive holding several images when none was named (as skopeo). */
export function severalImagesError(where: string, names: readonly string[]): OciDeltaError {
  return new OciDeltaError(
    'ERR_MANIFEST_UNKNOWN',
    `${where} holds ${names.length} images (${names.join(', ')}); name the one to use (oci:DIR:NAME, oci-archive:FILE:NAME, docker-archive:FILE:NAME)`,
    { path: where, available: [...names] },
  );
}

async function readManifestBytes(ctx: ResolveContext, d: Descriptor, signal?: AbortSignal): Promise<Buffer> {
  return readBlob(ctx.source, d, signal);
}

/** Resolve and load an image, narrowing an index by platform. */
export async function resolveImage(
  ctx: ResolveContext,
  selector: ImageSelector = {},
  signal?: AbortSignal,
): Promise<Image> {
  let d: Descriptor;
  try {
    d = await resolveTopLevel(ctx, selector);
  } catch (err) {
    // A digest not listed at top level may still be a manifest blob (a child of an index).
    if (selector.ref !== undefined || selector.digest === undefined || !(await ctx.hasBlob(selector.digest)))
      throw err;
    const bytes = await readRawManifest(ctx, selector.digest);
    const mt = parseManifest(bytes, undefined, { path: ctx.where, digest: selector.digest }).mediaType;
    d = { mediaType: mt, digest: selector.digest, size: bytes.length };
  }
  for (let depth = 0; depth < 4; depth++) {
    const bytes = await readManifestBytes(ctx, d, signal);
    const parsed = parseManifest(bytes, d.mediaType, { path: ctx.where, digest: d.digest });
    if (parsed.kind === 'image') {
      return loadImage(ctx.source, bytes, { mediaType: parsed.mediaType, signal });
    }
    d = selectPlatform(parsed.manifest, selector.platform, `${ctx.where} (${d.digest})`);
  }
  throw new OciDeltaError('ERR_INVALID_MANIFEST', `indexes nested too deeply in ${ctx.where}`, {
    path: ctx.where,
  });
}

async function readRawManifest(ctx: ResolveContext, digest: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = await ctx.source.openBlob({ mediaType: 'application/octet-stream', digest, size: 0 });
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Resolve an index (the selected entry must be one). */
export async function resolveIndex(ctx: ResolveContext, selector: ImageSelector = {}): Promise<Index> {
  const d = await resolveTopLevel(ctx, selector);
  const bytes = await readManifestBytes(ctx, d);
  return loadIndex(bytes, d.mediaType);
}

/** Pick the manifest of an index that matches `platform` (or the only one when none given). */
export function selectPlatform(
  index: IndexManifest,
  platform: Platform | PlatformSpec | string | undefined,
  where: string,
): Descriptor {
  if (platform === undefined) {
    const candidates = index.manifests.filter(
      (d) => !(d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown'),
    );
    if (candidates.length === 1) return candidates[0]!;
    const available = indexPlatforms(index).map(formatPlatform);
    throw new OciDeltaError(
      'ERR_PLATFORM_NOT_FOUND',
      `${where} is a multi-platform index; choose a platform (available: ${available.join(', ') || 'none'})`,
      { path: where, available },
    );
  }
  const want = platformOfSelector(platform);
  try {
    return selectManifest(index, want);
  } catch (err) {
    if (err instanceof OciDeltaError) {
      throw new OciDeltaError(
        err.code,
        `${where}: ${err.message}`,
        { ...err.details, path: where },
        { cause: err },
      );
    }
    throw err;
  }
}

/** A selector's platform as a {@link Platform} (parsed from text, or from an index's spec). */
export function platformOfSelector(platform: Platform | PlatformSpec | string): Platform {
  if (typeof platform === 'string') return parsePlatform(platform);
  return 'osVersion' in platform || 'osFeatures' in platform
    ? (platform as Platform)
    : platformFromSpec(platform as PlatformSpec);
}
