/**
 * The dependency graph of an image tree (pure): parents before children, loops refused with
 * the loop named, and selections by glob that bring their dependencies along.
 */
import { OciDeltaError } from '@ocidelta/core';
import type { ChainImage } from './tree.js';

/**
 * The images in build order: every image after the images it names as parents; otherwise by
 * name. An unknown `@NAME` or a loop is an ERR_INPUT naming it (`a -> b -> a`).
 */
export function orderChain(images: readonly ChainImage[]): ChainImage[] {
  const byName = new Map(images.map((i) => [i.name, i]));
  for (const image of images) {
    for (const p of image.parents) {
      if (!byName.has(p)) {
        throw new OciDeltaError(
          'ERR_INPUT',
          `${image.name}: parent "@${p}" is not an image of the tree (known: ${[...byName.keys()].join(', ')})`,
          { image: image.name, parent: p },
        );
      }
    }
  }
  const order: ChainImage[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (image: ChainImage, path: string[]) => {
    const s = state.get(image.name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const loop = [...path.slice(path.indexOf(image.name)), image.name];
      throw new OciDeltaError('ERR_INPUT', `dependency loop: ${loop.join(' -> ')}`, { loop });
    }
    state.set(image.name, 'visiting');
    for (const p of image.parents) visit(byName.get(p) as ChainImage, [...path, image.name]);
    state.set(image.name, 'done');
    order.push(image);
  };
  for (const image of [...images].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    visit(image, []);
  }
  return order;
}

/** A glob (`*` any run of characters, `?` one character) as a whole-name pattern. */
export function globPattern(glob: string): RegExp {
  const body = [...glob]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

/**
 * The images `globs` select, with every ancestor they build on, in `ordered`'s order. A glob
 * that selects nothing is an ERR_INPUT (a typo would otherwise build nothing and succeed).
 */
export function selectChain(ordered: readonly ChainImage[], globs: readonly string[]): ChainImage[] {
  if (globs.length === 0) return [...ordered];
  const byName = new Map(ordered.map((i) => [i.name, i]));
  const wanted = new Set<string>();
  const add = (name: string) => {
    if (wanted.has(name)) return;
    wanted.add(name);
    for (const p of byName.get(name)?.parents ?? []) add(p);
  };
  for (const glob of globs) {
    const re = globPattern(glob);
    const hits = ordered.filter((i) => re.test(i.name));
    if (hits.length === 0) {
      throw new OciDeltaError('ERR_INPUT', `--select ${glob} matches no image of the tree`, { select: glob });
    }
    for (const hit of hits) add(hit.name);
  }
  return ordered.filter((i) => wanted.has(i.name));
}
