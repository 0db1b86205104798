/**
 * Step 1 of the app pipeline: for each compose service, find the new image (registry or
 * `--service-file` archive) and the previous release's image, pull what is missing into the
 * cache, and plan the service (unchanged, delta or full).
 */
import { type Digest, forEachLimit, type Image, isOciDeltaError, throwIfAborted } from '@ocidelta/core';
import type { AppCache } from './cache.js';
import type { ComposeService } from './compose.js';
import type { Prepared } from './image-builder.js';
import { checkImageIdentity } from './image-identity.js';
import { type ImageResolver, readServiceFile, tagOf } from './image-sources.js';
import type { ResolvedOptions } from './options.js';
import { fullImageSize, layerPlansOf, planMode, type ServicePlan } from './plan.js';
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

/** Prepare every service (three at a time); results keep the order of `services`. */
export async function prepareServices(
  ctx: PrepareContext,
  services: readonly ComposeService[],
): Promise<{ prepared: Prepared[]; finalRefs: Map<string, string> }> {
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

  const prepared: Prepared[] = new Array(services.length);
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
      let ref: string;
      let hash: Digest;
      let next: Image;
      let origin: ServicePlan['origin'];
      const file = opts.serviceFiles[svc.name];
      if (file) {
        const fromFile = await readServiceFile(file, svc.name, svc.image, opts.platform);
        ref = fromFile.ref;
        hash = fromFile.hash;
        checkImageIdentity(fromFile.image, identity(file, ref, hash));
        next = cache && !opts.dryRun ? await cache.add(fromFile.image, { ref, signal }) : fromFile.image;
        origin = 'file';
        info(`${ref} from ${file} (${hash})`, svc.name);
      } else {
        ref = opts.serviceImages[svc.name] ?? svc.image;
        emit({ type: 'progress', phase: 'resolve', item: `${svc.name} ${ref}`, done: 0 });
        if (prevHash && prev?.ref === ref) {
          hash = prevHash;
          info(`${ref} unchanged since the previous release (${hash})`, svc.name);
        } else {
          hash = await (await resolver()).resolve(ref, opts.platform, signal);
          info(`${ref} -> ${hash}`, svc.name);
        }
        emit({ type: 'progress', phase: 'resolve', item: `${svc.name} ${ref}`, done: 1, total: 1 });
        startPrefetch(hash);
        next = await loadImage(ref, hash, svc.name);
        origin = 'registry';
      }
      finalRefs.set(svc.name, ref);
      if (tagOf(ref) === undefined) {
        warn(
          `${ref} has no tag: \`docker load\` on the device cannot name the image, so compose may not find it offline; use name:tag (optionally @digest)`,
          svc.name,
        );
      }

      let current: Image | undefined;
      let currentHash: Digest | undefined;
      let reason: string | undefined;
      if (prev && opts.delta) {
        try {
          currentHash = prevHash ?? (await (await resolver()).resolve(prev.ref, opts.platform, signal));
          current =
            currentHash === hash
              ? next
              : await (prefetch && currentHash === prevHash
                  ? prefetch.image
                  : loadImage(prev.ref, currentHash, svc.name));
        } catch (err) {
          if (!isOciDeltaError(err) || err.code === 'ERR_ABORTED') throw err;
          reason = `previous image ${prev.ref} unavailable (${err.message})`;
          warn(`${reason}: shipping the full image`, svc.name);
        }
      }
      const mode = planMode(next, current, { delta: opts.delta });
      const plan: ServicePlan = {
        service: svc.name,
        mode: mode.mode,
        ref,
        hash,
        origin,
        fullSize: fullImageSize(next),
        layers: next.layers.length,
        changedLayers: mode.changedLayers,
        changedSize: mode.changedSize,
        reason: reason ?? mode.reason,
        layerPlans: layerPlansOf(next, current),
      };
      // A previous image that could not be used, or that allows no deep delta, is a fallback.
      if (mode.mode === 'full' && prev && opts.delta && (reason !== undefined || current !== undefined)) {
        plan.fallback = plan.reason;
      }
      if (mode.mode !== 'full') {
        plan.currentRef = prev!.ref;
        plan.currentHash = currentHash;
      } else if (current && mode.reason) {
        warn(`${mode.reason}: shipping the full image`, svc.name);
      }
      prepared[index] = {
        plan,
        next,
        current: mode.mode === 'full' ? undefined : current,
        delivery: prev?.delivery ?? 'registry',
      };
    } finally {
      // A no-op once the prefetch was awaited; stops it when the new image failed.
      prefetch?.stop.abort();
    }
  });
  return { prepared, finalRefs };
}
