/**
 * A tree of images that build on each other, read from a directory (docker-pkg's layout): each
 * subdirectory holding an `image.yaml` (an `image build` spec; its images are the platforms of
 * one image) is an image named after the directory, tagged with the first line of its `VERSION`
 * file or the top entry of a Debian-style `changelog`. `parent: "@NAME"` names another image of
 * the tree.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BuildSpec,
  isOciDeltaError,
  MAX_METADATA_FILE_SIZE,
  OciDeltaError,
  readBuildSpec,
  readFileLimited,
} from '@ocidelta/core';

/** One image of the tree. */
export interface ChainImage {
  /** The directory name: the repository under the prefix. */
  name: string;
  dir: string;
  /** The parsed image.yaml. */
  spec: BuildSpec;
  /** From VERSION or changelog. */
  tag: string;
  /** Images of the tree this one builds on (`parent: "@NAME"`), sorted, unique. */
  parents: string[];
}

export const SPEC_FILE = 'image.yaml';
const NAME_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
/** `package (version) distribution; urgency=...`, the first line of a Debian changelog. */
const CHANGELOG_RE = /^\S+\s+\(([^)\s]+)\)/;

/** `@NAME` of a parent reference, or undefined for anything else. */
export function treeParentName(parent: unknown): string | undefined {
  return typeof parent === 'string' && parent.startsWith('@') ? parent.slice(1) : undefined;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return (await readFileLimited(path, MAX_METADATA_FILE_SIZE, path)).toString('utf8');
  } catch (err) {
    if (isOciDeltaError(err)) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OciDeltaError('ERR_INPUT', `cannot read ${path}`, { path }, { cause: err });
  }
}

/** The tag of an image directory: VERSION's first line, else the changelog's top version. */
export function versionOf(
  versionFile: string | undefined,
  changelog: string | undefined,
  where: string,
): string {
  let tag: string | undefined;
  let from = '';
  if (versionFile !== undefined) {
    tag = versionFile.split('\n')[0]?.trim();
    from = `${where}/VERSION`;
  } else if (changelog !== undefined) {
    const first = changelog.split('\n').find((l) => l.trim() !== '') ?? '';
    tag = CHANGELOG_RE.exec(first)?.[1];
    from = `${where}/changelog`;
    if (tag === undefined) {
      throw new OciDeltaError('ERR_INPUT', `${from}: the first entry is not "name (version) ..."`, {
        path: from,
      });
    }
  } else {
    throw new OciDeltaError('ERR_INPUT', `${where}: no VERSION file and no changelog to take the tag from`, {
      path: where,
    });
  }
  if (!tag || !TAG_RE.test(tag)) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `${from}: "${tag ?? ''}" is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`,
      { path: from },
    );
  }
  return tag;
}

/** Read every image of the tree under `root` (subdirectories with an image.yaml), by name. */
export async function readChainTree(root: string): Promise<ChainImage[]> {
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (err) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot read the image tree ${root}`,
      { path: root },
      { cause: err },
    );
  }
  const images: ChainImage[] = [];
  for (const name of names) {
    const dir = join(root, name);
    const specText = await readOptional(join(dir, SPEC_FILE));
    if (specText === undefined) continue;
    if (!NAME_RE.test(name)) {
      throw new OciDeltaError(
        'ERR_INPUT',
        `${dir}: "${name}" is not a valid repository name (lowercase letters, digits, separators . _ -)`,
        { path: dir },
      );
    }
    const spec = await readBuildSpec(join(dir, SPEC_FILE));
    const tag = versionOf(
      await readOptional(join(dir, 'VERSION')),
      await readOptional(join(dir, 'changelog')),
      dir,
    );
    const parents = [...new Set(spec.images.flatMap((i) => treeParentName(i.parent) ?? []))].sort();
    images.push({ name, dir, spec, tag, parents });
  }
  if (images.length === 0) {
    throw new OciDeltaError('ERR_INPUT', `${root}: no subdirectory holds an ${SPEC_FILE}`, { path: root });
  }
  return images;
}
