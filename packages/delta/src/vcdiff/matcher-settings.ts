/**
 * The matcher's tuning knobs and the settings of each effort (`fast`, `default`, `best`): what
 * the index step, table sizes and minimum copy lengths are, in one place.
 */

/** Tuning knobs of the matcher (see `effortSettings`). */
export interface MatcherSettings {
  /** Distance between indexed source offsets (memory: 4 bytes per step of source). */
  step: number;
  /** Minimum length of a copy found through the source index. */
  minSource: number;
  /** Minimum length of a copy at the predicted (previous) source alignment. */
  minPredicted: number;
  /** Minimum run length emitted as RUN. */
  minRun: number;
  /** Predicted matches at least this long are taken without looking further. */
  goodEnough: number;
  /** log2 of the self-match table size; 0 disables self-copies. */
  selfBits: number;
  /** log2 of the table of source positions near the predicted alignment; 0 disables it. */
  localBits: number;
  /** How far past the predicted source position the local table is filled. */
  localAhead: number;
  /** Minimum length of a copy found through the local table. */
  minLocal: number;
  /** Minimum self-copy length is this plus the address size in bytes. */
  selfExtra: number;
  /**
   * Source copies further than `farDistance` from the current alignment must be at least
   * `farMin` long: stock xdelta3 -d caches only 64 MiB of source, so far jumps cost re-reads.
   */
  farDistance: number;
  farMin: number;
  /** How many of a copy's last positions go into the self-match table. */
  selfTail: number;
  /** The source index is only consulted when the other candidates are shorter than this. */
  globalMax: number;
  /** After this many literal bytes in a row (0: never), probe only every `skipStride`-th position. */
  skipAfter: number;
  skipStride: number;
  /**
   * Lazy matching: a source copy shorter than this is compared with the source index's match one
   * byte later, which wins when it reaches further (0: greedy).
   */
  lazy: number;
}

const DEFAULT_SETTINGS: MatcherSettings = {
  step: 16,
  minSource: 14,
  minPredicted: 4,
  minRun: 16,
  goodEnough: 64,
  selfBits: 20,
  localBits: 16,
  localAhead: 1024,
  minLocal: 10,
  selfExtra: 3,
  farDistance: 4 * 1024 * 1024,
  farMin: 128,
  selfTail: 512,
  globalMax: 256,
  skipAfter: 64,
  skipStride: 3,
  lazy: 64,
};

/** The encoder's match efforts. */
export const EFFORTS = ['fast', 'default', 'best'] as const;
export type Effort = (typeof EFFORTS)[number];

/** Matcher settings per effort (memory for the index: 4 bytes per `step` source bytes). */
export function effortSettings(effort: Effort): MatcherSettings {
  switch (effort) {
    case 'fast':
      return { ...DEFAULT_SETTINGS, step: 32, minSource: 24, selfBits: 18, localBits: 14 };
    case 'best':
      return { ...DEFAULT_SETTINGS, step: 8, goodEnough: 256, localBits: 18, skipAfter: 256, lazy: 256 };
    default:
      return { ...DEFAULT_SETTINGS };
  }
}
