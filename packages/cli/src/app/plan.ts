/**
 * The per-service plan of an app release (pure): which services ship a full image, a deep
 * delta, or an unchanged (tiny, self-referencing) deep delta, with their sizes, and the summary
 * table printed at the end of a run or by `--dry-run`.
 */
import { type Digest, type Image, OciDeltaError } from '@ocidelta/core';
import { formatBytes } from '../kit/size.js';
import type { Prepared } from './image-builder.js';

export type ServiceMode = 'unchanged' | 'delta' | 'full';

export interface ServicePlan {
  service: string;
  mode: ServiceMode;
  /** The new image reference (url-new). */
  ref: string;
  /** Manifest digest of the new platform image. */
  hash: Digest;
  /** Where the new image came from. */
  origin: 'registry' | 'file';
  /** The previous release's ref/hash for this service (delta and unchanged). */
  currentRef?: string;
  currentHash?: Digest;
  /** Why a service with a previous image ships full. */
  reason?: string;
  /**
   * Set when a service of the previous release ships full although a delta was wanted, for a
   * reason other than the delta being larger (previous image unavailable, no deep delta
   * possible): a warning in the summary and `--json`, an error with `requireDelta`.
   */
  fallback?: string;
  /** Size of the full image: the stored (compressed) config and layers. */
  fullSize: number;
  /** Layers of the new image and how many differ from the current image (by diff_id, index-paired). */
  layers: number;
  changedLayers?: number;
  /** Compressed size of the new layers that differ (an upper bound of what a delta carries). */
  changedSize?: number;
  /** Size of the image.img written (after the build; undefined in a dry run). */
  imageSize?: number;
  /** The image.img came from the delta cache. */
  cached?: boolean;
  /** Where a deep delta came from: built now, the local cache, or the shared store. */
  deltaFrom?: 'computed' | 'cache' | 'store';
  /**
   * Deep deltas: what installing it costs the device: source bytes its xdelta3 reads (re-reads
   * included; decompressed bytes for a compressed source) and its decoder memory (`-B` + windows).
   */
  device?: { sourceBytesRead: number; decoderMemory: number };
  /** Each layer of the new image: what a full pull costs and what the artifact ships for it. */
  layerPlans?: LayerPlan[];
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

/** `plans` with the deep delta's per-layer figures (matched by index) filled in. */
export function withDeltaLayers(
  plans: readonly LayerPlan[],
  delta: readonly {
    index: number;
    deltaSize: number;
    uncompressedSize: number;
    sourcePath: string;
    device: { sourceBytesRead: number };
  }[],
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
  if (!options.delta) return { mode: 'full', reason: 'deltas disabled (--no-delta)' };
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

/**
 * Throw ERR_NO_DEEP_DELTA naming every service that fell back to a full image (see
 * `ServicePlan.fallback`): for runs that must ship deltas or nothing.
 */
export function assertNoFallback(plans: readonly ServicePlan[]): void {
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
export function planNote(p: ServicePlan): { text: string; warning: boolean } {
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
export function summaryTable(plans: ServicePlan[]): string {
  const rows = plans.map((p) => {
    const shipped = p.imageSize;
    const note = planNote(p);
    const ratio =
      shipped !== undefined && p.fullSize > 0 ? `${((shipped / p.fullSize) * 100).toFixed(1)}%` : '-';
    return [
      p.service,
      p.mode,
      p.mode === 'full' ? '-' : `${p.changedLayers ?? '?'}/${p.layers}`,
      formatBytes(p.fullSize),
      shipped !== undefined
        ? formatBytes(shipped)
        : p.mode === 'unchanged'
          ? 'tiny'
          : p.mode === 'delta' && p.changedSize !== undefined
            ? `<= ${formatBytes(p.changedSize)}`
            : '-',
      ratio,
      p.device && p.mode !== 'full'
        ? `${formatBytes(p.device.sourceBytesRead)} / ${formatBytes(p.device.decoderMemory)}`
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

/**
 * Services sharing one image (one `images/<id>/` directory) must agree on how it ships: when
 * they differ in mode or previous image, each of them ships it full. Returns the services by
 * image hash.
 */
export function groupSharedImages(prepared: readonly Prepared[]): Map<string, Prepared[]> {
  const byHash = new Map<string, Prepared[]>();
  for (const p of prepared) byHash.set(p.plan.hash, [...(byHash.get(p.plan.hash) ?? []), p]);
  for (const group of byHash.values()) {
    const first = group[0]!;
    if (!group.some((p) => p.plan.mode !== first.plan.mode || p.plan.currentHash !== first.plan.currentHash))
      continue;
    for (const p of group) {
      if (p.plan.mode === 'full') continue;
      p.plan.mode = 'full';
      p.plan.reason = 'image shared with another service that has a different previous image';
      p.plan.fallback = p.plan.reason;
      p.current = undefined;
    }
  }
  return byHash;
}
