/**
 * The VCDIFF address caches (RFC 3284 section 5.1-5.3): a `near` ring of the last 4 addresses and
 * a `same` hash of 3*256 addresses. Encoder and decoder update them identically after each COPY.
 */
import { OciDeltaError } from '@ocidelta/core';
import { NEAR_SIZE, SAME_SIZE } from './code-table.js';

const SAME_SLOTS = SAME_SIZE * 256;

export class AddressCache {
  private readonly near = new Float64Array(NEAR_SIZE);
  private readonly same = new Float64Array(SAME_SLOTS);
  private nextSlot = 0;
  /** Set by `encode`: the value to write (a byte for same modes, an integer otherwise). */
  encodedValue = 0;

  /** Reset at the start of each window. */
  reset(): void {
    this.near.fill(0);
    this.same.fill(0);
    this.nextSlot = 0;
  }

  private update(addr: number): void {
    this.near[this.nextSlot] = addr;
    this.nextSlot = (this.nextSlot + 1) % NEAR_SIZE;
    this.same[addr % SAME_SLOTS] = addr;
  }

  /**
   * Choose the cheapest mode for `addr` at position `here` (both in the window's address space),
   * update the caches and return the mode; the value to write is left in `encodedValue`.
   */
  encode(addr: number, here: number): number {
    let bestMode = 0;
    let bestValue = addr;
    let bestSize = sizeOf(addr);
    const hereValue = here - addr;
    const hereSize = sizeOf(hereValue);
    if (hereSize < bestSize) {
      bestMode = 1;
      bestValue = hereValue;
      bestSize = hereSize;
    }
    for (let i = 0; i < NEAR_SIZE; i++) {
      const d = addr - (this.near[i] as number);
      if (d >= 0) {
        const s = sizeOf(d);
        if (s < bestSize) {
          bestMode = 2 + i;
          bestValue = d;
          bestSize = s;
        }
      }
    }
    const slot = addr % SAME_SLOTS;
    if (bestSize > 1 && this.same[slot] === addr) {
      bestMode = 2 + NEAR_SIZE + Math.floor(slot / 256);
      bestValue = slot % 256;
    }
    this.update(addr);
    this.encodedValue = bestValue;
    return bestMode;
  }

  /**
   * Decode an address given its `mode`, the raw `value` read for it and position `here`.
   * Updates the caches. Throws ERR_VCDIFF for an address outside [0, here).
   */
  decode(mode: number, value: number, here: number): number {
    let addr: number;
    if (mode === 0) addr = value;
    else if (mode === 1) addr = here - value;
    else if (mode < 2 + NEAR_SIZE) addr = (this.near[mode - 2] as number) + value;
    else addr = this.same[(mode - 2 - NEAR_SIZE) * 256 + value] as number;
    if (addr < 0 || addr >= here) {
      throw new OciDeltaError('ERR_VCDIFF', `VCDIFF: COPY address ${addr} out of bounds (here ${here})`, {
        addr,
        here,
      });
    }
    this.update(addr);
    return addr;
  }
}

function sizeOf(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}
