// Hostile tar headers: every numeric field (octal, base-256, pax) is a non-negative integer
// inside the file, and every reader (the tar index, the artifact tar reader, layer extraction
// and layer trees) either moves forward or fails with a typed error: never a hang.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyLayerToTree, extractLayerTar, isOciDeltaError, TarIndex } from '../src/index.js';
import { BLOCK, encodeHeader, encodePax, paddingFor, parsePax } from '../src/tar/format.js';
import { readTar } from '../src/tar/index.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ocidelta-hostile-tar-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A pax header carrying `records`, then a file `name` with `body`, then the end marker. */
function paxTar(records: Record<string, string>, name = 'f', body = Buffer.from('hello')): Buffer {
  const pax = encodePax(records);
  return Buffer.concat([
    encodeHeader({ name: 'PaxHeader', size: pax.length, type: 'pax' }),
    pax,
    Buffer.alloc(paddingFor(pax.length)),
    encodeHeader({ name, size: body.length, type: 'file' }),
    body,
    Buffer.alloc(paddingFor(body.length)),
    Buffer.alloc(2 * BLOCK),
  ]);
}

/** A plain tar whose first header's size field is replaced by `field` (checksum fixed up). */
function sizeFieldTar(field: Buffer): Buffer {
  const h = Buffer.from(encodeHeader({ name: 'f', size: 5, type: 'file' }));
  field.copy(h, 124);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return Buffer.concat([h, Buffer.from('hello'), Buffer.alloc(paddingFor(5)), Buffer.alloc(2 * BLOCK)]);
}

const hostile: [string, Buffer][] = [
  ['a negative pax size', paxTar({ size: '-1536' })],
  ['a fractional pax size', paxTar({ size: '1.5' })],
  ['a pax size past 2^53', paxTar({ size: '99999999999999999' })],
  [
    'a negative base-256 size',
    sizeFieldTar(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfa, 0x00])),
  ],
  [
    'a base-256 size past 2^53',
    sizeFieldTar(Buffer.from([0x80, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
  ],
];

async function file(bytes: Buffer): Promise<string> {
  const path = join(work, `t-${Math.random().toString(36).slice(2)}.tar`);
  await writeFile(path, bytes);
  return path;
}

/** Malformed pax records: our readers refuse them; the layer tar parser skips them (as GNU tar). */
const badPaxRecord = paxTar({ path: 'x' }).fill(0x39, BLOCK, BLOCK + 2);

describe('hostile tar numeric fields', () => {
  it('a pax record whose length runs past its data is refused by the index and the artifact reader', async () => {
    const scan = await TarIndex.scan(await file(badPaxRecord)).catch((e: unknown) => e);
    expect(isOciDeltaError(scan, 'ERR_INVALID_ARCHIVE')).toBe(true);
    const read = await (async () => {
      for await (const entry of readTar(Readable.from([badPaxRecord]), 'x.mender'))
        for await (const _ of entry.body);
    })().catch((e: unknown) => e);
    expect(isOciDeltaError(read, 'ERR_INVALID_ARCHIVE')).toBe(true);
  });

  it.each(hostile)('TarIndex.scan refuses %s with a typed error', async (_what, tar) => {
    const err = await TarIndex.scan(await file(tar)).catch((e: unknown) => e);
    expect(isOciDeltaError(err)).toBe(true);
    expect((err as { code: string }).code).toMatch(/^ERR_(INVALID_ARCHIVE|TRUNCATED)$/);
  });

  it.each(hostile)('the artifact tar reader refuses %s with a typed error', async (_what, tar) => {
    const err = await (async () => {
      for await (const entry of readTar(Readable.from([tar]), 'x.mender')) for await (const _ of entry.body);
    })().catch((e: unknown) => e);
    expect(isOciDeltaError(err)).toBe(true);
  });

  it.each(hostile)('layer extraction refuses %s with a typed error', async (_what, tar) => {
    const dir = await mkdtemp(join(work, 'x-'));
    const err = await extractLayerTar(Readable.from([tar]), dir).catch((e: unknown) => e);
    expect(isOciDeltaError(err)).toBe(true);
  });

  it.each(hostile)('a layer tree refuses %s with a typed error', async (_what, tar) => {
    const err = await applyLayerToTree(new Map(), Readable.from([tar])).catch((e: unknown) => e);
    expect(isOciDeltaError(err)).toBe(true);
  });

  it('still reads a well-formed pax size and path', async () => {
    const index = await TarIndex.scan(await file(paxTar({ path: 'long/name', size: '5' })));
    expect(index.get('long/name')).toMatchObject({ size: 5 });
  });
});

describe('pax records', () => {
  it('encodes lengths that count their own digits (at the 9/10 and 99/100 edges) and raw bytes', () => {
    // " k=" + value + "\n": body lengths 4..120 cross both edges where the length gains a digit.
    for (let n = 0; n < 118; n++) {
      const value = 'v'.repeat(n);
      const data = encodePax([['k', value]]);
      expect(parsePax(data)).toEqual({ k: value });
      expect(Number(data.toString('latin1').split(' ')[0])).toBe(data.length);
    }
    const binary = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x20, 0x3d]);
    const data = encodePax([['SCHILY.xattr.user.cap', binary]]);
    const start = data.indexOf('=') + 1;
    expect(data.subarray(start, start + binary.length)).toEqual(binary);
    expect(data.at(-1)).toBe(0x0a);
  });
});
