/**
 * The matcher's output for one target window: a list of ADD / RUN / COPY instructions in target
 * order (target positions are implicit: each instruction starts where the previous one ended).
 */

export const I_ADD = 1;
export const I_RUN = 2;
/** COPY from the source; `addr` is an absolute source offset. */
export const I_COPY_SOURCE = 3;
/** COPY from earlier in the target window; `addr` is a target window position. */
export const I_COPY_TARGET = 4;

export class InstructionList {
  kinds = new Uint8Array(1024);
  sizes = new Int32Array(1024);
  addrs = new Float64Array(1024);
  count = 0;

  reset(): void {
    this.count = 0;
  }

  push(kind: number, size: number, addr: number): void {
    if (this.count === this.kinds.length) this.grow();
    const k = this.count++;
    this.kinds[k] = kind;
    this.sizes[k] = size;
    this.addrs[k] = addr;
  }

  private grow(): void {
    const cap = this.kinds.length * 2;
    const kinds = new Uint8Array(cap);
    kinds.set(this.kinds);
    const sizes = new Int32Array(cap);
    sizes.set(this.sizes);
    const addrs = new Float64Array(cap);
    addrs.set(this.addrs);
    this.kinds = kinds;
    this.sizes = sizes;
    this.addrs = addrs;
  }
}
