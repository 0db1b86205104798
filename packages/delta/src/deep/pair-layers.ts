/**
 * Which current layer each new layer is encoded against (pure). As the device's app module expects: layers pair
 * by index and a current image with more layers than the new one has no deep delta. Two
 * refinements the device accepts (it only reads each `.source` path):
 * - a new layer whose diff_id equals some current layer's is encoded against that layer (a tiny
 *   self-delta), wherever it sits, so an inserted layer does not turn the layers above it into
 *   full-size deltas;
 * - a new layer beyond the current image's layer count is encoded against the current image's
 *   last (top) layer, the one most likely to share content with an added app layer.
 */
import { OciDeltaError } from '@ocidelta/core';

/** What pairing needs to know about a layer. */
export interface PairableLayer {
  readonly diffId: string;
}

/** One new layer and the current layer its delta is computed against. */
export interface LayerPair {
  /** Index of the new layer in the new image. */
  index: number;
  /** Index of the current layer used as the delta source. */
  sourceIndex: number;
  /** True when both layers have the same diff_id (the delta is a tiny self-reference). */
  unchanged: boolean;
  /** Why this source was picked. */
  reason: 'same-diff-id' | 'same-index' | 'beyond-current';
}

/**
 * Pair every new layer with a current layer. Throws ERR_NO_DEEP_DELTA when the current image has
 * more layers than the new one (or none at all): the caller then ships the full image.
 */
export function pairLayers(current: readonly PairableLayer[], next: readonly PairableLayer[]): LayerPair[] {
  if (current.length > next.length) {
    throw new OciDeltaError(
      'ERR_NO_DEEP_DELTA',
      `no deep delta possible: the current image has ${current.length} layers, the new one only ${next.length}; ship the full image`,
      { currentLayers: current.length, newLayers: next.length },
    );
  }
  if (current.length === 0) {
    throw new OciDeltaError(
      'ERR_NO_DEEP_DELTA',
      'no deep delta possible: the current image has no layers to use as delta sources; ship the full image',
      { currentLayers: 0, newLayers: next.length },
    );
  }
  const byDiffId = new Map<string, number>();
  current.forEach((layer, i) => {
    if (!byDiffId.has(layer.diffId)) byDiffId.set(layer.diffId, i);
  });
  return next.map((layer, index): LayerPair => {
    if (current[index]?.diffId === layer.diffId) {
      return { index, sourceIndex: index, unchanged: true, reason: 'same-diff-id' };
    }
    const same = byDiffId.get(layer.diffId);
    if (same !== undefined) return { index, sourceIndex: same, unchanged: true, reason: 'same-diff-id' };
    if (index < current.length) return { index, sourceIndex: index, unchanged: false, reason: 'same-index' };
    return { index, sourceIndex: current.length - 1, unchanged: false, reason: 'beyond-current' };
  });
}
