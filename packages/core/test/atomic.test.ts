// Atomic files: a target appears whole or not at all, and no temp file outlives a failed write.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { moveIntoPlace, replaceFile, writeFileAtomic } from '../src/fs/atomic.js';
import { exists } from '../src/fs/exists.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function scratch(parent = tmpdir()): Promise<string> {
  const d = await mkdtemp(join(parent, 'ocidelta-atomic-'));
  dirs.push(d);
  return d;
}

describe('atomic files', () => {
  it('a failing stream leaves neither the target nor a temp file, and an old target untouched', async () => {
    const dir = await scratch();
    const target = join(dir, 'out.bin');
    await writeFile(target, 'old');
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error('cut'));
      },
    });
    await expect(writeFileAtomic(target, failing)).rejects.toThrow('cut');
    expect(await readFile(target, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['out.bin']);
  });

  it('replaceFile renames only what write finished, and returns its result', async () => {
    const dir = await scratch();
    const target = join(dir, 'x');
    const seen: string[] = [];
    const n = await replaceFile(target, async (tmp) => {
      seen.push(tmp);
      await writeFile(tmp, 'hello');
      expect(existsSync(target)).toBe(false);
      return 5;
    });
    expect(n).toBe(5);
    expect(seen[0]).toMatch(/\/\.tmp-x-\d+\.[0-9a-f]{8}-[0-9a-f]{12}$/);
    expect(await readFile(target, 'utf8')).toBe('hello');
    await expect(replaceFile(join(dir, 'y'), async () => Promise.reject(new Error('no')))).rejects.toThrow(
      'no',
    );
    expect((await readdir(dir)).sort()).toEqual(['x']);
  });

  it('writes a credentials file with mode 0600 whatever the umask', async () => {
    const dir = await scratch();
    const old = process.umask(0);
    try {
      expect(await writeFileAtomic(join(dir, 'c.json'), '{}\n', { mode: 0o600 })).toBe(3);
    } finally {
      process.umask(old);
    }
    expect((await stat(join(dir, 'c.json'))).mode & 0o777).toBe(0o600);
  });

  it('moveIntoPlace moves across filesystems (EXDEV) by copy and rename', async () => {
    if (!existsSync('/dev/shm')) throw new Error('/dev/shm (a tmpfs) is needed for the EXDEV case');
    const from = join(await scratch('/dev/shm'), 'delta.img');
    await writeFile(from, Buffer.alloc(100_000, 7));
    const dir = await scratch();
    expect((await stat(from)).dev).not.toBe((await stat(dir)).dev);
    await moveIntoPlace(from, join(dir, 'delta.img'));
    expect((await readFile(join(dir, 'delta.img'))).equals(Buffer.alloc(100_000, 7))).toBe(true);
    expect(existsSync(from)).toBe(false);
    expect(await readdir(dir)).toEqual(['delta.img']);
  });

  it('exists is false for a missing path or a path through a file', async () => {
    const dir = await scratch();
    await writeFile(join(dir, 'f'), '');
    expect(await exists(join(dir, 'f'))).toBe(true);
    expect(await exists(join(dir, 'nope'))).toBe(false);
    expect(await exists(join(dir, 'f', 'below'))).toBe(false);
  });
});
