/**
 * Where built images go: an OCI layout directory (`oci:DIR`), an oci-archive
 * (`oci-archive:FILE`) or a docker-archive (`docker-archive:FILE`, tags as RepoTags). Every
 * image is listed in the index; tagged images once per tag. Registry outputs (`docker://REF`)
 * are pushed by the caller (see @ocidelta/registry).
 */
import { writeDockerArchive } from '../layout/docker-archive.js';
import { writeOciArchive } from '../layout/oci-archive.js';
import type { ImageWriteOptions, NamedImage } from '../layout/write-image.js';
import { writeOciLayout } from '../layout/write-image.js';
import type { BuiltImage } from './build.js';
import type { ImageLocation } from './image-refs.js';

/** Index entries for built images: one per tag, one unnamed entry for an untagged image. */
export function namedImages(images: readonly BuiltImage[]): NamedImage[] {
  return images.flatMap(({ image, tags }) =>
    tags.length > 0 ? tags.map((ref) => ({ image, ref })) : [{ image }],
  );
}

/** Write built images to a local location. */
export async function writeBuildOutput(
  images: readonly BuiltImage[],
  target: Exclude<ImageLocation, { transport: 'docker' }>,
  options: ImageWriteOptions = {},
): Promise<void> {
  if (target.transport === 'oci') {
    await writeOciLayout(target.path, namedImages(images), options);
  } else if (target.transport === 'oci-archive') {
    await writeOciArchive(target.path, namedImages(images), options);
  } else {
    await writeDockerArchive(
      target.path,
      images.map(({ image, tags }) => ({ image, repoTags: tags })),
      options,
    );
  }
}
