/** Progress events and shared option types of pull, push and copy. */
import { type Progress, progressTotals } from '@ocidelta/core';
import { imagesOf, type ManifestNode, type PlatformChoice, totalBytes } from './plan.js';

/**
 * One progress event, per blob (`item` = its digest) or manifest. `blob`: bytes moving (done
 * grows to total); `skip`: already at the destination; `mount`: mounted from another repository
 * of the same registry; `manifest`: a manifest written (unit items). `overall`: bytes of all
 * blobs of the transfer, skipped and mounted ones included.
 */
export type TransferPhase = 'blob' | 'skip' | 'mount' | 'manifest';
export type TransferProgress = Progress<TransferPhase>;

/** Options every transfer accepts. */
export interface TransferOptions extends PlatformChoice {
  /** Parallel blob transfers (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (event: TransferProgress) => void;
}

/** What a transfer did. */
export interface TransferResult {
  /** Digest of what the destination name points at (an index or an image). */
  digest: string;
  mediaType: string;
  /** Images transferred, with the platform their index gave them. */
  images: { digest: string; platform?: string }[];
  /** Blobs (configs and layers) moved, skipped as present, and mounted. */
  blobs: { transferred: number; skipped: number; mounted: number };
  /** Bytes of blobs actually moved. */
  bytes: number;
}

export const DEFAULT_CONCURRENCY = 4;

/** `options` whose progress events carry `overall` over every blob of `plan`. */
export function withTransferTotals<T extends TransferOptions>(plan: ManifestNode, options: T): T {
  if (!options.onProgress) return options;
  const totals = progressTotals(options.onProgress, { total: totalBytes(plan) });
  return { ...options, onProgress: (e: TransferProgress) => totals.emit(e) };
}

/** Counters shared by the transfer functions. */
export function newCounters(): TransferResult['blobs'] & { bytes: number } {
  return { transferred: 0, skipped: 0, mounted: 0, bytes: 0 };
}

/** Summarize a finished transfer of `plan` from its counters. */
export function resultOf(plan: ManifestNode, counters: ReturnType<typeof newCounters>): TransferResult {
  return {
    digest: plan.descriptor.digest,
    mediaType: plan.descriptor.mediaType,
    images: imagesOf(plan).map((n) => ({
      digest: n.descriptor.digest,
      ...(n.platform ? { platform: n.platform } : {}),
    })),
    blobs: { transferred: counters.transferred, skipped: counters.skipped, mounted: counters.mounted },
    bytes: counters.bytes,
  };
}
