/**
 * Plan and run a chain of images (docker-pkg's states): `published` when PREFIX/NAME:TAG
 * exists (a HEAD), else `to_build`; an image whose parent is to be built is built too. A run
 * builds ready images in order (at most `jobs` at once), checks each (`verified`) and, with
 * `publish`, pushes it (`published`). A failure is `error` and stops its descendants, which
 * stay `to_build` with `blockedBy`; the rest go on.
 */
import {
  type BuildImageSpec,
  type BuildResult,
  type BuildSpec,
  buildImages,
  type Image,
  type OciLayout,
  type Platform,
  parseReference,
  platformMatches,
  type Reference,
} from '@ocidelta/core';
import type { RegistryClient } from '@ocidelta/registry';
import { pushBuilt } from '../kit/build-push.js';
import { type ChainImage, treeParentName } from './tree.js';
import { verifyBuiltImage } from './verify.js';

export type ChainState = 'published' | 'to_build' | 'built' | 'verified' | 'error';

/** One image of a chain and where it stands. */
export interface ChainEntry {
  name: string;
  /** PREFIX/NAME:TAG */
  ref: string;
  state: ChainState;
  /** Images of the tree it builds on. */
  parents: string[];
  /** Why it is to be built: `new` (not published) or `parent` (a parent is rebuilt). */
  reason?: 'new' | 'parent';
  /** The failure (state error). */
  error?: string;
  /** The failed image that kept this one from being built. */
  blockedBy?: string;
  /** Digests of the built images (one per platform) and of their index, when several. */
  digests?: string[];
  index?: string;
}

/** `PREFIX/NAME:TAG` for an image of the tree. */
export function chainRef(prefix: string, image: Pick<ChainImage, 'name' | 'tag'>): Reference {
  return parseReference(`${prefix.replace(/\/+$/, '')}/${image.name}:${image.tag}`);
}

/** States before a run: HEAD every ref; an image below one to be built is to be built. */
export async function planChain(
  client: RegistryClient,
  ordered: readonly ChainImage[],
  prefix: string,
  signal?: AbortSignal,
): Promise<ChainEntry[]> {
  const present = await Promise.all(
    ordered.map(
      async (image) =>
        (await client.headManifest(chainRef(prefix, image), signal ? { signal } : {})) !== undefined,
    ),
  );
  const entries = new Map<string, ChainEntry>();
  for (const [i, image] of ordered.entries()) {
    const rebuiltParent = image.parents.some((p) => entries.get(p)?.state === 'to_build');
    const entry: ChainEntry = {
      name: image.name,
      ref: chainRef(prefix, image).toString(),
      state: present[i] && !rebuiltParent ? 'published' : 'to_build',
      parents: image.parents,
    };
    if (entry.state === 'to_build') entry.reason = present[i] ? 'parent' : 'new';
    entries.set(image.name, entry);
  }
  return [...entries.values()];
}

export interface ChainRunOptions {
  prefix: string;
  /** Push verified images (else build and verify only). */
  publish?: boolean;
  /** Images built at once (default 2). */
  jobs?: number;
  /** Where built blobs go (a scratch OCI layout the caller removes). */
  store: OciLayout;
  mtime?: number;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onState?: (entry: ChainEntry) => void;
}

/** The spec of a chain image: every image is a platform of NAME:TAG. */
function taggedSpec(image: ChainImage): BuildSpec {
  return {
    ...image.spec,
    images: image.spec.images.map((i) => ({
      ...i,
      tags: [image.tag, ...i.tags.filter((t) => t !== image.tag)],
    })),
  };
}

/** The one image of a built parent for `platform` (the only one when no platform is asked). */
function pickPlatform(
  built: BuildResult,
  platform: Platform | undefined,
  child: string,
  parent: string,
): Image {
  const images = built.images.map((b) => b.image);
  const fit = platform
    ? images.filter((i) =>
        platformMatches(platform, {
          os: i.config.os,
          architecture: i.config.architecture,
          ...(i.config.variant !== undefined ? { variant: i.config.variant } : {}),
        }),
      )
    : images;
  const [only] = fit;
  if (fit.length === 1 && only) return only;
  throw new Error(
    fit.length === 0
      ? `${child}: parent @${parent} has no image for ${platform?.os}/${platform?.architecture}${platform?.variant ? `/${platform.variant}` : ''}`
      : `${child}: parent @${parent} has several platforms; give the image an architecture`,
  );
}

/**
 * How a chain image's parents resolve: a registry reference as it is; `@name` from this run's
 * build of that image, else from its published reference. Each parent's reference is recorded
 * (pushes mount blobs from it).
 */
function parentResolver(
  client: RegistryClient,
  image: ChainImage,
  ctx: {
    images: ReadonlyMap<string, ChainImage>;
    results: ReadonlyMap<string, BuildResult>;
    prefix: ChainRunOptions['prefix'];
    parentRefs: Reference[];
  },
): NonNullable<Parameters<typeof buildImages>[1]['resolveParent']> {
  return async (ref, platform, signal) => {
    const opts = { ...(platform ? { platform } : {}), ...(signal ? { signal } : {}) };
    const name = treeParentName(ref);
    if (name === undefined) {
      const parsed = parseReference(ref);
      ctx.parentRefs.push(parsed);
      return client.resolveImage(parsed, opts);
    }
    const parent = ctx.images.get(name) as ChainImage;
    ctx.parentRefs.push(chainRef(ctx.prefix, parent));
    const local = ctx.results.get(name);
    if (local) return pickPlatform(local, platform, image.name, name);
    return client.resolveImage(chainRef(ctx.prefix, parent), opts);
  };
}

/** Run the planned chain: build, verify and (with `publish`) push what is `to_build`. */
export async function runChain(
  client: RegistryClient,
  ordered: readonly ChainImage[],
  plan: readonly ChainEntry[],
  options: ChainRunOptions,
): Promise<ChainEntry[]> {
  const entries = new Map(plan.map((e) => [e.name, { ...e }]));
  const images = new Map(ordered.map((i) => [i.name, i]));
  const results = new Map<string, BuildResult>();
  const jobs = Math.max(1, options.jobs ?? 2);
  const set = (entry: ChainEntry, state: ChainState, extra: Partial<ChainEntry> = {}) => {
    Object.assign(entry, { state, ...extra });
    options.onState?.({ ...entry });
  };

  const buildOne = async (image: ChainImage, entry: ChainEntry) => {
    const parentRefs: Reference[] = [];
    const built = await buildImages(taggedSpec(image), {
      store: options.store,
      baseDir: image.dir,
      ...(options.mtime !== undefined ? { mtime: options.mtime } : {}),
      ...(options.env ? { env: options.env } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      resolveParent: parentResolver(client, image, { images, results, prefix: options.prefix, parentRefs }),
    });
    results.set(image.name, built);
    set(entry, 'built', { digests: built.images.map((b) => b.image.digest) });
    for (const [i, { image: img }] of built.images.entries()) {
      await verifyBuiltImage(
        img,
        image.spec.images[i] as BuildImageSpec,
        `${image.name} images[${i}]`,
        options.signal,
      );
    }
    set(entry, 'verified');
    if (!options.publish) return;
    const target = chainRef(options.prefix, image);
    const repo = parseReference(`${target.registry}/${target.repository}`);
    const pushed = await pushBuilt(client, built, repo, parentRefs);
    set(entry, 'published', pushed.indexes[0] ? { index: pushed.indexes[0].digest } : {});
  };

  const failed = (name: string): string | undefined => {
    const e = entries.get(name);
    if (!e) return undefined;
    if (e.state === 'error') return name;
    return e.blockedBy;
  };
  const done = (name: string) => {
    const s = entries.get(name)?.state;
    return s === 'published' || (s === 'verified' && !options.publish);
  };

  const pending = new Set(plan.filter((e) => e.state === 'to_build').map((e) => e.name));
  const running = new Map<string, Promise<void>>();
  while (pending.size > 0 || running.size > 0) {
    for (const name of [...pending]) {
      const image = images.get(name) as ChainImage;
      const entry = entries.get(name) as ChainEntry;
      const blocker = image.parents.map(failed).find((f) => f !== undefined);
      if (blocker !== undefined) {
        pending.delete(name);
        set(entry, 'to_build', { blockedBy: blocker });
        continue;
      }
      if (running.size >= jobs || !image.parents.every(done)) continue;
      pending.delete(name);
      running.set(
        name,
        buildOne(image, entry)
          .catch((err: unknown) =>
            set(entry, 'error', { error: err instanceof Error ? err.message : String(err) }),
          )
          .finally(() => running.delete(name)),
      );
    }
    if (running.size === 0) {
      // Nothing runs and nothing is ready: what is left waits on a parent that will never be done.
      for (const name of pending)
        set(entries.get(name) as ChainEntry, 'to_build', { blockedBy: 'unbuildable parent' });
      break;
    }
    await Promise.race(running.values());
  }
  for (const built of results.values()) await built.close();
  return plan.map((e) => entries.get(e.name) as ChainEntry);
}
