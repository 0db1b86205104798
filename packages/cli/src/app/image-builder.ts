/**
 * One `images/<id>/` entry of an app artifact: the image.img of a new image, as a deep delta
 * against the previous release's image (from the delta cache when present) or as a full
 * `docker save` archive with uncompressed layers; a deep delta that is impossible or larger than
 * the full image falls back to full with a warning. Plans are read, never changed: what happened
 * is the returned outcome.
 */
import { rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  type Digest,
  isOciDeltaError,
  OciDeltaError,
  throwIfAborted,
  writeDockerArchive,
} from '@ocidelta/core';
import { buildDeepDelta, type Effort, verifyDeepDelta } from '@ocidelta/delta';
import type { ImagePayload } from './app-payload.js';
import type { AppCache } from './cache.js';
import type { DeltaInfo, DeltaKey } from './delta-key.js';
import { tagOf } from './image-sources.js';
import type { DeviceStore } from './options.js';
import type { DeltaPlan, PlannedService } from './plan.js';
import type { AppEvent } from './progress.js';
import type { PayloadOutcome } from './results.js';
import type { ArtifactStore } from './store.js';

/** A service planned to ship a deep delta. */
type DeltaService = Extract<PlannedService, { plan: DeltaPlan }>;

export interface ImageBuildContext {
  /** Directory for image.img files (beside the output, removed by the caller). */
  work: string;
  cache?: AppCache;
  deviceStore: DeviceStore;
  /** Target platform (part of the delta cache key). */
  platform: string;
  /** The device xdelta3's `-B`. */
  deviceWindow: number;
  /** Encode workers per layer (default: available parallelism). */
  jobs?: number;
  effort?: Effort;
  /** The shared store (build farms): looked up after the cache, pushed to after a build. */
  store?: ArtifactStore;
  emit: (event: AppEvent) => void;
  warn: (message: string, service?: string) => void;
}

/**
 * Build the image.img of the services in `group` (they share one new image `hash` and one plan
 * mode): its payload entry, and the outcome (how it shipped, its figures).
 */
export async function buildImagePayload(
  ctx: ImageBuildContext,
  hash: Digest,
  group: readonly PlannedService[],
  sig: AbortSignal,
): Promise<{ payload: ImagePayload; outcome: PayloadOutcome }> {
  throwIfAborted(sig, 'building an image payload');
  const p = group[0]!;
  const tags = [...new Set(group.map((g) => tagOf(g.plan.ref)).filter((t): t is string => t !== undefined))];
  const imageFile = join(ctx.work, `${hash.slice('sha256:'.length)}.img`);
  const attempt = isDelta(p) ? await buildDelta(ctx, p, imageFile, tags, sig) : undefined;
  if (attempt && 'file' in attempt && isDelta(p)) {
    const { file, ...figures } = attempt;
    const { ref, currentRef, currentHash } = p.plan;
    return {
      payload: {
        urlNew: ref,
        urlCurrent: currentRef,
        sumNew: hash,
        sumCurrent: currentHash,
        imageFile: file,
        deepDelta: true,
      },
      outcome: { hash, shipped: 'delta', ...figures },
    };
  }
  const label = `${p.plan.service} full image`;
  ctx.emit({ type: 'progress', phase: 'image', item: label, done: 0 });
  await writeDockerArchive(imageFile, [{ image: p.next, repoTags: tags }], {
    layers: 'uncompressed',
    signal: sig,
  });
  ctx.emit({ type: 'progress', phase: 'image', item: label, done: 1, total: 1 });
  const { ref } = p.plan;
  return {
    payload: { urlNew: ref, urlCurrent: ref, sumNew: hash, sumCurrent: hash, imageFile, deepDelta: false },
    outcome: { hash, shipped: 'full', imageSize: (await stat(imageFile)).size, ...attempt },
  };
}

function isDelta(s: PlannedService): s is DeltaService {
  return s.plan.mode !== 'full';
}

/** A deep delta's image.img and its figures. */
type BuiltDelta = { file: string } & Omit<PayloadOutcome, 'hash' | 'shipped' | 'reason' | 'fallback'>;

/** Why a planned deep delta ships full instead. */
type NoDelta = { reason: string; fallback?: string };

/** Push a delta to the shared store; a failed push costs the next runner time, not correctness. */
async function shareDelta(
  ctx: ImageBuildContext,
  p: DeltaService,
  info: DeltaInfo,
  file: string,
  sig: AbortSignal,
) {
  await ctx.store?.pushDelta(info, file, sig).catch((err: unknown) => {
    if (!isOciDeltaError(err) || err.code === 'ERR_ABORTED') throw err;
    ctx.warn(`could not push the delta to the store: ${err.message}`, p.plan.service);
  });
}

/**
 * The delta for `key` from the shared store, checked before use: the store checks digests and
 * the key, and here the new image is rebuilt from it as the device would. A poisoned or stale
 * entry is a warning (and is then computed again), never shipped.
 */
async function fromStore(
  ctx: ImageBuildContext,
  p: DeltaService,
  key: DeltaKey,
  imageFile: string,
  sig: AbortSignal,
): Promise<{ info: DeltaInfo; file: string } | undefined> {
  const store = ctx.store!;
  const label = `${p.plan.service} delta from the store`;
  try {
    const info = await store.fetchDelta(key, imageFile, { signal: sig, maxSize: p.plan.fullSize });
    if (!info) return undefined;
    ctx.emit({ type: 'progress', phase: 'delta', item: label, done: 0, total: 1, unit: 'items' });
    await verifyDeepDelta(p.current, p.next, imageFile, {
      deviceStore: ctx.deviceStore,
      currentOrigin: key.delivery,
      sourceWindow: ctx.deviceWindow,
      signal: sig,
    });
    ctx.emit({ type: 'progress', phase: 'delta', item: label, done: 1, total: 1, unit: 'items' });
    return { info, file: imageFile };
  } catch (err) {
    await rm(imageFile, { force: true });
    if (!isOciDeltaError(err) || err.code === 'ERR_ABORTED') throw err;
    ctx.warn(`the store's delta is unusable (${err.message}): computing it`, p.plan.service);
    return undefined;
  }
}

async function buildDelta(
  ctx: ImageBuildContext,
  p: DeltaService,
  imageFile: string,
  tags: string[],
  sig: AbortSignal,
): Promise<BuiltDelta | NoDelta> {
  const key: DeltaKey = {
    from: p.plan.currentHash,
    to: p.plan.hash,
    deviceStore: ctx.deviceStore,
    delivery: ctx.deviceStore === 'classic' ? ('registry' as const) : p.delivery,
    repoTags: tags,
    platform: ctx.platform,
    sourceWindow: ctx.deviceWindow,
  };
  return (await reusedDelta(ctx, p, key, imageFile, sig)) ?? computeDelta(ctx, p, key, imageFile, tags, sig);
}

/** A delta of this pair from the local cache or the shared store, when one fits. */
async function reusedDelta(
  ctx: ImageBuildContext,
  p: DeltaService,
  key: DeltaKey,
  imageFile: string,
  sig: AbortSignal,
): Promise<BuiltDelta | undefined> {
  const hit = await ctx.cache?.delta(key);
  if (hit) {
    const size = (await stat(hit)).size;
    const info = await ctx.cache?.deltaInfo(key);
    if (size <= p.plan.fullSize) {
      if (ctx.store && info && !(await ctx.store.hasDelta(key, sig).catch(() => true))) {
        // A delta this runner had before the store was shared: share it now.
        await shareDelta(ctx, p, info, hit, sig);
      }
      return {
        file: hit,
        imageSize: size,
        cached: true,
        deltaFrom: 'cache',
        ...(info?.device ? { device: info.device } : {}),
      };
    }
  }
  if (ctx.store) {
    const got = await fromStore(ctx, p, key, imageFile, sig);
    if (got && got.info.size <= p.plan.fullSize) {
      const file = ctx.cache ? await ctx.cache.putDelta(got.info, got.file) : got.file;
      return {
        file,
        imageSize: got.info.size,
        deltaFrom: 'store',
        ...(got.info.device ? { device: got.info.device } : {}),
      };
    }
  }
  return undefined;
}

/** Build the deep delta of this pair now (self-checked), share and cache it. */
async function computeDelta(
  ctx: ImageBuildContext,
  p: DeltaService,
  key: DeltaKey,
  imageFile: string,
  tags: string[],
  sig: AbortSignal,
): Promise<BuiltDelta | NoDelta> {
  const label = `${p.plan.service} ${p.plan.mode === 'unchanged' ? 'unchanged' : 'deep delta'}`;
  try {
    const res = await buildDeepDelta(p.current, p.next, imageFile, {
      deviceStore: ctx.deviceStore,
      currentOrigin: p.delivery,
      repoTags: tags,
      sourceWindow: ctx.deviceWindow,
      ...(ctx.jobs !== undefined ? { jobs: ctx.jobs } : {}),
      ...(ctx.effort !== undefined ? { effort: ctx.effort } : {}),
      tmpDir: dirname(imageFile),
      signal: sig,
      onProgress: (e) =>
        ctx.emit({
          type: 'progress',
          phase: 'delta',
          item: `${label}${e.item ? `: ${e.item}` : ''}`,
          done: e.done,
          ...(e.total !== undefined ? { total: e.total } : {}),
          ...(e.unit ? { unit: e.unit } : {}),
        }),
    });
    ctx.emit({
      type: 'progress',
      phase: 'delta',
      item: label,
      done: res.layers.length,
      total: res.layers.length,
      unit: 'items',
    });
    if (res.size > p.plan.fullSize) {
      ctx.warn(
        `the deep delta (${res.size} bytes) is larger than the full image (${p.plan.fullSize} bytes): shipping the full image`,
        p.plan.service,
      );
      await rm(imageFile, { force: true });
      return { reason: 'deep delta larger than the full image' };
    }
    const info: DeltaInfo = {
      ...key,
      fromRef: p.plan.currentRef,
      toRef: p.plan.ref,
      size: res.size,
      createdAt: new Date().toISOString(),
      device: res.device,
    };
    if (ctx.store) {
      // Shared for the next runner; a failed push costs it time, not correctness.
      await shareDelta(ctx, p, info, imageFile, sig);
    }
    const file = ctx.cache ? await ctx.cache.putDelta(info, imageFile) : imageFile;
    return { file, imageSize: res.size, deltaFrom: 'computed', device: res.device, layers: res.layers };
  } catch (err) {
    if (isOciDeltaError(err, 'ERR_NO_DEEP_DELTA') || isOciDeltaError(err, 'ERR_SOURCE_TOO_LARGE')) {
      ctx.warn(`no deep delta possible (${err.message}): shipping the full image`, p.plan.service);
      return { reason: err.message, fallback: `no deep delta possible: ${err.message}` };
    }
    if (isOciDeltaError(err, 'ERR_DEVICE_DECODE')) {
      // Name the image: the delta layer's message says which layer, where and why.
      throw new OciDeltaError(
        'ERR_DEVICE_DECODE',
        `${p.plan.service} (${p.plan.ref}): ${err.message}`,
        { ...err.details, service: p.plan.service, ref: p.plan.ref },
        { cause: err },
      );
    }
    throw err;
  }
}
