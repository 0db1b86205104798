/**
 * What a transfer moves: the tree of manifests under a top-level descriptor (an image, or an
 * index narrowed to some platforms), the unique blobs the images reference, and the order
 * manifests must be written in (children before the index that lists them). Loading is
 * parameterized by a manifest fetcher so the same plan serves registries and layouts.
 */
import {
  type Descriptor,
  type Digest,
  digestOf,
  formatPlatform,
  type IndexManifest,
  OciDeltaError,
  type Platform,
  parseManifest,
  parsePlatform,
  platformFromSpec,
  selectManifest,
} from '@ocidelta/core';

/** One manifest of the tree, with its exact bytes. */
export interface ManifestNode {
  descriptor: Descriptor;
  bytes: Uint8Array;
  kind: 'image' | 'index';
  /** Images: config then layers. Empty for an index. */
  blobs: Descriptor[];
  /** Index: the selected children. Empty for an image. */
  children: ManifestNode[];
  /** Platform of an image as listed by its parent index, if any. */
  platform?: string;
}

/** Which images of an index to take. */
export interface PlatformChoice {
  /** Take one platform (`linux/arm64`); the result is that image, not the index. */
  platform?: string | Platform;
  /** Take every child of the index (the index is kept, digest unchanged). */
  allPlatforms?: boolean;
}

/** Fetch a manifest's bytes by descriptor (verified by the caller against the digest). */
export type ManifestFetcher = (descriptor: Descriptor) => Promise<{ bytes: Uint8Array; mediaType?: string }>;

const MAX_DEPTH = 4;

/** Build a node from manifest bytes, fetching children of an index (all of them). */
async function node(
  descriptor: Descriptor,
  bytes: Uint8Array,
  fetch: ManifestFetcher,
  depth: number,
  platform?: string,
): Promise<ManifestNode> {
  const parsed = parseManifest(bytes, descriptor.mediaType, { digest: descriptor.digest });
  const d = { ...descriptor, mediaType: parsed.mediaType };
  if (parsed.kind === 'image') {
    const { config, layers } = parsed.manifest;
    return { descriptor: d, bytes, kind: 'image', blobs: [config, ...layers], children: [], platform };
  }
  if (depth >= MAX_DEPTH) {
    throw new OciDeltaError(
      'ERR_INVALID_MANIFEST',
      `indexes nested more than ${MAX_DEPTH} deep at ${descriptor.digest}`,
      {
        digest: descriptor.digest,
      },
    );
  }
  const children: ManifestNode[] = [];
  for (const child of parsed.manifest.manifests) {
    const got = await fetch(child);
    checkDigest(child, got.bytes);
    const p = child.platform ? formatPlatform(platformFromSpec(child.platform)) : undefined;
    children.push(await node(child, got.bytes, fetch, depth + 1, p));
  }
  return { descriptor: d, bytes, kind: 'index', blobs: [], children };
}

/** Verify manifest bytes against a descriptor's digest and size. */
export function checkDigest(descriptor: Descriptor, bytes: Uint8Array): void {
  const algorithm = descriptor.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
  const actual = digestOf(bytes, algorithm);
  if (
    actual !== descriptor.digest ||
    (descriptor.size !== undefined && descriptor.size !== bytes.byteLength)
  ) {
    throw new OciDeltaError(
      'ERR_DIGEST_MISMATCH',
      `manifest ${descriptor.digest} does not match its bytes (got ${actual}, ${bytes.byteLength} bytes)`,
      { expected: descriptor.digest, actual, digest: descriptor.digest },
    );
  }
}

/**
 * The manifest tree to transfer. An image is taken as is. An index is taken whole with
 * `allPlatforms`; with `platform` (or, when neither is given, `defaultPlatform`) the result is
 * the single matching image.
 */
export async function planTransfer(
  top: { descriptor: Descriptor; bytes: Uint8Array },
  fetch: ManifestFetcher,
  choice: PlatformChoice & { defaultPlatform?: Platform },
): Promise<ManifestNode> {
  if (choice.platform !== undefined && choice.allPlatforms) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', 'choose either a platform or all platforms, not both', {});
  }
  const parsed = parseManifest(top.bytes, top.descriptor.mediaType, { digest: top.descriptor.digest });
  if (parsed.kind === 'image') return node(top.descriptor, top.bytes, fetch, 0);
  if (choice.allPlatforms || (choice.platform === undefined && choice.defaultPlatform === undefined)) {
    return node(top.descriptor, top.bytes, fetch, 0);
  }
  const want =
    typeof choice.platform === 'string'
      ? parsePlatform(choice.platform)
      : (choice.platform ?? (choice.defaultPlatform as Platform));
  const picked = selectManifest(parsed.manifest as IndexManifest, want);
  const got = await fetch(picked);
  checkDigest(picked, got.bytes);
  const p = picked.platform ? formatPlatform(platformFromSpec(picked.platform)) : undefined;
  return node(
    { mediaType: picked.mediaType, digest: picked.digest, size: picked.size },
    got.bytes,
    fetch,
    1,
    p,
  );
}

/** Every blob (config, layer) of the tree, each digest once, in first-seen order. */
export function uniqueBlobs(root: ManifestNode): Descriptor[] {
  const seen = new Map<string, Descriptor>();
  const walk = (n: ManifestNode) => {
    for (const b of n.blobs) if (!seen.has(b.digest)) seen.set(b.digest, b);
    for (const c of n.children) walk(c);
  };
  walk(root);
  return [...seen.values()];
}

/** Manifests in write order: every child before the index that lists it; each digest once. */
export function manifestsInOrder(root: ManifestNode): ManifestNode[] {
  const out: ManifestNode[] = [];
  const seen = new Set<string>();
  const walk = (n: ManifestNode) => {
    for (const c of n.children) walk(c);
    if (!seen.has(n.descriptor.digest)) {
      seen.add(n.descriptor.digest);
      out.push(n);
    }
  };
  walk(root);
  return out;
}

/** The images (leaves) of the tree. */
export function imagesOf(root: ManifestNode): ManifestNode[] {
  return manifestsInOrder(root).filter((n) => n.kind === 'image');
}

/** Total bytes of the unique blobs. */
export function totalBytes(root: ManifestNode): number {
  return uniqueBlobs(root).reduce((n, b) => n + b.size, 0);
}

/** The top descriptor of a plan, without annotations: what gets tagged. */
export function topDescriptor(root: ManifestNode): Descriptor {
  const { mediaType, digest, size } = root.descriptor;
  return { mediaType, digest: digest as Digest, size };
}
