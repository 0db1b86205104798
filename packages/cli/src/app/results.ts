/**
 * What a release run reports per service (pure): its plan joined with the outcome of its image
 * payload, the summary table, and the release's dependency on the previous version.
 */
import { type Digest, OciDeltaError } from '@ocidelta/core';
import { formatIecBytes } from '../kit/size.js';
import type { LayerPlan, ServiceMode, ServicePlan } from './plan.js';

/** What was built for one image: how it shipped, and the figures of its image.img. */
export interface PayloadOutcome {
  readonly hash: Digest;
  readonly shipped: 'delta' | 'full';
  /** Why a planned delta shipped full. */
  readonly reason?: string;
  /** A planned delta that shipped full for a reason other than size (see {@link FullPlan.fallback}). */
  readonly fallback?: string;
  /** Size of the image.img written. */
  readonly imageSize: number;
  /** The image.img came from the delta cache. */
  readonly cached?: boolean;
  /** Where a deep delta came from: built now, the local cache, or the shared store. */
  readonly deltaFrom?: 'computed' | 'cache' | 'store';
  readonly device?: DeviceCost;
  /** A deep delta built in this run: its per-layer figures. */
  readonly layers?: readonly DeltaLayerFigures[];
}

/** What installing a deep delta costs the device. */
export interface DeviceCost {
  /** Source bytes its xdelta3 reads (re-reads included; decompressed bytes for a compressed source). */
  sourceBytesRead: number;
  /** Its decoder memory (`-B` + windows). */
  decoderMemory: number;
}

/** The per-layer figures of a deep delta built in this run. */
export interface DeltaLayerFigures {
  index: number;
  deltaSize: number;
  uncompressedSize: number;
  sourcePath: string;
  device: { sourceBytesRead: number };
}

/** A service as the run reports it (summary table, `--json`, report): its plan and outcome. */
export interface ServiceResult {
  service: string;
  /** How it ships (a planned delta that fell back is `full`). */
  mode: ServiceMode;
  ref: string;
  hash: Digest;
  origin: 'registry' | 'file';
  /** The previous release's ref/hash for this service (delta and unchanged plans). */
  currentRef?: string;
  currentHash?: Digest;
  /** Why a service ships full. */
  reason?: string;
  /** See {@link FullPlan.fallback}. */
  fallback?: string;
  fullSize: number;
  layers: number;
  changedLayers?: number;
  changedSize?: number;
  /** Size of the image.img written (undefined in a dry run). */
  imageSize?: number;
  /** The image.img came from the delta cache. */
  cached?: boolean;
  deltaFrom?: 'computed' | 'cache' | 'store';
  device?: DeviceCost;
  /** Each layer of the new image: what a full pull costs and what the artifact ships for it. */
  layerPlans: LayerPlan[];
}

/** `plans` with the deep delta's per-layer figures (matched by index) filled in. */
export function withDeltaLayers(
  plans: readonly LayerPlan[],
  delta: readonly DeltaLayerFigures[],
): LayerPlan[] {
  return plans.map((p) => {
    const d = delta.find((x) => x.index === p.index);
    return d
      ? {
          ...p,
          deltaSize: d.deltaSize,
          uncompressedSize: d.uncompressedSize,
          source: d.sourcePath,
          sourceBytesRead: d.device.sourceBytesRead,
        }
      : p;
  });
}

/** A service's plan and (after the build) its image's outcome, as the run reports it. */
export function serviceResult(plan: ServicePlan, outcome?: PayloadOutcome): ServiceResult {
  const layerPlans = outcome?.layers
    ? withDeltaLayers(plan.layerPlans, outcome.layers)
    : [...plan.layerPlans];
  const built = outcome ? { imageSize: outcome.imageSize } : {};
  if (plan.mode === 'full') return { ...plan, ...built, layerPlans };
  if (outcome?.shipped === 'full') {
    return {
      ...plan,
      ...built,
      mode: 'full',
      ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}),
      ...(outcome.fallback !== undefined ? { fallback: outcome.fallback } : {}),
      layerPlans,
    };
  }
  return {
    ...plan,
    ...built,
    ...(outcome?.cached ? { cached: true } : {}),
    ...(outcome?.deltaFrom ? { deltaFrom: outcome.deltaFrom } : {}),
    ...(outcome?.device ? { device: outcome.device } : {}),
    layerPlans,
  };
}

/** The version a release depends on: the previous one, when any service ships a delta. */
export function dependsOnVersionOf(
  results: readonly ServiceResult[],
  previousVersion: string | undefined,
): string | undefined {
  return results.some((r) => r.mode !== 'full') ? previousVersion : undefined;
}

/**
 * Throw ERR_NO_DEEP_DELTA naming every service that fell back to a full image (see
 * `ServicePlan.fallback`): for runs that must ship deltas or nothing.
 */
export function assertNoFallback(plans: readonly ServiceResult[]): void {
  const fell = plans.filter((p) => p.mode === 'full' && p.fallback);
  if (fell.length === 0) return;
  throw new OciDeltaError(
    'ERR_NO_DEEP_DELTA',
    `a deep delta was required, but ${fell.map((p) => `${p.service} would ship full (${p.fallback})`).join('; ')}`,
    { services: fell.map((p) => p.service), hint: 'require-delta' },
  );
}

/**
 * What the summary's NOTE column (and the report) says about a service: a fallback to full is a
 * warning; otherwise why it ships full, or where its delta came from.
 */
export function planNote(p: ServiceResult): { text: string; warning: boolean } {
  if (p.fallback && p.mode === 'full') return { text: `fallback to full: ${p.fallback}`, warning: true };
  const text =
    p.reason && p.mode === 'full'
      ? p.reason
      : p.deltaFrom === 'store'
        ? 'delta from store'
        : p.cached
          ? 'delta from cache'
          : '';
  return { text, warning: false };
}

/** The summary table: service, mode, full size, artifact image size, saving. */
export function summaryTable(plans: readonly ServiceResult[]): string {
  const rows = plans.map((p) => {
    const shipped = p.imageSize;
    const note = planNote(p);
    const ratio =
      shipped !== undefined && p.fullSize > 0 ? `${((shipped / p.fullSize) * 100).toFixed(1)}%` : '-';
    return [
      p.service,
      p.mode,
      p.mode === 'full' ? '-' : `${p.changedLayers ?? '?'}/${p.layers}`,
      formatIecBytes(p.fullSize),
      shipped !== undefined
        ? formatIecBytes(shipped)
        : p.mode === 'unchanged'
          ? 'tiny'
          : p.mode === 'delta' && p.changedSize !== undefined
            ? `<= ${formatIecBytes(p.changedSize)}`
            : '-',
      ratio,
      p.device && p.mode !== 'full'
        ? `${formatIecBytes(p.device.sourceBytesRead)} / ${formatIecBytes(p.device.decoderMemory)}`
        : '-',
      note.warning ? `WARNING: ${note.text}` : note.text,
    ];
  });
  const head = ['SERVICE', 'MODE', 'CHANGED', 'FULL', 'SHIPPED', 'RATIO', 'DEVICE READ/MEM', 'NOTE'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}
