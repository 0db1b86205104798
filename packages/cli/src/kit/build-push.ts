/**
 * Pushing a build's result to a registry: every image under its tags (bare tags in REPO, names
 * under REPO, full references as they are), images sharing a tag by digest and then their
 * multi-platform index under it. Used by `image build --output docker://` and `chain --publish`.
 */
import { type BuildResult, type Image, parseReference, type Reference } from '@ocidelta/core';
import { type RegistryClient, writeImage } from '@ocidelta/registry';

const BARE_TAG = /^[\w][\w.-]{0,127}$/;

/**
 * Where an image gets pushed for one of its tags: a bare tag (`v1`) goes to REPO:v1; a name
 * with a tag (`app:1`, `team/app:1`) goes under REPO (`REPO/app:1`); a reference that starts
 * with a registry host (`host:5000/app:1`) is used as it is.
 */
export function pushTarget(repo: Reference, tag: string): Reference {
  if (BARE_TAG.test(tag)) return repo.withTag(tag);
  const first = tag.split('/')[0] ?? '';
  const hasHost = tag.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  return parseReference(hasHost ? tag : `${repo.registry}/${repo.repository}/${tag}`);
}

/**
 * Push one built image to `target` (see `writeImage`): blobs the repository lacks are mounted
 * from a registry parent's repository when on the same registry, else streamed from the build
 * store or the parent's source; then the manifest under the tag.
 */
async function pushImage(
  client: RegistryClient,
  image: Image,
  target: Reference,
  parents: readonly Reference[],
): Promise<void> {
  const mountFrom = parents.find((p) => p.registry === target.registry && p.repository !== target.repository);
  await writeImage(client, image, target, mountFrom ? { mountFrom } : {});
}

/** Where each output entry went: an image's refs, or a multi-platform index's ref and digest. */
export interface Pushed {
  images: Map<Image, string[]>;
  indexes: { ref: string; digest: string }[];
}

export async function pushBuilt(
  client: RegistryClient,
  built: BuildResult,
  repo: Reference,
  parents: readonly Reference[],
): Promise<Pushed> {
  const pushed: Pushed = { images: new Map(), indexes: [] };
  const record = (image: Image, ref: Reference) =>
    pushed.images.set(image, [...(pushed.images.get(image) ?? []), ref.toString()]);
  for (const entry of built.entries) {
    if (!('index' in entry)) {
      const target =
        entry.ref === undefined
          ? parseReference(`${repo.name}@${entry.image.digest}`)
          : pushTarget(repo, entry.ref);
      await pushImage(client, entry.image, target, parents);
      record(entry.image, target);
      continue;
    }
    // A shared tag: every platform's image by digest in the tag's repository, then the index.
    const target = pushTarget(repo, entry.ref ?? '');
    for (const image of entry.images) {
      const byDigest = parseReference(`${target.name}@${image.digest}`);
      await pushImage(client, image, byDigest, parents);
      record(image, byDigest);
    }
    await client.putManifest(target, entry.index.manifestBytes, entry.index.mediaType);
    pushed.indexes.push({ ref: target.toString(), digest: entry.index.digest });
  }
  return pushed;
}
