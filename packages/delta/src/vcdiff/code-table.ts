/**
 * The RFC 3284 default instruction code table (section 5.6), with near cache size 4 and same
 * cache size 3 (9 address modes). Decoding uses the expanded 256-entry table; encoding uses the
 * closed-form opcode functions below, which index the same table.
 */

export const NOOP = 0;
export const ADD = 1;
export const RUN = 2;
export const COPY = 3;

export const NEAR_SIZE = 4;
export const SAME_SIZE = 3;
/** Address modes: 0 SELF, 1 HERE, 2..5 near, 6..8 same. */
export const MODE_COUNT = 2 + NEAR_SIZE + SAME_SIZE;

/** One table entry: up to two instructions (type2 NOOP when single). Size 0 = size follows. */
export interface CodeTable {
  type1: Uint8Array;
  size1: Uint8Array;
  mode1: Uint8Array;
  type2: Uint8Array;
  size2: Uint8Array;
  mode2: Uint8Array;
}

function buildDefaultTable(): CodeTable {
  const t: CodeTable = {
    type1: new Uint8Array(256),
    size1: new Uint8Array(256),
    mode1: new Uint8Array(256),
    type2: new Uint8Array(256),
    size2: new Uint8Array(256),
    mode2: new Uint8Array(256),
  };
  let i = 0;
  const set = (ty1: number, s1: number, m1: number, ty2: number, s2: number, m2: number) => {
    t.type1[i] = ty1;
    t.size1[i] = s1;
    t.mode1[i] = m1;
    t.type2[i] = ty2;
    t.size2[i] = s2;
    t.mode2[i] = m2;
    i++;
  };
  set(RUN, 0, 0, NOOP, 0, 0);
  for (let s = 0; s <= 17; s++) set(ADD, s, 0, NOOP, 0, 0);
  for (let m = 0; m < MODE_COUNT; m++) {
    set(COPY, 0, m, NOOP, 0, 0);
    for (let s = 4; s <= 18; s++) set(COPY, s, m, NOOP, 0, 0);
  }
  for (let m = 0; m <= 5; m++) {
    for (let a = 1; a <= 4; a++) for (let c = 4; c <= 6; c++) set(ADD, a, 0, COPY, c, m);
  }
  for (let m = 6; m < MODE_COUNT; m++) for (let a = 1; a <= 4; a++) set(ADD, a, 0, COPY, 4, m);
  for (let m = 0; m < MODE_COUNT; m++) set(COPY, 4, m, ADD, 1, 0);
  return t;
}

/** The default code table, expanded. */
export const DEFAULT_CODE_TABLE: CodeTable = buildDefaultTable();

/** Opcode of a lone ADD; size 0 in the table means the size follows as an integer. */
export function addOpcode(size: number): number {
  return size <= 17 ? 1 + size : 1;
}

/** Opcode of a lone COPY of `size` bytes in address `mode`. */
export function copyOpcode(size: number, mode: number): number {
  return 19 + mode * 16 + (size >= 4 && size <= 18 ? size - 3 : 0);
}

/** Opcode of ADD(addSize) + COPY(copySize, mode), or -1 when the table has no such pair. */
export function addCopyOpcode(addSize: number, copySize: number, mode: number): number {
  if (addSize < 1 || addSize > 4) return -1;
  if (mode <= 5) {
    if (copySize < 4 || copySize > 6) return -1;
    return 163 + mode * 12 + (addSize - 1) * 3 + (copySize - 4);
  }
  if (copySize !== 4) return -1;
  return 235 + (mode - 6) * 4 + (addSize - 1);
}

/** Opcode of COPY(4, mode) + ADD(1), or -1 when the table has no such pair. */
export function copyAddOpcode(copySize: number, mode: number, addSize: number): number {
  return copySize === 4 && addSize === 1 ? 247 + mode : -1;
}
