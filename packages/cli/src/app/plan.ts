/**
 * The per-service plan of an app release (pure): which services ship a full image, a deep
 * delta, or an unchanged (tiny, self-referencing) deep delta, with their sizes, and the summary
 * table printed at the end of a run or by `--dry-run`.
 */
import type { Digest, Image } from '@ocidelta/core';
import type { Delivery } from './release-metadata.js';

export type ServiceMode = 'unchanged' | 'delta' | 'full';

interface PlanCommon {
  readonly service: string;
  /** The new image reference (url-new). */
  readonly ref: string;
  /** Manifest digest of the new platform image. */
  readonly hash: Digest;
  /** Where the new image came from. */
  readonly origin: 'registry' | 'file';
  /** Size of the full image: the stored (compressed) config and layers. */
  readonly fullSize: number;
  /** Layers of the new image. */
  readonly layers: number;
  /** Each layer of the new image: what a full pull costs. */
  readonly layerPlans: readonly LayerPlan[];
}

/** A service planned to ship its full image. */
export interface FullPlan extends PlanCommon {
  readonly mode: 'full';
  /** Why it ships full. */
  readonly reason: string;
  /**
   * Set when a service of the previous release ships full although a delta was wanted, for a
   * reason other than the delta being larger (previous image unavailable, no deep delta
   * possible): a warning in the summary and `--json`, an error with `requireDelta`.
   */
  readonly fallback?: string;
}

/** A service planned to ship a deep delta against the previous release's image. */
export interface DeltaPlan extends PlanCommon {
  /** `unchanged`: the same manifest digest (a tiny, self-referencing deep delta). */
  readonly mode: 'delta' | 'unchanged';
  /** The previous release's image of this service (url-current). */
  readonly currentRef: string;
  readonly currentHash: Digest;
  /** How many layers differ from the current image (by diff_id, index-paired). */
  readonly changedLayers: number;
  /** Compressed size of the new layers that differ (an upper bound of what a delta carries). */
  readonly changedSize: number;
}

/** The per-service plan, before anything is built: a union by mode. */
export type ServicePlan = FullPlan | DeltaPlan;

/** A planned service with the images its payload is built from. */
export type PlannedService =
  | { readonly plan: FullPlan; readonly next: Image }
  | {
      readonly plan: DeltaPlan;
      readonly next: Image;
      readonly current: Image;
      /** How the device got the current image. */
      readonly delivery: Delivery;
    };

/** The plan of a release: every service, and the services by the new image they share. */
export interface ReleasePlan {
  readonly services: readonly PlannedService[];
  /** One entry per `images/<id>/` directory: the services shipping that image (same plan mode). */
  readonly images: ReadonlyMap<Digest, readonly PlannedService[]>;
  /** The image reference each service ships under (its compose `image:` is rewritten to it). */
  readonly finalRefs: ReadonlyMap<string, string>;
}

/** One layer of a service's new image in the release (the report's per-layer rows). */
export interface LayerPlan {
  index: number;
  diffId: string;
  /** Stored (compressed) size: what pulling the layer costs. */
  size: number;
  /** Same diff_id as the current image's layer at this index (false without a current image). */
  unchanged: boolean;
  /** Deep deltas built in this run: the VCDIFF's size (what the artifact carries for it). */
  deltaSize?: number;
  /** The layer's tar size: what the device rebuilds (deep delta) or loads (full). */
  uncompressedSize?: number;
  /** Deep delta: the current layer the device decodes against (its path in the device's `docker save`). */
  source?: string;
  /** Deep delta: source bytes the device's xdelta3 reads for it. */
  sourceBytesRead?: number;
}

/** The layers of `next`, each marked unchanged when `current` has the same diff_id at its index. */
export function layerPlansOf(next: Image, current: Image | undefined): LayerPlan[] {
  return next.layers.map((l, index) => ({
    index,
    diffId: l.diffId,
    size: l.size,
    unchanged: current?.layers[index]?.diffId === l.diffId,
  }));
}

/** Sum of the stored config and layer sizes: what a full pull costs. */
export function fullImageSize(image: Image): number {
  return image.manifest.config.size + image.manifest.layers.reduce((n, l) => n + l.size, 0);
}

/**
 * Initial mode: full without a previous image, unchanged for the same manifest digest, delta
 * otherwise; a current image with more layers than the new one has no deep delta.
 */
export function planMode(
  next: Image,
  current: Image | undefined,
  options: { delta: boolean },
): { mode: ServiceMode; reason?: string; changedLayers?: number; changedSize?: number } {
  if (!options.delta) return { mode: 'full', reason: 'deltas disabled' };
  if (!current) return { mode: 'full', reason: 'no previous image' };
  if (current.layers.length > next.layers.length) {
    return {
      mode: 'full',
      reason: `the current image has more layers (${current.layers.length}) than the new one (${next.layers.length}): no deep delta possible`,
    };
  }
  let changedLayers = 0;
  let changedSize = 0;
  next.layers.forEach((l, i) => {
    if (current.layers[i]?.diffId !== l.diffId) {
      changedLayers++;
      changedSize += l.size;
    }
  });
  if (current.digest === next.digest) return { mode: 'unchanged', changedLayers: 0, changedSize: 0 };
  return { mode: 'delta', changedLayers, changedSize };
}

/** What {@link planService} plans one service from. */
export interface PlanInput {
  service: string;
  ref: string;
  hash: Digest;
  origin: 'registry' | 'file';
  next: Image;
  /** Deltas wanted (false: every image ships full). */
  delta: boolean;
  /** The previous release's image of this service: loaded, or why it could not be. */
  previous?: { ref: string; delivery: Delivery } & ({ hash: Digest; image: Image } | { unavailable: string });
}

/**
 * The plan of one service (pure). A service of the previous release that ships full although
 * deltas were wanted is a fallback.
 */
export function planService(input: PlanInput): PlannedService {
  const { next, previous } = input;
  const common = {
    service: input.service,
    ref: input.ref,
    hash: input.hash,
    origin: input.origin,
    fullSize: fullImageSize(next),
    layers: next.layers.length,
  };
  const current = previous && 'image' in previous ? previous : undefined;
  const mode = planMode(next, current?.image, input);
  if (mode.mode === 'full' || !current) {
    const reason = (previous && 'unavailable' in previous ? previous.unavailable : mode.reason) ?? '';
    const fallback = previous && input.delta ? { fallback: reason } : {};
    return {
      plan: { ...common, mode: 'full', reason, layerPlans: layerPlansOf(next, current?.image), ...fallback },
      next,
    };
  }
  return {
    plan: {
      ...common,
      mode: mode.mode,
      currentRef: current.ref,
      currentHash: current.hash,
      changedLayers: mode.changedLayers ?? 0,
      changedSize: mode.changedSize ?? 0,
      layerPlans: layerPlansOf(next, current.image),
    },
    next,
    current: current.image,
    delivery: current.delivery,
  };
}

/**
 * The release plan of `services`. Services sharing one image (one `images/<id>/` directory)
 * must agree on how it ships: when they differ in mode or previous image, each of them ships
 * it full (a fallback).
 */
export function planRelease(
  services: readonly PlannedService[],
  finalRefs: ReadonlyMap<string, string>,
): ReleasePlan {
  const byHash = new Map<Digest, PlannedService[]>();
  for (const s of services) byHash.set(s.plan.hash, [...(byHash.get(s.plan.hash) ?? []), s]);
  const reconciled = new Map<PlannedService, PlannedService>();
  for (const group of byHash.values()) {
    const first = group[0]!.plan;
    const agree = group.every(
      (s) => s.plan.mode === first.mode && currentHashOf(s.plan) === currentHashOf(first),
    );
    for (const s of group) reconciled.set(s, agree ? s : asFull(s, SHARED_IMAGE_REASON));
  }
  const planned = services.map((s) => reconciled.get(s)!);
  const images = new Map<Digest, PlannedService[]>();
  for (const s of planned) images.set(s.plan.hash, [...(images.get(s.plan.hash) ?? []), s]);
  return { services: planned, images, finalRefs };
}

const SHARED_IMAGE_REASON = 'image shared with another service that has a different previous image';

function currentHashOf(plan: ServicePlan): Digest | undefined {
  return plan.mode === 'full' ? undefined : plan.currentHash;
}

/** `s` shipping its full image for `reason` (a fallback when it was a delta). */
function asFull(s: PlannedService, reason: string): PlannedService {
  if (s.plan.mode === 'full') return s;
  const { currentRef: _r, currentHash: _h, changedLayers: _l, changedSize: _s, ...common } = s.plan;
  return { plan: { ...common, mode: 'full', reason, fallback: reason }, next: s.next };
}
