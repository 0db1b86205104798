/**
 * The one tar stack against GNU tar: what packTar writes GNU tar lists and extracts byte for
 * byte (long names, long link targets, binary xattrs, sizes enforced), and readTar reads what GNU
 * tar writes in its gnu, pax and ustar formats.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { OciDeltaError } from '../src/errors.js';
import { packTar, readTar, type TarMember } from '../src/tar/index.js';

const run = promisify(execFile);
const LONG_DIR = `${'d'.repeat(120)}/${'e'.repeat(90)}`;
const LONG_FILE = `${LONG_DIR}/${'f'.repeat(150)}.bin`;
const LONG_TARGET = `../${'t'.repeat(140)}`;

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(c);
  return Buffer.concat(parts);
}

describe.skipIf(!haveBinaries('tar'))('tar stack against GNU tar', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-tar-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('GNU tar extracts what packTar writes: long names and link targets, streamed bodies, xattrs', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0x5a);
    const members: TarMember[] = [
      { name: 'dir/', type: 'directory', mode: 0o750, mtime: 1_700_000_000 },
      { name: 'dir/small.txt', body: 'hello\n', mode: 0o640, mtime: 1_700_000_000 },
      {
        name: 'dir/big.bin',
        size: big.length,
        body: () => Readable.from([big.subarray(0, 1000), big.subarray(1000)]),
      },
      { name: `${LONG_DIR}/`, type: 'directory' },
      { name: LONG_FILE, body: 'long\n', pax: [['SCHILY.xattr.user.cap', Buffer.from([0, 1, 0xff, 0x80])]] },
      { name: 'dir/link', type: 'symlink', linkname: LONG_TARGET },
      { name: 'dir/hard', type: 'link', linkname: 'dir/small.txt' },
    ];
    const file = join(work, 'ours.tar');
    await pipeline(Readable.from(packTar(members)), createWriteStream(file));
    const { stdout } = await run('tar', ['-tvf', file]);
    expect(stdout).toContain(LONG_FILE);
    expect(stdout).toContain(`dir/link -> ${LONG_TARGET}`);
    expect(stdout).toContain('dir/hard link to dir/small.txt');
    expect(stdout).toMatch(/drwxr-x--- .* dir\//);
    const out = join(work, 'out');
    await mkdir(out);
    await run('tar', ['--xattrs', "--xattrs-include='*'", '-xf', file, '-C', out]);
    expect(await readFile(join(out, 'dir/small.txt'), 'utf8')).toBe('hello\n');
    expect((await readFile(join(out, 'dir/big.bin'))).equals(big)).toBe(true);
    expect(await readFile(join(out, LONG_FILE), 'utf8')).toBe('long\n');
    expect(await readlink(join(out, 'dir/link'))).toBe(LONG_TARGET);
    // The xattr value is stored as raw bytes (not re-encoded as UTF-8).
    const raw = await readFile(file);
    expect(
      raw.indexOf(
        Buffer.concat([Buffer.from('SCHILY.xattr.user.cap='), Buffer.from([0, 1, 0xff, 0x80, 0x0a])]),
      ),
    ).toBeGreaterThan(0);
    // Our reader sees the same members with the same bytes.
    const seen: Record<string, string> = {};
    for await (const { header, body } of readTar(Readable.from([await readFile(file)]), file)) {
      const data = await collect(body);
      seen[header.name] =
        `${header.type}:${header.linkname}:${createHash('sha256').update(data).digest('hex').slice(0, 8)}`;
    }
    expect(Object.keys(seen)).toEqual(members.map((m) => m.name));
    expect(seen['dir/link']).toMatch(new RegExp(`^symlink:${LONG_TARGET.replace(/\./g, '\\.')}:`));
  });

  it('a streamed body that is shorter or longer than its size is ERR_SIZE_MISMATCH', async () => {
    for (const actual of [9, 11]) {
      const members: TarMember[] = [
        { name: 'x', size: 10, body: () => Readable.from([Buffer.alloc(actual)]) },
      ];
      const err = await collect(packTar(members)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OciDeltaError);
      expect((err as OciDeltaError).code).toBe('ERR_SIZE_MISMATCH');
    }
  });

  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    it(`readTar reads GNU tar's ${format} format`, async () => {
      const src = join(work, `src-${format}`);
      const dir = format === 'ustar' ? `${'u'.repeat(120)}/v` : LONG_DIR;
      const name = format === 'ustar' ? `${dir}/file.txt` : LONG_FILE;
      await mkdir(join(src, dir), { recursive: true });
      await writeFile(join(src, name), `content of ${format}\n`);
      await writeFile(join(src, 'plain'), Buffer.alloc(70_000, 1));
      const target = format === 'ustar' ? 'plain' : LONG_TARGET;
      await symlink(target, join(src, 'sym'));
      const file = join(work, `${format}.tar`);
      await run('tar', [`--format=${format}`, '-cf', file, '-C', src, 'plain', 'sym', name]);
      const got = new Map<string, { type: string; linkname: string; data: Buffer }>();
      for await (const { header, body } of readTar(Readable.from([await readFile(file)]), file)) {
        got.set(header.name, { type: header.type, linkname: header.linkname, data: await collect(body) });
      }
      expect(got.get(name)?.data.toString()).toBe(`content of ${format}\n`);
      expect(got.get('plain')?.data.equals(Buffer.alloc(70_000, 1))).toBe(true);
      expect(got.get('sym')).toMatchObject({ type: 'symlink', linkname: target });
    });
  }
});
