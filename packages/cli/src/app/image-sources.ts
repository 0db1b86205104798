/**
 * Where service images come from: a registry (through an `ImageResolver`, by default the
 * @ocidelta/registry client) or a `docker save` / OCI archive given with `--service-file`.
 */
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  type ArchiveEntry,
  type Digest,
  formatPlatform,
  type Image,
  OciDeltaError,
  parsePlatform,
  platformMatches,
  Reference,
  readImageArchive,
} from '@ocidelta/core';

/** Resolves image references for one platform. Inject one to use another transport. */
export interface ImageResolver {
  /** The manifest digest of the platform image `ref` names (a HEAD when possible). */
  resolve(ref: string, platform: string, signal?: AbortSignal): Promise<Digest>;
  /** The platform image of `ref` pinned to `digest` (manifest and config loaded, blobs on demand). */
  image(ref: string, digest: Digest, platform: string, signal?: AbortSignal): Promise<Image>;
  /** Release connections (called when the pipeline is done with this resolver). */
  close?(): Promise<void>;
}

export interface FileImage {
  image: Image;
  /** The image reference read from the archive's annotations. */
  ref: string;
  hash: Digest;
}

/**
 * The name `docker load` tags the image with: `name:tag` as written (a digest dropped), with
 * `:latest` added to a bare name (docker load refuses untagged names); undefined for a
 * digest-only or invalid ref.
 */
export function tagOf(ref: string): string | undefined {
  try {
    Reference.parse(ref);
  } catch {
    return undefined;
  }
  const at = ref.indexOf('@');
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const lastSlash = name.lastIndexOf('/');
  if (name.lastIndexOf(':') > lastSlash) return name;
  return at >= 0 ? undefined : `${name}:latest`;
}

/**
 * Read the image of a service from an archive file (docker-archive, oci-archive). Its ref comes
 * from the `io.containerd.image.name` or `org.opencontainers.image.ref.name` annotation (a bare
 * tag is joined to the compose file's repository); its hash from index.json.
 */
export async function readServiceFile(
  file: string,
  service: string,
  composeRef: string,
  platform: string,
): Promise<FileImage> {
  let archive: Awaited<ReturnType<typeof readImageArchive>>;
  try {
    archive = await readImageArchive(file);
  } catch (err) {
    if (err instanceof OciDeltaError) {
      throw new OciDeltaError(
        err.code,
        `cannot read the image of service "${service}" from ${file}: ${err.message}`,
        { ...err.details, path: file, service },
        { cause: err },
      );
    }
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot read the image of service "${service}" from ${file}: ${(err as Error).message}`,
      { path: file, service },
      { cause: err },
    );
  }
  const want = parsePlatform(platform);
  const imagePlatform = (e: ArchiveEntry) => ({
    os: e.image.config.os,
    architecture: e.image.config.architecture,
    variant: e.image.config.variant,
  });
  const matching = archive.entries.filter((e) => platformMatches(want, imagePlatform(e)));
  if (matching.length === 0) {
    const have = archive.entries.map((e) => formatPlatform(imagePlatform(e))).join(', ') || 'none';
    throw new OciDeltaError(
      'ERR_PLATFORM_NOT_FOUND',
      `${file} (service "${service}") has no image for ${platform} (it has: ${have})`,
      { path: file, service, platform },
    );
  }
  const named = matching.map((e) => {
    const a = e.annotations ?? {};
    const full = a[ANNOTATION_CONTAINERD_NAME] ?? e.refs?.find((r) => r.includes('/') || r.includes(':'));
    const tag = a[ANNOTATION_REF_NAME];
    let ref = full;
    if (!ref && tag) {
      ref = /[/:@]/.test(tag) ? tag : `${composeRepository(composeRef)}:${tag}`;
    }
    return { entry: e, ref };
  });
  const candidates = named.filter((n) => n.ref !== undefined);
  if (candidates.length === 0) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `${file} (service "${service}") has no image name: neither an io.containerd.image.name nor an org.opencontainers.image.ref.name annotation`,
      { path: file, service },
    );
  }
  const pick =
    candidates.length === 1
      ? candidates[0]!
      : (candidates.find((c) => c.ref === composeRef) ?? candidates[0]!);
  return { image: pick.entry.image, ref: pick.ref!, hash: pick.entry.image.digest };
}

function composeRepository(ref: string): string {
  const at = ref.indexOf('@');
  const noDigest = at >= 0 ? ref.slice(0, at) : ref;
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
}
