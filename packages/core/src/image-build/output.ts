/**
 * Where built images go: an OCI layout directory (`oci:DIR`), an oci-archive
 * (`oci-archive:FILE`) or a docker-archive (`docker-archive:FILE`, tags as RepoTags). Every
 * image is listed in the index with its platform; tagged images once per tag, and images that
 * share a tag under one multi-platform index. Registry outputs (`docker://REF`) are pushed by
 * the caller (see @ocidelta/registry).
 */
import { OciDeltaError } from '../errors.js';
import { writeDockerArchive } from '../layout/docker-archive.js';
import { writeOciArchive } from '../layout/oci-archive.js';
import type { ImageWriteOptions, NamedImage, NamedIndex } from '../layout/write-image.js';
import { writeOciLayout } from '../layout/write-image.js';
import { MediaType } from '../media-types.js';
import type { LocalImageRef } from '../store/image-ref.js';
import type { BuiltImage, ImageFormat } from './build.js';
import { buildEntries } from './multi-platform.js';

/** The media-type family of built images (all of one build share it). */
export function formatOfImages(images: readonly BuiltImage[]): ImageFormat {
  return images[0]?.image.mediaType === MediaType.DockerManifest ? 'docker' : 'oci';
}

/** Index entries for built images: per tag an image or a multi-platform index, untagged images unnamed. */
export function namedImages(
  images: readonly BuiltImage[],
  annotations?: Record<string, string>,
): (NamedImage | NamedIndex)[] {
  return buildEntries(images, formatOfImages(images), annotations);
}

/**
 * Write built images to a local location. `options.annotations` (the spec's top-level ones) go
 * on index.json and on every multi-platform index. A docker-archive holds one image per tag.
 */
export async function writeBuildOutput(
  images: readonly BuiltImage[],
  target: LocalImageRef,
  options: ImageWriteOptions = {},
): Promise<void> {
  if (target.transport === 'path') {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `${target.path}: say what to write there: oci:DIR, oci-archive:FILE or docker-archive:FILE`,
      { path: target.path },
    );
  }
  const entries = namedImages(images, options.annotations);
  if (target.transport === 'oci') {
    await writeOciLayout(target.path, entries, options);
  } else if (target.transport === 'oci-archive') {
    await writeOciArchive(target.path, entries, options);
  } else {
    const shared = entries.find((e) => 'index' in e);
    if (shared) {
      throw new OciDeltaError(
        'ERR_INPUT',
        `docker-archive cannot hold several platforms under one tag ("${shared.ref}"): write oci:DIR or oci-archive:FILE, or push to docker://REPO`,
        { tag: shared.ref },
      );
    }
    await writeDockerArchive(
      target.path,
      images.map(({ image, tags }) => ({ image, repoTags: tags })),
      options,
    );
  }
}
