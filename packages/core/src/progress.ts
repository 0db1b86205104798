/**
 * The one progress event shape of every ocidelta library (docs/core.md, "Progress"): what is
 * happening (`phase`), to what (`item`), how far (`done`/`total`), and how far the whole
 * operation is (`overall`). Functions document their phases; renderers need nothing else.
 */

/** Unit of `done`/`total`: bytes (the default) or whole items (layers, images, files). */
export type ProgressUnit = 'bytes' | 'items';

/** One progress event. */
export interface Progress<Phase extends string = string> {
  /** What is happening, e.g. `blob`, `skip`, `source`, `encode`, `write` (each function lists its own). */
  phase: Phase;
  /** What it is happening to: a blob digest, a layer, a file name. */
  item?: string;
  /** Amount of `item` done, in `unit`. */
  done: number;
  /** Amount of `item` expected, when known. */
  total?: number;
  /** Default `bytes`. */
  unit?: ProgressUnit;
  /** The whole operation so far, when the function can tell (e.g. bytes of all blobs of a pull). */
  overall?: { done: number; total?: number; unit?: ProgressUnit };
}

export type ProgressListener<Phase extends string = string> = (event: Progress<Phase>) => void;

/** A listener that adds `overall` to item events: the sum of each item's latest `done`. */
export interface ProgressTotals<Phase extends string> {
  /** Report an item event; `overall` is filled in. */
  emit(event: Omit<Progress<Phase>, 'overall'>): void;
}

/**
 * Track the overall amount over items reported to `listener` (undefined: nothing is tracked or
 * sent). Only events in the overall `unit` count towards it; an item's `done` may only grow.
 */
export function progressTotals<Phase extends string>(
  listener: ProgressListener<Phase> | undefined,
  options: { total?: number; unit?: ProgressUnit } = {},
): ProgressTotals<Phase> {
  const unit = options.unit ?? 'bytes';
  const perItem = new Map<string, number>();
  let done = 0;
  const total = options.total;
  return {
    emit(event) {
      if (!listener) return;
      if ((event.unit ?? 'bytes') === unit && event.item !== undefined) {
        const prev = perItem.get(event.item) ?? 0;
        if (event.done > prev) {
          done += event.done - prev;
          perItem.set(event.item, event.done);
        }
      }
      listener({
        ...event,
        overall: { done, ...(total !== undefined ? { total } : {}), ...(unit !== 'bytes' ? { unit } : {}) },
      });
    },
  };
}
