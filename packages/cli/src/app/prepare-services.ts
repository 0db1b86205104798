/**
 * Step 1 of the app pipeline: for each compose service, find the new image (registry or
 * `--service-file` archive) and the previous release's image, pull what is missing into the
 * cache, and plan the service (unchanged, delta or full).
 */
import { type Digest, forEachLimit, type Image, isOciDeltaError, throwIfAborted } from '@ocidelta/core';
import type { AppCache } from './cache.js';
import type { ComposeService } from './compose.js';
import { checkImageIdentity } from './image-identity.js';
import { type ImageResolver, readServiceFile, tagOf } from './image-sources.js';
import type { ResolvedOptions } from './options.js';
import { type PlanInput, type PlannedService, planRelease, planService, type ReleasePlan } from './plan.js';
import type { PreviousRelease } from './previous-release.js';
import type { AppEvent } from './progress.js';

export interface PrepareContext {
  opts: ResolvedOptions;
  previous?: PreviousRelease;
  cache?: AppCache;
  /** The resolver, created on first use. */
  resolver: () => Promise<ImageResolver>;
  emit: (event: AppEvent) => void;
  info: (message: string, service?: string) => void;
  warn: (message: string, service?: string) => void;
}

/** Plan every service (three at a time); the plan keeps the order of `services`. */
export async function prepareServices(
  ctx: PrepareContext,
  services: readonly ComposeService[],
): Promise<ReleasePlan> {
  const { opts, previous, cache, resolver, emit, info, warn } = ctx;
  const { signal } = opts;

  const identity = (from: string, ref: string, hash: Digest) => ({
    ref,
    digest: hash,
    platform: opts.platform,
    from,
  });
  /**
   * Load an image: from the cache when present, else from the registry (into the cache unless dry
   * run). Whichever path, it must be the image the release names for the target platform.
   */
  const loadImage = async (ref: string, hash: Digest, service: string, sig = signal): Promise<Image> => {
    const cached = await cache?.image(hash);
    if (cached) return checkImageIdentity(cached, identity('cache', ref, hash));
    const remote = checkImageIdentity(
      await (await resolver()).image(ref, hash, opts.platform, sig),
      identity('registry', ref, hash),
    );
    if (!cache || opts.dryRun) return remote;
    return cache.add(remote, {
      ref,
      signal: sig,
      onProgress: (p) =>
        emit({
          type: 'progress',
          phase: 'pull',
          item: `${service} ${p.digest.slice(7, 19)}`,
          done: p.done,
          total: p.total,
        }),
    });
  };

  const planned: PlannedService[] = new Array(services.length);
  const finalRefs = new Map<string, string>();
  await forEachLimit([...services.entries()], 3, async ([index, svc]) => {
    throwIfAborted(signal, 'preparing the services');
    const prev = previous?.services.get(svc.name);
    // A recorded digest is only valid for the platform it was recorded for.
    const prevHash =
      prev?.hash && (previous?.platform === undefined || previous.platform === opts.platform)
        ? prev.hash
        : undefined;
    /**
     * Pull the previous image into the cache alongside the new one when its digest is known
     * already (the downloads overlap; blobs both images share are fetched once by the cache).
     * Only with a cache: an image loaded into it no longer depends on the pull's signal.
     */
    let prefetch: { image: Promise<Image>; stop: AbortController } | undefined;
    const startPrefetch = (newHash: Digest) => {
      if (!prev || !prevHash || prevHash === newHash || !opts.delta || !cache || opts.dryRun) return;
      const stop = new AbortController();
      const sig = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
      const image = loadImage(prev.ref, prevHash, svc.name, sig);
      image.catch(() => {}); // awaited (and its error handled) below, unless the new image fails first
      prefetch = { image, stop };
    };
    try {
      const fresh = await newImage(
        svc,
        prev?.ref === (opts.serviceImages[svc.name] ?? svc.image) ? prevHash : undefined,
        startPrefetch,
      );
      finalRefs.set(svc.name, fresh.ref);
      if (tagOf(fresh.ref) === undefined) {
        warn(
          `${fresh.ref} has no tag: \`docker load\` on the device cannot name the image, so compose may not find it offline; use name:tag (optionally @digest)`,
          svc.name,
        );
      }
      const previousImage = async (): Promise<PlanInput['previous']> => {
        if (!prev || !opts.delta) return undefined;
        const { delivery } = prev;
        try {
          const hash = prevHash ?? (await (await resolver()).resolve(prev.ref, opts.platform, signal));
          const image =
            hash === fresh.hash
              ? fresh.image
              : await (prefetch && hash === prevHash ? prefetch.image : loadImage(prev.ref, hash, svc.name));
          return { ref: prev.ref, delivery, hash, image };
        } catch (err) {
          if (!isOciDeltaError(err) || err.code === 'ERR_ABORTED') throw err;
          const unavailable = `previous image ${prev.ref} unavailable (${err.message})`;
          warn(`${unavailable}: shipping the full image`, svc.name);
          return { ref: prev.ref, delivery, unavailable };
        }
      };
      const before = await previousImage();
      const service = planService({
        ...fresh,
        next: fresh.image,
        service: svc.name,
        delta: opts.delta,
        previous: before,
      });
      if (service.plan.mode === 'full' && before && 'image' in before) {
        warn(`${service.plan.reason}: shipping the full image`, svc.name);
      }
      planned[index] = service;
    } finally {
      // A no-op once the prefetch was awaited; stops it when the new image failed.
      prefetch?.stop.abort();
    }
  });
  return planRelease(planned, finalRefs);

  /**
   * The new image of `svc`: from its service file, or resolved in its registry (`knownHash`: the
   * previous release's digest when the ref did not change) and loaded.
   */
  async function newImage(
    svc: ComposeService,
    knownHash: Digest | undefined,
    onResolved: (hash: Digest) => void,
  ): Promise<{ ref: string; hash: Digest; image: Image; origin: 'registry' | 'file' }> {
    const file = opts.serviceFiles[svc.name];
    if (file) {
      const { ref, hash, image } = await readServiceFile(file, svc.name, svc.image, opts.platform);
      checkImageIdentity(image, identity(file, ref, hash));
      const next = cache && !opts.dryRun ? await cache.add(image, { ref, signal }) : image;
      info(`${ref} from ${file} (${hash})`, svc.name);
      return { ref, hash, image: next, origin: 'file' };
    }
    const ref = opts.serviceImages[svc.name] ?? svc.image;
    emit({ type: 'progress', phase: 'resolve', item: `${svc.name} ${ref}`, done: 0 });
    let hash: Digest;
    if (knownHash) {
      hash = knownHash;
      info(`${ref} unchanged since the previous release (${hash})`, svc.name);
    } else {
      hash = await (await resolver()).resolve(ref, opts.platform, signal);
      info(`${ref} -> ${hash}`, svc.name);
    }
    emit({ type: 'progress', phase: 'resolve', item: `${svc.name} ${ref}`, done: 1, total: 1 });
    onResolved(hash);
    return { ref, hash, image: await loadImage(ref, hash, svc.name), origin: 'registry' };
  }
}
