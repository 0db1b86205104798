/**
 * The plan stage of the app pipeline: for each compose service, find the new image (registry or
 * service file) and the previous release's image, pull what is missing into the cache, and plan
 * the service (unchanged, delta or full).
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
  const preparer = new ServicePreparer(ctx);
  const planned: PlannedService[] = new Array(services.length);
  const finalRefs = new Map<string, string>();
  await forEachLimit([...services.entries()], 3, async ([index, svc]) => {
    throwIfAborted(ctx.opts.signal, 'preparing the services');
    const { service, ref } = await preparer.prepare(svc);
    finalRefs.set(svc.name, ref);
    planned[index] = service;
  });
  return planRelease(planned, finalRefs);
}

type NewImage = { ref: string; hash: Digest; image: Image; origin: 'registry' | 'file' };

/** A previous image pulled alongside the new one, and how to stop it. */
type Prefetch = { image: Promise<Image>; stop: AbortController };

/** The work of planning one service, sharing the run's cache, resolver and log. */
class ServicePreparer {
  constructor(private readonly ctx: PrepareContext) {}

  /** Plan `svc`: its new image, its previous image (when deltas are wanted), its plan. */
  async prepare(svc: ComposeService): Promise<{ service: PlannedService; ref: string }> {
    const { opts, previous, warn } = this.ctx;
    const prev = previous?.services.get(svc.name);
    // A recorded digest is only valid for the platform it was recorded for.
    const prevHash =
      prev?.hash && (previous?.platform === undefined || previous.platform === opts.platform)
        ? prev.hash
        : undefined;
    let prefetch: Prefetch | undefined;
    try {
      const fresh = await this.newImage(
        svc,
        prev?.ref === (opts.serviceImages[svc.name] ?? svc.image) ? prevHash : undefined,
        (newHash) => {
          prefetch = this.prefetch(svc, prev?.ref, prevHash, newHash);
        },
      );
      if (tagOf(fresh.ref) === undefined) {
        warn(
          `${fresh.ref} has no tag: \`docker load\` on the device cannot name the image, so compose may not find it offline; use name:tag (optionally @digest)`,
          svc.name,
        );
      }
      const before = await this.previousImage(svc, fresh, prevHash, prefetch);
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
      return { service, ref: fresh.ref };
    } finally {
      // A no-op once the prefetch was awaited; stops it when the new image failed.
      prefetch?.stop.abort();
    }
  }

  /**
   * Pull the previous image into the cache alongside the new one when its digest is known
   * already (the downloads overlap; blobs both images share are fetched once by the cache).
   * Only with a cache: an image loaded into it no longer depends on the pull's signal.
   */
  private prefetch(
    svc: ComposeService,
    prevRef: string | undefined,
    prevHash: Digest | undefined,
    newHash: Digest,
  ): Prefetch | undefined {
    const { opts, cache } = this.ctx;
    if (!prevRef || !prevHash || prevHash === newHash || !opts.delta || !cache || opts.dryRun)
      return undefined;
    const stop = new AbortController();
    const sig = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
    const image = this.loadImage(prevRef, prevHash, svc.name, sig);
    image.catch(() => {}); // awaited (and its error handled) later, unless the new image fails first
    return { image, stop };
  }

  /** The previous release's image of `svc`, or why it is unavailable (a warning, then full). */
  private async previousImage(
    svc: ComposeService,
    fresh: NewImage,
    prevHash: Digest | undefined,
    prefetch: Prefetch | undefined,
  ): Promise<PlanInput['previous']> {
    const { opts, previous, resolver, warn } = this.ctx;
    const prev = previous?.services.get(svc.name);
    if (!prev || !opts.delta) return undefined;
    const { delivery } = prev;
    try {
      const hash = prevHash ?? (await (await resolver()).resolve(prev.ref, opts.platform, opts.signal));
      const image =
        hash === fresh.hash
          ? fresh.image
          : await (prefetch && hash === prevHash ? prefetch.image : this.loadImage(prev.ref, hash, svc.name));
      return { ref: prev.ref, delivery, hash, image };
    } catch (err) {
      if (!isOciDeltaError(err) || err.code === 'ERR_ABORTED') throw err;
      const unavailable = `previous image ${prev.ref} unavailable (${err.message})`;
      warn(`${unavailable}: shipping the full image`, svc.name);
      return { ref: prev.ref, delivery, unavailable };
    }
  }

  /**
   * The new image of `svc`: from its service file, or resolved in its registry (`knownHash`: the
   * previous release's digest when the ref did not change) and loaded.
   */
  private async newImage(
    svc: ComposeService,
    knownHash: Digest | undefined,
    onResolved: (hash: Digest) => void,
  ): Promise<NewImage> {
    const { opts, cache, resolver, emit, info } = this.ctx;
    const file = opts.serviceFiles[svc.name];
    if (file) {
      const { ref, hash, image } = await readServiceFile(file, svc.name, svc.image, opts.platform);
      checkImageIdentity(image, this.identity(file, ref, hash));
      const next = cache && !opts.dryRun ? await cache.add(image, { ref, signal: opts.signal }) : image;
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
      hash = await (await resolver()).resolve(ref, opts.platform, opts.signal);
      info(`${ref} -> ${hash}`, svc.name);
    }
    emit({ type: 'progress', phase: 'resolve', item: `${svc.name} ${ref}`, done: 1, total: 1 });
    onResolved(hash);
    return { ref, hash, image: await this.loadImage(ref, hash, svc.name), origin: 'registry' };
  }

  /**
   * Load an image: from the cache when present, else from the registry (into the cache unless dry
   * run). Whichever path, it must be the image the release names for the target platform.
   */
  private async loadImage(
    ref: string,
    hash: Digest,
    service: string,
    sig = this.ctx.opts.signal,
  ): Promise<Image> {
    const { opts, cache, resolver, emit } = this.ctx;
    const cached = await cache?.image(hash);
    if (cached) return checkImageIdentity(cached, this.identity('cache', ref, hash));
    const remote = checkImageIdentity(
      await (await resolver()).image(ref, hash, opts.platform, sig),
      this.identity('registry', ref, hash),
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
  }

  private identity(from: string, ref: string, hash: Digest) {
    return { ref, digest: hash, platform: this.ctx.opts.platform, from };
  }
}
