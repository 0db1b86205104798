// Fuzz target of @ocidelta/delta: the VCDIFF decoder (plain and emulating the device's source
// cache) over mutated deltas from our encoder and from `xdelta3 -e` (see test-support/fuzz.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { fuzz } from '../../../test-support/fuzz.js';
import { decode, encode } from '../src/vcdiff/index.js';

let work: string;
const source = Buffer.alloc(96 * 1024);
for (let i = 0; i < source.length; i++) source[i] = (i * 2654435761) >>> 25;
const target = Buffer.concat([
  source.subarray(4096, 40_000),
  Buffer.from('inserted text '.repeat(300)),
  source.subarray(0, 30_000),
]);
const seeds: Buffer[] = [];

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ocidelta-fuzz-delta-'));
  seeds.push(await collect(encode(source, Readable.from([target]))));
  seeds.push(await collect(encode(source, Readable.from([target]), { windowSize: 16 * 1024 })));
  if (haveBinaries('xdelta3')) {
    writeFileSync(join(work, 's'), source);
    writeFileSync(join(work, 't'), target);
    for (const flags of [
      ['-S', 'none'],
      ['-S', 'none', '-9'],
      ['-S', 'none', '-n'],
    ]) {
      execFileSync('xdelta3', [
        '-e',
        '-f',
        ...flags,
        '-s',
        join(work, 's'),
        join(work, 't'),
        join(work, 'd'),
      ]);
      seeds.push(readFileSync(join(work, 'd')));
    }
  }
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('fuzz: VCDIFF decoder', () => {
  it('decodes our seeds back to the target (the property is checked against real deltas)', async () => {
    for (const s of seeds)
      expect((await collect(decode(source, Readable.from([s])))).equals(target)).toBe(true);
  });

  it('mutated deltas give a typed error or a result, in time and bounded memory', {
    timeout: 600_000,
  }, async () => {
    const plain = await fuzz({
      name: 'vcdiff',
      seeds,
      runs: 6000,
      run: (b) => collect(decode(source, Readable.from([b]))),
    });
    const device = await fuzz({
      name: 'vcdiff-device',
      seeds,
      runs: 3000,
      run: (b) =>
        collect(
          decode(source, Readable.from([b]), {
            device: { sourceAccess: 'sequential', sourceWindow: 1 << 16 },
          }),
        ),
    });
    expect([...plain.failures, ...device.failures]).toEqual([]);
  });
});
