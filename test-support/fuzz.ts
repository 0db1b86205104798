/**
 * Fuzzing with fixed seeds (fast-check), for every parser of hostile input. The property is
 * the same for all targets: an input either gives a result or a typed OciDeltaError with a
 * code; never another exception, never a hang (each input has a deadline), never unbounded
 * memory. Every target first replays its regression corpus (`test-support/corpus/<target>/`,
 * inputs that once broke a reader), then mutates seed inputs: byte flips, overwrites with
 * boundary values, insertions, truncations and splices. The figures (inputs per target,
 * failures) are printed, so CI logs show how much was tried.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

/** Seed of every run: the same inputs in every CI run (change it to explore). */
export const FUZZ_SEED = 20261202;

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), 'corpus');

/** The regression inputs of `target` (file name -> bytes); none when the directory is absent. */
export function corpus(target: string): [string, Buffer][] {
  let names: string[] = [];
  try {
    names = readdirSync(join(CORPUS, target)).sort();
  } catch {
    return [];
  }
  return names.map((n) => [n, readFileSync(join(CORPUS, target, n))]);
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'truncate'; at: number }
  | { kind: 'splice'; at: number; length: number; from: number };

const BOUNDARY = [0x00, 0x01, 0x20, 0x2d, 0x30, 0x37, 0x39, 0x7f, 0x80, 0xfe, 0xff];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({
    kind: fc.constant('set' as const),
    at: fc.nat(),
    value: fc.oneof(fc.constantFrom(...BOUNDARY), fc.integer({ min: 0, max: 255 })),
  }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('splice' as const),
    at: fc.nat(),
    length: fc.nat({ max: 64 }),
    from: fc.nat(),
  }),
);

/** Apply mutations to a copy of `seed` (positions taken modulo its length). */
export function mutate(seed: Uint8Array, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(seed);
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'flip':
        b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'splice': {
        const from = m.from % b.length;
        b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + m.length), b.subarray(at + m.length)]);
        break;
      }
    }
  }
  return b;
}

/**
 * Inputs derived from the seeds: one to four mutations of one of them. With `hotspots` (byte
 * offsets per seed worth hitting, e.g. a tar's numeric fields), half the mutations land there.
 */
export function mutatedInputs(
  seeds: readonly Uint8Array[],
  hotspots?: readonly (readonly number[])[],
): fc.Arbitrary<Buffer> {
  return fc
    .tuple(
      fc.nat({ max: seeds.length - 1 }),
      fc.array(fc.tuple(mutation, fc.boolean(), fc.nat()), { minLength: 1, maxLength: 4 }),
    )
    .map(([i, ms]) => {
      const spots = hotspots?.[i] ?? [];
      return mutate(
        seeds[i]!,
        ms.map(([m, hot, pick]) => (hot && spots.length > 0 ? { ...m, at: spots[pick % spots.length]! } : m)),
      );
    });
}

/**
 * Offsets of a tar's numeric header fields (mode to type flag) and of its pax records: where
 * a mutation makes a header lie about sizes instead of merely failing its checksum.
 */
export function tarHotspots(tar: Uint8Array): number[] {
  const spots: number[] = [];
  const b = Buffer.from(tar);
  for (let at = 0; at + 512 <= b.length; ) {
    if (b.toString('latin1', at + 257, at + 262) !== 'ustar') {
      at += 512;
      continue;
    }
    for (let i = at + 100; i < at + 157; i++) spots.push(i);
    const size = Number.parseInt(b.toString('latin1', at + 124, at + 135), 8) || 0;
    if (b[at + 156] === 0x78 /* x: pax */) for (let i = at + 512; i < at + 512 + size; i++) spots.push(i);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return spots;
}

export interface FuzzFigures {
  target: string;
  inputs: number;
  corpus: number;
  /** Inputs the target accepted (a result, not an error). */
  accepted: number;
  /** Typed errors, by code. */
  codes: Record<string, number>;
  failures: string[];
}

/** Classify one outcome: undefined when it satisfies the property, else what went wrong. */
function verdict(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  const e = err as { name?: unknown; code?: unknown; message?: unknown; constructor?: { name?: string } };
  if (err instanceof Error && typeof e.code === 'string' && /^ERR_[A-Z_]+$/.test(e.code) && isOurs(err))
    return undefined;
  return `${e.constructor?.name ?? typeof err}: ${String(e.message ?? err).slice(0, 200)}`;
}

/** True for OciDeltaError and its subclasses, whichever copy of the package threw it. */
function isOurs(err: Error): boolean {
  for (let p: object | null = err; p; p = Object.getPrototypeOf(p)) {
    if ((p as { constructor?: { name?: string } }).constructor?.name === 'OciDeltaError') return true;
  }
  return false;
}

async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HANG: no result or error within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export interface FuzzTarget {
  /** Names the target in figures and corpus (`test-support/corpus/<name>/`). */
  name: string;
  /** Well-formed inputs to mutate. */
  seeds: readonly Uint8Array[];
  /** Offsets worth mutating in each seed (see tarHotspots). */
  hotspots?: (seed: Uint8Array) => number[];
  /** Parse one input; resolve with anything, or throw. */
  run: (input: Buffer) => Promise<unknown>;
  /** Mutated inputs to try (besides the corpus). */
  runs: number;
  /** Deadline per input (default 10 s: a hang, not a slow input). */
  deadlineMs?: number;
  /** Largest growth of the heap plus buffers over the whole target (default 512 MiB). */
  maxMemoryGrowth?: number;
  /**
   * Repair applied to every other mutated input (e.g. tar header checksums), so mutations get
   * past the first integrity check and reach the parsing behind it.
   */
  fixup?: (input: Buffer) => Buffer;
}

/**
 * Recompute the checksum of every 512-byte block that looks like a ustar header, so a mutated
 * tar still passes its header checks and the fields behind them are what gets tested.
 */
export function fixTarChecksums(input: Buffer): Buffer {
  const b = Buffer.from(input);
  for (let at = 0; at + 512 <= b.length; at += 512) {
    if (b.toString('latin1', at + 257, at + 262) !== 'ustar') continue;
    b.fill(0x20, at + 148, at + 156);
    let sum = 0;
    for (let i = at; i < at + 512; i++) sum += b[i]!;
    b.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 8, 'latin1');
  }
  return b;
}

/**
 * Run a target: corpus first, then `runs` mutated inputs with the fixed seed. Returns the
 * figures; the caller asserts `failures` is empty (and prints the figures).
 */
export async function fuzz(t: FuzzTarget): Promise<FuzzFigures> {
  const figures: FuzzFigures = { target: t.name, inputs: 0, corpus: 0, accepted: 0, codes: {}, failures: [] };
  const deadline = t.deadlineMs ?? 10_000;
  const memory = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = memory();
  let peak = before;
  const one = async (input: Buffer, label: string): Promise<void> => {
    figures.inputs++;
    let err: unknown;
    try {
      await withDeadline(t.run(input), deadline);
      figures.accepted++;
    } catch (e) {
      err = e;
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string') figures.codes[code] = (figures.codes[code] ?? 0) + 1;
    }
    peak = Math.max(peak, memory());
    const bad = verdict(err);
    if (bad && figures.failures.length < 10)
      figures.failures.push(
        `${label} (${input.length} bytes, ${input.subarray(0, 24).toString('hex')}...): ${bad}`,
      );
  };
  for (const [name, input] of corpus(t.name)) {
    figures.corpus++;
    await one(input, `corpus ${name}`);
  }
  await fc.assert(
    fc.asyncProperty(
      mutatedInputs(t.seeds, t.hotspots ? t.seeds.map(t.hotspots) : undefined),
      fc.boolean(),
      async (input, fix) => {
        await one(
          fix && t.fixup ? t.fixup(input) : input,
          fix && t.fixup ? 'mutated input (fixed up)' : 'mutated input',
        );
        return true;
      },
    ),
    { seed: FUZZ_SEED, numRuns: t.runs, endOnFailure: true },
  );
  const growth = peak - before;
  if (growth > (t.maxMemoryGrowth ?? 512 * 1024 * 1024))
    figures.failures.push(`memory grew by ${Math.round(growth / 1048576)} MiB over the run`);
  const codes = Object.entries(figures.codes)
    .map(([c, n]) => `${c}=${n}`)
    .join(' ');
  process.stdout.write(
    `fuzz ${t.name}: ${figures.inputs} inputs (${figures.corpus} corpus, seed ${FUZZ_SEED}), ${figures.accepted} accepted, ${figures.failures.length} failures; errors ${codes || 'none'}\n`,
  );
  return figures;
}
