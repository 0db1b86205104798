/**
 * Greedy match finding for one target window against the indexed source and the window itself.
 * At each unmatched target position it tries, cheapest first: continuing at the previous source
 * copy's alignment (catches in-place edits, cheap near-cache address, source-order copies), a run
 * of one byte, the source block index (rolling hash, verified, extended both ways) and a small
 * hash table of earlier positions in the window (self-copies). The longest candidate wins.
 */
import { I_ADD, I_COPY_SOURCE, I_COPY_TARGET, I_RUN, type InstructionList } from './instructions.js';
import { blockHash, HASH_MIX, HASH_MUL, type SourceIndex } from './source-index.js';

/** Tuning knobs of the matcher (see `effortSettings`). */
export interface MatcherSettings {
  /** Source block size of the index (bytes). */
  blockSize: number;
  /** Minimum length of a copy at the predicted (previous) source alignment. */
  minPredicted: number;
  /** Minimum run length emitted as RUN. */
  minRun: number;
  /** Predicted matches at least this long are taken without looking further. */
  goodEnough: number;
  /** log2 of the self-match table size; 0 disables self-copies. */
  selfBits: number;
}

export function effortSettings(effort: 'fast' | 'default' | 'best'): MatcherSettings {
  switch (effort) {
    case 'fast':
      return { blockSize: 32, minPredicted: 8, minRun: 16, goodEnough: 32, selfBits: 0 };
    case 'best':
      return { blockSize: 16, minPredicted: 5, minRun: 8, goodEnough: 256, selfBits: 20 };
    default:
      return { blockSize: 16, minPredicted: 6, minRun: 8, goodEnough: 64, selfBits: 18 };
  }
}

function selfMin(distance: number): number {
  return distance < 0x80 ? 4 : distance < 0x4000 ? 5 : distance < 0x200000 ? 6 : 7;
}

export class Matcher {
  private readonly index: SourceIndex;
  private readonly settings: MatcherSettings;
  private readonly selfTable: Int32Array;
  private readonly selfShift: number;
  /** Source offset predicted for target position `predPos` (window coordinates), -1 if none. */
  private predSrc = -1;
  private predPos = 0;

  constructor(index: SourceIndex, settings: MatcherSettings) {
    this.index = index;
    this.settings = settings;
    this.selfTable = new Int32Array(settings.selfBits > 0 ? 2 ** settings.selfBits : 1);
    this.selfShift = 32 - settings.selfBits;
  }

  /** Append the instructions that rebuild `t[0, n)` to `out`. */
  match(t: Uint8Array, n: number, out: InstructionList): void {
    const S = this.index.source;
    const sLen = S.length;
    const B = this.index.blockSize;
    const table = this.index.table;
    const shift = this.index.shift;
    const w = this.index.outWeight;
    const { minPredicted, minRun, goodEnough } = this.settings;
    const useSelf = this.settings.selfBits > 0;
    const selfTable = this.selfTable;
    const selfShift = this.selfShift;
    if (useSelf) selfTable.fill(-1);
    const haveIndex = sLen >= B;

    let addStart = 0;
    let i = 0;
    let h = 0;
    let hValid = false;
    while (i < n) {
      let bestLen = 0;
      let bestStart = i;
      let bestAddr = 0;
      let bestKind = 0;
      // 1. Continue at the previous source copy's alignment.
      if (this.predSrc >= 0) {
        const s = this.predSrc + (i - this.predPos);
        if (s >= 0 && s < sLen && S[s] === t[i]) {
          let len = 1;
          const max = Math.min(n - i, sLen - s);
          while (len < max && S[s + len] === t[i + len]) len++;
          if (len >= minPredicted) {
            bestLen = len;
            bestAddr = s;
            bestKind = I_COPY_SOURCE;
          }
        }
      }
      if (bestLen < goodEnough) {
        // 2. A run of one byte.
        const b0 = t[i] as number;
        if (i + minRun <= n && t[i + 1] === b0 && t[i + 2] === b0 && t[i + 3] === b0) {
          let len = 4;
          while (i + len < n && t[i + len] === b0) len++;
          if (len >= minRun && len > bestLen) {
            bestLen = len;
            bestStart = i;
            bestKind = I_RUN;
          }
        }
        // 3. The source index.
        if (haveIndex && i + B <= n) {
          if (!hValid) {
            h = blockHash(t, i, B);
            hValid = true;
          }
          const blk = table[Math.imul(h, HASH_MIX) >>> shift] as number;
          if (blk >= 0) {
            const s = blk * B;
            let len = 0;
            const max = Math.min(n - i, sLen - s);
            while (len < max && S[s + len] === t[i + len]) len++;
            if (len >= B) {
              let back = 0;
              while (i - back > addStart && s - back > 0 && S[s - back - 1] === t[i - back - 1]) back++;
              if (len + back > bestLen) {
                bestLen = len + back;
                bestStart = i - back;
                bestAddr = s - back;
                bestKind = I_COPY_SOURCE;
              }
            }
          }
        }
        // 4. Earlier in this window.
        if (useSelf && i + 4 <= n) {
          const key =
            (t[i] as number) |
            ((t[i + 1] as number) << 8) |
            ((t[i + 2] as number) << 16) |
            ((t[i + 3] as number) << 24);
          const slot = Math.imul(key, HASH_MIX) >>> selfShift;
          const c = selfTable[slot] as number;
          selfTable[slot] = i;
          if (c >= 0 && t[c] === t[i]) {
            let len = 0;
            const max = n - i;
            while (len < max && t[c + len] === t[i + len]) len++;
            if (len >= 4) {
              let back = 0;
              while (i - back > addStart && c - back > 0 && t[c - back - 1] === t[i - back - 1]) back++;
              if (len + back > bestLen && len + back >= selfMin(i - c)) {
                bestLen = len + back;
                bestStart = i - back;
                bestAddr = c - back;
                bestKind = I_COPY_TARGET;
              }
            }
          }
        }
      }
      if (bestKind === 0) {
        if (hValid) {
          if (i + B < n)
            h = (Math.imul(h - Math.imul(t[i] as number, w), HASH_MUL) + (t[i + B] as number)) | 0;
          else hValid = false;
        }
        i++;
        continue;
      }
      if (bestStart > addStart) out.push(I_ADD, bestStart - addStart, 0);
      out.push(bestKind, bestLen, bestAddr);
      i = bestStart + bestLen;
      addStart = i;
      hValid = false;
      if (bestKind === I_COPY_SOURCE) {
        this.predSrc = bestAddr + bestLen;
        this.predPos = i;
      }
    }
    if (addStart < n) out.push(I_ADD, n - addStart, 0);
    // Window positions restart at 0: keep the prediction in the next window's coordinates.
    this.predPos -= n;
  }
}
