/**
 * Greedy match finding for one target window against the indexed source and the window itself.
 * At each unmatched target position it tries, cheapest first: continuing at the previous source
 * copy's alignment (catches in-place edits, cheap near-cache address, source-order copies), a run
 * of one byte, the source index (8-byte hash, verified, extended both ways) and a small hash table
 * of earlier positions in the window (self-copies). The longest candidate wins, unless a short
 * source copy is beaten by the source index's match one byte later (lazy matching).
 */
import { I_ADD, I_COPY_SOURCE, I_COPY_TARGET, I_RUN, type InstructionList } from './instructions.js';
import type { MatcherSettings } from './matcher-settings.js';
import type { DecoderSourceCache } from './source-cache.js';
import { HASH_BYTES, hash8, type SourceIndex, word } from './source-index.js';

const SELF_MIX = 0x2545f491;
/** Copy bytes over which the source-target offset estimate follows a new offset fully. */
const OFFSET_HORIZON = 1 << 20;

/** Length of the common prefix of a[ai..] and b[bi..], at most `max` (memcmp for long runs). */
function matchLength(a: Buffer | Uint8Array, ai: number, b: Uint8Array, bi: number, max: number): number {
  let len = 0;
  while (len < 16 && len < max && a[ai + len] === b[bi + len]) len++;
  if (len < 16) return len;
  const buf = a as Buffer;
  while (len + 256 <= max && buf.compare(b, bi + len, bi + len + 256, ai + len, ai + len + 256) === 0)
    len += 256;
  while (len < max && a[ai + len] === b[bi + len]) len++;
  return len;
}

function addrSize(distance: number): number {
  return distance < 0x80 ? 1 : distance < 0x4000 ? 2 : distance < 0x200000 ? 3 : 4;
}

export class Matcher {
  private readonly index: SourceIndex;
  private readonly settings: MatcherSettings;
  private readonly selfTable: Int32Array;
  private readonly selfShift: number;
  /** Source offset predicted for target position `predPos` (window coordinates), -1 if none. */
  private predSrc = -1;
  /** Target bytes matched in earlier windows (absolute position of this window's start). */
  private targetDone = 0;
  /** Sequential sources: length-weighted running average of (source - target) offsets of copies. */
  private offsetEstimate = 0;
  private predPos = 0;
  private readonly localTable: Int32Array;
  private readonly localShift: number;
  /** Source positions below this (and >= localFrom) are in localTable. */
  private localTo = 0;
  private localFrom = 0;
  /** Source offset aligned with target position `anchorPos` by the last long source copy. */
  private anchorSrc = -1;
  private anchorPos = 0;

  /**
   * The device decoder's source cache when it reads the source sequentially: every source copy
   * must start at or above its `lowestReachable()` when the decoder executes it, and is replayed
   * through it as it is emitted (copies run in emission order), so the bound moves as the
   * decoder's would. Far matches stay findable: the index covers the whole source.
   */
  private readonly reach: DecoderSourceCache | undefined;

  constructor(index: SourceIndex, settings: MatcherSettings, reach?: DecoderSourceCache) {
    this.reach = reach;
    this.index = index;
    this.settings = settings;
    this.selfTable = new Int32Array(settings.selfBits > 0 ? 2 ** settings.selfBits : 1);
    this.selfShift = 32 - settings.selfBits;
    this.localTable = new Int32Array(settings.localBits > 0 ? 2 ** settings.localBits : 1).fill(-1);
    this.localShift = 32 - settings.localBits;
  }

  /**
   * Sequential sources: the highest source offset a copy may start at for window position `i`.
   * Reading ahead evicts the oldest source blocks for good, so the decoder's read position should
   * follow the target: a copy may start within what the decoder has read, or up to half the ring
   * ahead of where in-order content stands (the target position plus the length-weighted average
   * source-target offset of recent copies, so inserted or removed content shifts it). A copy
   * starting further ahead would evict more than it copies (any copy it makes possible later must
   * still start below this bound), and content in order stays reachable, as in xdelta3's own
   * sliding window; copies may still run on past the bound.
   */
  private highestStart(i: number): number {
    const reach = this.reach!;
    return Math.max(reach.readEnd(), this.targetDone + i + this.offsetEstimate + reach.window / 2);
  }

  /**
   * Forget everything learnt from earlier windows (the predicted alignment and the local table),
   * so the next window encodes exactly as it would first: windows of a seekable source are then
   * independent, and encoding them in parallel gives the same bytes as one after another.
   */
  forgetPrediction(): void {
    this.predSrc = -1;
    this.predPos = 0;
    this.anchorSrc = -1;
    this.anchorPos = 0;
    this.localFrom = 0;
    this.localTo = 0;
    this.localTable.fill(-1);
  }

  /** Start and source address of the last `indexCandidate`. */
  private candStart = 0;
  private candAddr = 0;

  /**
   * The source index's match for window position `j` (whose 8 bytes are the words `w0`, `w1`):
   * verified, extended forwards and back into the literals after `addStart`, long enough for its
   * distance from the current alignment. Returns its length (0: none) and leaves its start and
   * source address in `candStart` / `candAddr`.
   */
  private indexCandidate(
    t: Buffer,
    n: number,
    j: number,
    w0: number,
    w1: number,
    addStart: number,
    low: number,
  ): number {
    const { table, shift, blockBits, blockMask, step } = this.index;
    const S = this.index.source;
    const h = hash8(w0, w1);
    const e = table[h >>> shift] as number;
    if (e === 0 || ((e ^ (h << blockBits)) & ~blockMask) !== 0) return 0;
    const s = ((e & blockMask) - 1) * step;
    // A start out of the device decoder's reach is not even measured.
    if (s < low || (this.reach !== undefined && s > this.highestStart(j))) return 0;
    const len = matchLength(S, s, t, j, Math.min(n - j, S.length - s));
    if (len < HASH_BYTES) return 0;
    let back = 0;
    while (j - back > addStart && s - back > low && S[s - back - 1] === t[j - back - 1]) back++;
    const { farDistance, farMin, minSource } = this.settings;
    const far = this.anchorSrc >= 0 && Math.abs(s - (this.anchorSrc + (j - this.anchorPos))) > farDistance;
    if (len + back < (far ? farMin : minSource)) return 0;
    this.candStart = j - back;
    this.candAddr = s - back;
    return len + back;
  }

  /** Make sure source positions up to `p + localAhead` are in the local table. */
  private fillLocal(p: number): void {
    const S = this.index.source;
    const ahead = this.settings.localAhead;
    if (p < this.localFrom || p > this.localTo + ahead) {
      this.localFrom = Math.max(0, p - 256);
      this.localTo = this.localFrom;
    }
    const stop = Math.min(p + ahead, S.length - 4);
    const table = this.localTable;
    const shift = this.localShift;
    for (let q = this.localTo; q < stop; q++) table[Math.imul(word(S, q), SELF_MIX) >>> shift] = q;
    if (stop > this.localTo) this.localTo = stop;
  }

  /** Append the instructions that rebuild `t[0, n)` to `out`. */
  match(t: Buffer, n: number, out: InstructionList): void {
    const S = this.index.source;
    const sLen = S.length;
    const { minPredicted, minRun, goodEnough } = this.settings;
    const useSelf = this.settings.selfBits > 0;
    const selfTable = this.selfTable;
    const selfShift = this.selfShift;
    if (useSelf) selfTable.fill(-1);
    const haveIndex = sLen >= HASH_BYTES;
    const useLocal = this.settings.localBits > 0 && sLen >= 8;
    const localTable = this.localTable;
    const localShift = this.localShift;
    const localAhead = this.settings.localAhead;
    const { minLocal, selfExtra, selfTail, globalMax, skipAfter, skipStride, lazy } = this.settings;

    const reach = this.reach;
    // Lowest source offset a copy may start at (moves up as copies are emitted).
    let low = reach ? reach.lowestReachable() : 0;
    let addStart = 0;
    let i = 0;
    // Little-endian words of t[i, i+4) and t[i+4, i+8), valid while `wValid`.
    let w0 = 0;
    let w1 = 0;
    let wValid = false;
    while (i < n) {
      let bestLen = 0;
      let bestStart = i;
      let bestAddr = 0;
      let bestKind = 0;
      const ti = t[i] as number;
      // 1. Continue at the previous source copy's alignment.
      if (this.predSrc >= 0) {
        const s = this.predSrc + (i - this.predPos);
        if (s >= low && s < sLen && S[s] === ti) {
          const len = matchLength(S, s, t, i, Math.min(n - i, sLen - s));
          if (len >= minPredicted) {
            bestLen = len;
            bestAddr = s;
            bestKind = I_COPY_SOURCE;
          }
        }
      }
      if (i + HASH_BYTES <= n) {
        if (!wValid) {
          w0 = word(t, i);
          w1 = word(t, i + 4);
          wValid = true;
        }
        if (bestLen < goodEnough) {
          // 2. A run of one byte.
          if (w0 === w1 && (w0 & 0xff) * 0x01010101 === w0 >>> 0 && i + minRun <= n) {
            let len = 8;
            while (i + len < n && t[i + len] === ti) len++;
            if (len >= minRun && len > bestLen) {
              bestLen = len;
              bestKind = I_RUN;
            }
          }
          // 4. Source bytes near the predicted alignment (short edits of nearby content).
          if (useLocal && this.anchorSrc >= 0) {
            const p = this.anchorSrc + (i - this.anchorPos);
            if (p >= this.localTo - localAhead / 2 || p < this.localFrom) this.fillLocal(p);
            const s = localTable[Math.imul(w0, SELF_MIX) >>> localShift] as number;
            if (s >= low && S[s] === ti && (reach === undefined || s <= this.highestStart(i))) {
              const len = matchLength(S, s, t, i, Math.min(n - i, sLen - s));
              if (len >= minLocal) {
                let back = 0;
                while (i - back > addStart && s - back > low && S[s - back - 1] === t[i - back - 1]) back++;
                if (len + back > bestLen) {
                  bestLen = len + back;
                  bestStart = i - back;
                  bestAddr = s - back;
                  bestKind = I_COPY_SOURCE;
                }
              }
            }
          }
          // 5. Earlier in this window.
          if (useSelf) {
            const slot = Math.imul(w0, SELF_MIX) >>> selfShift;
            const c = selfTable[slot] as number;
            selfTable[slot] = i;
            if (c >= 0 && t[c] === ti) {
              const len = matchLength(t, c, t, i, n - i);
              if (len >= 4) {
                let back = 0;
                while (i - back > addStart && c - back > 0 && t[c - back - 1] === t[i - back - 1]) back++;
                if (len + back > bestLen && len + back >= selfExtra + addrSize(i - c)) {
                  bestLen = len + back;
                  bestStart = i - back;
                  bestAddr = c - back;
                  bestKind = I_COPY_TARGET;
                }
              }
            }
          }
          // 3. The source index (last: its table lookup is the likely cache miss).
          if (haveIndex && bestLen < globalMax) {
            const len = this.indexCandidate(t, n, i, w0, w1, addStart, low);
            if (len > bestLen) {
              bestLen = len;
              bestStart = this.candStart;
              bestAddr = this.candAddr;
              bestKind = I_COPY_SOURCE;
            }
          }
        }
      }
      // Lazy: a longer source match starting one byte later beats a short one here.
      if (bestKind === I_COPY_SOURCE && bestLen < lazy && wValid && haveIndex && i + 1 + HASH_BYTES <= n) {
        const n0 = (w0 >>> 8) | ((t[i + 4] as number) << 24);
        const n1 = (w1 >>> 8) | ((t[i + 8] as number) << 24);
        const len = this.indexCandidate(t, n, i + 1, n0, n1, addStart, low);
        if (len > 0 && this.candStart + len > bestStart + bestLen + 1) {
          bestLen = len;
          bestStart = this.candStart;
          bestAddr = this.candAddr;
        }
      }
      if (bestKind === 0) {
        if (skipAfter > 0 && i - addStart >= skipAfter) {
          // Long literal stretch (new or compressed content): probe every `skipStride`-th
          // position; a stride coprime with the index step still meets indexed blocks.
          i += skipStride;
          wValid = false;
          continue;
        }
        if (wValid) {
          if (i + HASH_BYTES < n) {
            w0 = (w0 >>> 8) | ((t[i + 4] as number) << 24);
            w1 = (w1 >>> 8) | ((t[i + 8] as number) << 24);
          } else {
            wValid = false;
          }
        }
        i++;
        continue;
      }
      if (bestStart > addStart) out.push(I_ADD, bestStart - addStart, 0);
      out.push(bestKind, bestLen, bestAddr);
      i = bestStart + bestLen;
      addStart = i;
      if (useSelf) {
        // Index the copied bytes too, so later short repeats of them are found.
        const stop = Math.min(i, n - 4);
        for (let p = Math.max(bestStart + 1, i - selfTail); p < stop; p++) {
          selfTable[Math.imul(word(t, p), SELF_MIX) >>> selfShift] = p;
        }
      }
      wValid = false;
      if (bestKind === I_COPY_SOURCE) {
        if (reach) {
          // Within reach by construction; replaying it moves the decoder's read frontier.
          reach.copy(bestAddr, bestLen);
          low = reach.lowestReachable();
          const d = bestAddr - (this.targetDone + bestStart);
          this.offsetEstimate += (d - this.offsetEstimate) * Math.min(1, bestLen / OFFSET_HORIZON);
        }
        this.predSrc = bestAddr + bestLen;
        this.predPos = i;
        if (bestLen >= 32) {
          this.anchorSrc = this.predSrc;
          this.anchorPos = i;
        }
      }
    }
    if (addStart < n) out.push(I_ADD, n - addStart, 0);
    // Window positions restart at 0: keep the prediction in the next window's coordinates.
    this.targetDone += n;
    this.predPos -= n;
    this.anchorPos -= n;
  }
}
