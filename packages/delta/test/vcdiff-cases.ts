/** Deterministic source/target pairs for the VCDIFF tests: random and structured edits. */

/** xorshift32 PRNG so every run sees the same inputs. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function randomBytes(n: number, seed: number): Buffer {
  const r = rng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = r() & 0xff;
  return b;
}

/** Text-like bytes: words from a small vocabulary, so self-copies and short matches occur. */
export function textBytes(n: number, seed: number): Buffer {
  const r = rng(seed);
  const words = [
    'alpha',
    'beta',
    'gamma',
    'delta',
    'layer',
    'image',
    'json',
    '{"k":',
    '\n',
    '  ',
    'sha256:',
    '0',
  ];
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const w = r() % 7 === 0 ? (r() % 100000).toString(16) : (words[r() % words.length] as string);
    parts.push(w);
    len += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

/** Apply random edits (insert, delete, replace, duplicate) to `src`. */
export function mutate(src: Buffer, edits: number, seed: number): Buffer {
  const r = rng(seed);
  let out = Buffer.from(src);
  for (let e = 0; e < edits; e++) {
    const at = out.length ? r() % out.length : 0;
    const len = 1 + (r() % 2000);
    switch (r() % 4) {
      case 0:
        out = Buffer.concat([out.subarray(0, at), randomBytes(len, r()), out.subarray(at)]);
        break;
      case 1:
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + len))]);
        break;
      case 2:
        randomBytes(Math.min(len, out.length - at), r()).copy(out, at);
        break;
      default: {
        const from = out.length ? r() % out.length : 0;
        out = Buffer.concat([out.subarray(0, at), out.subarray(from, from + len), out.subarray(at)]);
      }
    }
  }
  return out;
}

export interface Case {
  name: string;
  source: Buffer;
  target: Buffer;
}

/** The small cases every round-trip test runs. */
export function smallCases(): Case[] {
  const base = randomBytes(200_000, 1);
  const text = textBytes(150_000, 2);
  const blocks = randomBytes(64 * 1024, 3);
  const shifted = Buffer.concat([
    blocks.subarray(32 * 1024),
    randomBytes(777, 4),
    blocks.subarray(0, 32 * 1024),
  ]);
  const runs = Buffer.concat([
    Buffer.alloc(5000, 0),
    randomBytes(100, 5),
    Buffer.alloc(300, 0x41),
    Buffer.from('abababababababababababab'),
    Buffer.alloc(3, 7),
    Buffer.alloc(70_000, 0xff),
  ]);
  return [
    { name: 'empty target', source: base, target: Buffer.alloc(0) },
    { name: 'empty source', source: Buffer.alloc(0), target: text.subarray(0, 50_000) },
    { name: 'both empty', source: Buffer.alloc(0), target: Buffer.alloc(0) },
    { name: '1 byte', source: Buffer.from('x'), target: Buffer.from('y') },
    { name: '1 byte same', source: Buffer.from('x'), target: Buffer.from('x') },
    { name: 'identical', source: base, target: Buffer.from(base) },
    { name: 'all new', source: base, target: randomBytes(100_000, 9) },
    { name: 'shifted blocks', source: blocks, target: shifted },
    { name: 'random edits', source: base, target: mutate(base, 40, 10) },
    { name: 'text edits', source: text, target: mutate(text, 60, 11) },
    { name: 'deleted prefix', source: base, target: base.subarray(12_345) },
    {
      name: 'inserted middle',
      source: base,
      target: Buffer.concat([base.subarray(0, 99_999), Buffer.from('hello'), base.subarray(99_999)]),
    },
    { name: 'repeated runs', source: text.subarray(0, 1000), target: runs },
    { name: 'tiny source', source: Buffer.from('abc'), target: textBytes(3000, 12) },
    { name: 'short target', source: text, target: text.subarray(500, 517) },
  ];
}
