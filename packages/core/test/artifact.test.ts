/**
 * Mender artifact writer/reader behaviour without external binaries: option validation, temp
 * files and size limits, aborts, payloads changing between passes, progress, and the reader's
 * typed errors for malformed artifacts (order, unknown members, truncation, strict JSON).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { hasZstdCompression } from '../src/index.js';
import { goMarshal } from '../src/mender/gojson.js';
import {
  type ArtifactProgress,
  openArtifactPayload,
  parseKeyValues,
  readArtifact,
  type WriteArtifactOptions,
  writeArtifact,
} from '../src/mender/index.js';
import { TAR_END, encodeHeader as tarHeader, padding as tarPadding } from '../src/tar/index.js';
import { codeOf, drain, outerMembers } from './artifact-helpers.js';

let dir: string;
let payload: string;
const content = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 256));

const base = (): WriteArtifactOptions => ({
  type: 'app',
  artifactName: 'a-1',
  deviceTypes: ['dev'],
  files: [payload],
});

/** Files in `dir` other than the inputs (to catch leftover temp files). */
function leftovers(sub: string): string[] {
  return readdirSync(sub).filter((f) => f.includes('.tmp-'));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ocidelta-artifact-unit-'));
  payload = join(dir, 'payload.bin');
  writeFileSync(payload, content);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeArtifact options', () => {
  const bad: Array<[string, () => Partial<WriteArtifactOptions>, string]> = [
    ['no device types', () => ({ deviceTypes: [] }), 'deviceTypes'],
    ['whitespace in the artifact name', () => ({ artifactName: 'a b' }), 'artifactName'],
    ['control character in a provide', () => ({ provides: { k: 'v\n' } }), 'provides'],
    ['string longer than 256', () => ({ softwareVersion: 'x'.repeat(257) }), 'softwareVersion'],
    ['unknown compression', () => ({ compression: 'brotli' as 'gzip' }), 'compression'],
    ['payload name with a slash', () => ({ files: [{ name: 'a/b', path: payload }] }), 'a/b'],
    [
      'duplicate payload names',
      () => ({ files: [payload, { name: 'payload.bin', path: payload }] }),
      'duplicate',
    ],
    ['payload without a source', () => ({ files: [{ name: 'x' }] }), 'files.0'],
    [
      'metaData that is not an object',
      () => ({ metaData: [1] as unknown as Record<string, unknown> }),
      'metaData',
    ],
  ];
  for (const [name, patch, mention] of bad) {
    it(`rejects ${name} with ERR_INVALID_OPTIONS`, async () => {
      const out = join(dir, 'invalid.mender');
      const err = await codeOf(writeArtifact(out, { ...base(), ...patch() }));
      expect(err.code).toBe('ERR_INVALID_OPTIONS');
      expect(err.message).toContain(mention);
      expect(readdirSync(dir)).not.toContain('invalid.mender');
    });
  }

  it('zstd: clear error on runtimes without it, else a readable artifact', async () => {
    const out = join(dir, 'zstd.mender');
    if (!hasZstdCompression()) {
      const err = await codeOf(writeArtifact(out, { ...base(), compression: 'zstd' }));
      expect(err.code).toBe('ERR_INVALID_OPTIONS');
      expect(err.message).toContain('zstd');
    } else {
      await writeArtifact(out, { ...base(), compression: 'zstd' });
      const info = await readArtifact(out);
      expect(info.compression).toBe('zstd');
      expect(outerMembers(out).map((m) => m.name)).toContain('data/0000.tar.zst');
    }
  });

  it('splits KEY:VALUE on the first colon and names the flag on error', () => {
    expect(parseKeyValues(['a:b:c', 'd:'], '--depends')).toEqual({ a: 'b:c', d: '' });
    expect(() => parseKeyValues(['nocolon'], '--provides')).toThrow(/--provides.*nocolon/);
  });
});

describe('writeArtifact I/O', () => {
  it('leaves nothing behind when a payload file is missing', async () => {
    const out = join(dir, 'missing.mender');
    const err = await codeOf(writeArtifact(out, { ...base(), files: [join(dir, 'nope.bin')] }));
    expect(err.code).toBe('ERR_INPUT');
    expect(err.message).toContain('nope.bin');
    expect(readdirSync(dir)).not.toContain('missing.mender');
    expect(leftovers(dir)).toEqual([]);
  });

  it('names the output when it cannot be created', async () => {
    const out = join(dir, 'no-such-dir', 'x.mender');
    const err = await codeOf(writeArtifact(out, base()));
    expect(err.code).toBe('ERR_INPUT');
    expect(err.message).toContain(out);
  });

  it('enforces maxArtifactSize and warns above warnArtifactSize', async () => {
    const out = join(dir, 'big.mender');
    const err = await codeOf(writeArtifact(out, { ...base(), compression: 'none', maxArtifactSize: 4096 }));
    expect(err.code).toBe('ERR_ARTIFACT_TOO_LARGE');
    expect(readdirSync(dir)).not.toContain('big.mender');
    expect(leftovers(dir)).toEqual([]);

    const warnings: string[] = [];
    const r = await writeArtifact(out, {
      ...base(),
      compression: 'none',
      warnArtifactSize: 4096,
      maxArtifactSize: 1 << 20,
      onWarning: (m) => warnings.push(m),
    });
    expect(r.size).toBe(readFileSync(out).length);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(String(r.size));
    const quiet: string[] = [];
    await writeArtifact(out, { ...base(), warnArtifactSize: r.size * 10, onWarning: (m) => quiet.push(m) });
    expect(quiet).toEqual([]);
  });

  it('aborts on the signal without leaving output', async () => {
    const out = join(dir, 'aborted.mender');
    const ac = new AbortController();
    const slow = {
      name: 'slow.bin',
      open: () =>
        Readable.from(
          (async function* () {
            for (let i = 0; i < 100; i++) {
              if (i === 3) ac.abort();
              yield Buffer.alloc(1024, i);
              await new Promise((r) => setTimeout(r, 1));
            }
          })(),
        ),
    };
    const err = await codeOf(writeArtifact(out, { ...base(), files: [slow], signal: ac.signal }));
    expect(err.code).toBe('ERR_ABORTED');
    expect(readdirSync(dir)).not.toContain('aborted.mender');
    expect(leftovers(dir)).toEqual([]);
  });

  it('fails when a payload changes size while it is written', async () => {
    let calls = 0;
    // No size given: counted first, then written; the second read is longer.
    const changing = {
      name: 'c.bin',
      open: () => Readable.from([Buffer.from(calls++ === 0 ? 'one' : 'three')]),
    };
    const err = await codeOf(writeArtifact(join(dir, 'changed.mender'), { ...base(), files: [changing] }));
    expect(err.code).toBe('ERR_INPUT');
    expect(err.message).toContain('changed');
    const short = { name: 's.bin', size: 10, open: () => Readable.from([Buffer.from('four')]) };
    expect((await codeOf(writeArtifact(join(dir, 'short.mender'), { ...base(), files: [short] }))).code).toBe(
      'ERR_INPUT',
    );
    expect(leftovers(dir)).toEqual([]);
  });

  it('reads a sized stream once and checks a given sha256', async () => {
    const { createHash } = await import('node:crypto');
    const sha256 = createHash('sha256').update(content).digest('hex');
    let opens = 0;
    const file = {
      name: 'pre.bin',
      size: content.length,
      sha256,
      open: () => {
        opens++;
        return Readable.from([content]);
      },
    };
    const out = join(dir, 'pre.mender');
    const r = await writeArtifact(out, { ...base(), files: [file] });
    expect(opens).toBe(1);
    expect(r.checksums['data/0000/pre.bin']).toBe(sha256);
    expect((await drain(await openArtifactPayload(out, 'pre.bin'))).equals(content)).toBe(true);

    const wrong = { ...file, sha256: sha256.replace(/^./, sha256[0] === 'a' ? 'b' : 'a') };
    expect((await codeOf(writeArtifact(out, { ...base(), files: [wrong] }))).code).toBe('ERR_INPUT');
  });

  it('reports progress; only streams without a size are counted first', async () => {
    const events: ArtifactProgress[] = [];
    await writeArtifact(join(dir, 'progress.mender'), { ...base(), onProgress: (e) => events.push(e) });
    expect(events.filter((e) => e.phase === 'hash')).toEqual([]);
    const write = events.filter((e) => e.phase === 'write');
    expect(write.at(-1)).toMatchObject({
      item: 'payload.bin',
      done: content.length,
      total: content.length,
      overall: { done: content.length, total: content.length },
    });

    const streamed: ArtifactProgress[] = [];
    let opens = 0;
    const file = {
      name: 'streamed.bin',
      open: () => {
        opens++;
        return Readable.from([content]);
      },
    };
    const out = join(dir, 'progress2.mender');
    await writeArtifact(out, { ...base(), files: [file], onProgress: (e) => streamed.push(e) });
    expect(opens).toBe(2);
    expect(streamed.find((e) => e.phase === 'hash')?.done).toBe(content.length);
    expect(streamed.at(-1)).toMatchObject({ phase: 'write', done: content.length, total: content.length });
    expect((await drain(await openArtifactPayload(out, 'streamed.bin'))).equals(content)).toBe(true);
  });

  it('writes the mtime it is given', async () => {
    const out = join(dir, 'mtime.mender');
    await writeArtifact(out, { ...base(), mtime: new Date('2024-01-02T03:04:05Z') });
    const info = await readArtifact(out);
    expect(info.payloads[0]!.mtime).toBe(Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
  });
});

describe('Go-compatible JSON', () => {
  it('matches what mender-artifact 3.9 wrote for the same meta-data (recorded)', () => {
    // Recorded from `mender-artifact write module-image -m` with this input.
    const input = JSON.parse(
      '{"k":"<&>\\u2028 é \\b\\f\\u0001 \\ud83d\\ude00","n":[1e21,1e-7,0.1,-0,100000000000000000000,1.5e300]}',
    ) as Record<string, unknown>;
    expect(goMarshal(input)).toBe(
      '{"k":"\\u003c\\u0026\\u003e\\u2028 é \\u0008\\u000c\\u0001 😀","n":[1e+21,1e-7,0.1,-0,100000000000000000000,1.5e+300]}',
    );
  });
});

describe('readArtifact rejects malformed artifacts', () => {
  let good: string;
  let members: Record<string, Buffer>;
  beforeAll(async () => {
    good = join(dir, 'good.mender');
    await writeArtifact(good, { ...base(), compression: 'none' });
    const buf = readFileSync(good);
    members = Object.fromEntries(
      outerMembers(good).map((m) => [m.name, buf.subarray(m.offset, m.offset + m.size)]),
    );
  });

  function assemble(name: string, list: Array<[string, Buffer]>): string {
    const parts: Buffer[] = [];
    for (const [n, body] of list)
      parts.push(tarHeader({ name: n, size: body.length }), body, tarPadding(body.length));
    parts.push(TAR_END);
    const p = join(dir, name);
    writeFileSync(p, Buffer.concat(parts));
    return p;
  }
  const m = (n: string): [string, Buffer] => [n, members[n]!];

  it('reads the well-formed one', async () => {
    const info = await readArtifact(good);
    expect(info.payloads).toEqual([expect.objectContaining({ name: 'payload.bin', size: content.length })]);
    expect(info.checksumsVerified).toBe(true);
    expect(info.signed).toBe(false);
  });

  it('out-of-order members', async () => {
    const p = assemble('order.mender', [m('version'), m('header.tar'), m('manifest'), m('data/0000.tar')]);
    const err = await codeOf(readArtifact(p));
    expect(err.code).toBe('ERR_INVALID_ARTIFACT');
    expect(err.message).toMatch(/out-of-order/);
    const first = assemble('first.mender', [
      m('manifest'),
      m('version'),
      m('header.tar'),
      m('data/0000.tar'),
    ]);
    expect((await codeOf(readArtifact(first))).message).toContain('expected version as the first member');
  });

  it('unknown members', async () => {
    const p = assemble('augment.mender', [
      m('version'),
      m('manifest'),
      ['manifest-augment', Buffer.from('x')],
      m('header.tar'),
      m('data/0000.tar'),
    ]);
    const err = await codeOf(readArtifact(p));
    expect(err.code).toBe('ERR_INVALID_ARTIFACT');
    expect(err.message).toContain('unknown member manifest-augment');
  });

  it('wrong format version', async () => {
    const v2 = Buffer.from('{"format":"mender","version":2}');
    const p = assemble('v2.mender', [['version', v2], m('manifest'), m('header.tar'), m('data/0000.tar')]);
    const err = await codeOf(readArtifact(p));
    expect(err.code).toBe('ERR_INVALID_ARTIFACT');
    expect(err.message).toContain('version 2');
  });

  it('missing data and truncated archives', async () => {
    const noData = assemble('nodata.mender', [m('version'), m('manifest'), m('header.tar')]);
    expect((await codeOf(readArtifact(noData))).message).toContain('missing');
    const cut = join(dir, 'cut.mender');
    writeFileSync(cut, readFileSync(good));
    const data = outerMembers(good).find((x) => x.name === 'data/0000.tar')!;
    truncateSync(cut, data.offset + 700);
    expect((await codeOf(readArtifact(cut))).code).toBe('ERR_TRUNCATED');
  });

  it('unknown JSON keys in header-info (the Go reader rejects them too)', async () => {
    const { buildHeaderTar } = await import('../src/mender/header-tar.js');
    const tar = buildHeaderTar(base()).toString('latin1').replace('"payloads"', '"payloadz"');
    const header = Buffer.from(tar, 'latin1');
    const { createHash } = await import('node:crypto');
    const manifest = members
      .manifest!.toString()
      .replace(/^[a-f0-9]{64}(?= {2}header\.tar$)/m, createHash('sha256').update(header).digest('hex'));
    const p = assemble('keys.mender', [
      m('version'),
      ['manifest', Buffer.from(manifest)],
      ['header.tar', header],
      m('data/0000.tar'),
    ]);
    const err = await codeOf(readArtifact(p));
    expect(err.code).toBe('ERR_INVALID_ARTIFACT');
    expect(err.message).toContain('header-info');
  });

  /** The good artifact with its header member replaced by `header` stored as `name`. */
  async function withHeader(file: string, name: string, header: Buffer): Promise<string> {
    const { createHash } = await import('node:crypto');
    const manifest = members
      .manifest!.toString()
      .replace(
        /^[a-f0-9]{64} {2}header\.tar$/m,
        `${createHash('sha256').update(header).digest('hex')}  ${name}`,
      );
    return assemble(file, [
      m('version'),
      ['manifest', Buffer.from(manifest)],
      [name, header],
      m('data/0000.tar'),
    ]);
  }

  it('a header.tar.gz that inflates to 256 MiB is refused at the 16 MiB limit, not inflated', async () => {
    const { gzipSync } = await import('node:zlib');
    // A valid header followed by zeros: unbounded, it inflated fully and read as a valid artifact.
    const bomb = gzipSync(Buffer.concat([members['header.tar']!, Buffer.alloc(256 * 1024 * 1024)]), {
      level: 1,
    });
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    const p = await withHeader('bomb.mender', 'header.tar.gz', bomb);
    const before = process.memoryUsage().arrayBuffers;
    const err = await codeOf(readArtifact(p));
    expect(err.code).toBe('ERR_INVALID_ARTIFACT');
    expect(err.message).toMatch(/header\.tar\.gz unpacks to more than the header limit of 16777216 bytes/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(128 * 1024 * 1024);
    // The limit is an option: raised, the same artifact reads.
    const info = await readArtifact(p, { maxHeaderSize: 300 * 1024 * 1024 });
    expect(info.headerInfo.payloads).toHaveLength(1);
  });

  it('a header.tar.zst whose frame asks for a 1 GiB window is refused before decoding', async () => {
    // magic, frame header descriptor (no single segment, no checksum), window descriptor 2^30.
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (30 - 10) << 3, 0x01, 0x00, 0x00]);
    const err = await codeOf(readArtifact(await withHeader('zbomb.mender', 'header.tar.zst', frame)));
    expect(err.code).toBe('ERR_INVALID_ARTIFACT');
    expect(err.message).toMatch(/header\.tar\.zst unpacks to more than the header limit/);
  });

  /** The header tar followed by 64 MiB of zeros, in a file: a bomb once compressed. */
  function zeroedHeaderTar(name: string): string {
    const raw = join(dir, name);
    writeFileSync(raw, Buffer.concat([members['header.tar']!, Buffer.alloc(64 * 1024 * 1024)]));
    return raw;
  }

  /** An artifact with `stored` as its header member is refused at a 4 MiB header limit. */
  async function expectPastHeaderLimit(file: string, member: string, stored: Buffer): Promise<void> {
    const p = await withHeader(file, member, stored);
    const err = await codeOf(readArtifact(p, { maxHeaderSize: 4 * 1024 * 1024 }));
    expect(err.message).toMatch(/unpacks to more than the header limit of 4194304 bytes/);
  }

  it.skipIf(!haveBinaries('zstd'))(
    'a header.tar.zst that decodes past the limit stops at the limit',
    async () => {
      const { execFileSync } = await import('node:child_process');
      const raw = zeroedHeaderTar('zeros.tar');
      execFileSync('zstd', ['-q', '-f', '-3', '--no-content-size', raw, '-o', `${raw}.zst`]);
      await expectPastHeaderLimit('zbomb2.mender', 'header.tar.zst', readFileSync(`${raw}.zst`));
    },
  );

  it.skipIf(!haveBinaries('xz'))(
    'a header.tar.xz that decodes past the limit stops at the limit; a corrupt one is a typed error',
    async () => {
      const { execFileSync } = await import('node:child_process');
      const raw = zeroedHeaderTar('zeros-xz.tar');
      execFileSync('xz', ['-q', '-f', '-k', '-1', raw]);
      const bomb = readFileSync(`${raw}.xz`);
      expect(bomb.length).toBeLessThan(1024 * 1024);
      await expectPastHeaderLimit('xzbomb.mender', 'header.tar.xz', bomb);
      const corrupt = Buffer.from(bomb);
      corrupt.fill(0x55, 100, 200);
      const q = await withHeader('xzcorrupt.mender', 'header.tar.xz', corrupt);
      const bad = await codeOf(readArtifact(q));
      expect(bad.code).toBe('ERR_INVALID_ARTIFACT');
      expect(bad.message).toMatch(/cannot decompress header\.tar\.xz/);
    },
  );

  it('where lzma-native does not load: xz writes gzip with a warning, reading xz is a typed error', async () => {
    const { reloadXzModuleForTests } = await import('../src/xz.js');
    const xzFile = join(dir, 'xz-ok.mender');
    await writeArtifact(xzFile, { ...base(), compression: 'xz' });
    reloadXzModuleForTests('lzma-native-not-installed');
    try {
      const warnings: string[] = [];
      const out = join(dir, 'xz-fallback.mender');
      const r = await writeArtifact(out, {
        ...base(),
        compression: 'xz',
        onWarning: (w) => warnings.push(w),
      });
      expect(r.compression).toBe('gzip');
      expect(warnings.join('\n')).toMatch(
        /gzip artifact instead of xz: the optional native module lzma-native/,
      );
      expect((await readArtifact(out)).compression).toBe('gzip');
      const err = await codeOf(readArtifact(xzFile));
      expect(err.code).toBe('ERR_UNSUPPORTED_COMPRESSION');
      expect(err.message).toMatch(/reading xz needs xz/);
    } finally {
      reloadXzModuleForTests('lzma-native');
    }
    expect((await readArtifact(xzFile)).compression).toBe('xz');
  });

  it('closes the file on errors and after streaming one payload', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const cut = join(dir, 'cut2.mender');
    writeFileSync(cut, readFileSync(good).subarray(0, 3000));
    await codeOf(readArtifact(cut));
    const before = fds();
    for (let i = 0; i < 20; i++) {
      await codeOf(readArtifact(cut));
      await drain(await openArtifactPayload(good, 'payload.bin'));
    }
    expect(fds() - before).toBeLessThan(5);
  });

  it.skipIf(!haveBinaries('zstd'))(
    'reads zstd artifacts (header and data re-packed with the zstd tool)',
    async () => {
      const { execFileSync } = await import('node:child_process');
      const { createHash } = await import('node:crypto');
      const zst = (data: Buffer) => execFileSync('zstd', ['-q', '-c', '-'], { input: data });
      const header = zst(members['header.tar']!);
      const data = zst(members['data/0000.tar']!);
      const manifest = members
        .manifest!.toString()
        .replace(/ {2}header\.tar$/m, '  header.tar.zst')
        .replace(
          /^[a-f0-9]{64}(?= {2}header\.tar\.zst$)/m,
          createHash('sha256').update(header).digest('hex'),
        );
      const p = assemble('zstd-read.mender', [
        m('version'),
        ['manifest', Buffer.from(manifest)],
        ['header.tar.zst', header],
        ['data/0000.tar.zst', data],
      ]);
      const info = await readArtifact(p);
      expect(info.compression).toBe('zstd');
      expect(info.payloads.map((x) => x.name)).toEqual(['payload.bin']);
      expect((await drain(await openArtifactPayload(p, 'payload.bin'))).equals(content)).toBe(true);
    },
  );

  it('not an artifact at all', async () => {
    const p = join(dir, 'junk.mender');
    writeFileSync(p, Buffer.alloc(1024, 7));
    expect((await codeOf(readArtifact(p))).code).toBe('ERR_INVALID_ARCHIVE');
    expect((await codeOf(readArtifact(dir))).code).toBe('ERR_INPUT');
    expect((await codeOf(readArtifact(join(dir, 'absent.mender')))).code).toBe('ERR_INPUT');
    expect((await codeOf(openArtifactPayload(good, 'other.bin'))).message).toContain(
      'no payload file named other.bin',
    );
  });
});

describe('parallel gzip', () => {
  it('produces one standard gzip member for mixed, incompressible, empty and odd-sized input', async () => {
    const { gunzipSync } = await import('node:zlib');
    const { randomBytes } = await import('node:crypto');
    const { parallelGzip } = await import('../src/mender/pgzip.js');
    const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(3000));
    const inputs = [
      Buffer.concat([randomBytes(70_000), text, randomBytes(50_000), text, randomBytes(300_000), text]),
      randomBytes(200_001),
      Buffer.alloc(0),
      text,
    ];
    for (const input of inputs) {
      const chunks = [input.subarray(0, 1000), input.subarray(1000, 99_999), input.subarray(99_999)];
      const parts: Buffer[] = [];
      for await (const p of parallelGzip(Readable.from(chunks), {
        blockSize: 16 * 1024,
        concurrency: 3,
        probeSize: 4096,
      })) {
        parts.push(p);
      }
      const gz = Buffer.concat(parts);
      expect(gunzipSync(gz).equals(input)).toBe(true);
      // Compressible input shrinks; incompressible input grows only by block overhead.
      if (input === text) expect(gz.length).toBeLessThan(input.length / 10);
      if (input.length === 200_001) expect(gz.length).toBeLessThan(input.length * 1.01);
    }
  });
});
