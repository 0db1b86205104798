// Leftovers of killed runs: a real child process makes a work directory and a temp file and is
// killed with SIGKILL; the next sweep removes both. A live owner's are kept, also past the lease.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCI } from '../../../test-support/binaries.js';
import { tempPathFor } from '../src/fs/atomic.js';
import { makeWorkDir, sweepLeftovers } from '../src/index.js';

const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/index.js');
const haveDist = existsSync(dist);
if (!haveDist) {
  if (isCI) throw new Error(`${dist} is missing: the test command builds before testing`);
  console.warn(`SKIPPING killed-process sweep tests: ${dist} not built (run pnpm build)`);
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ocidelta-sweep-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A child that makes a work dir and a temp file in `dir` (with the built library) and waits. */
async function writer(dir: string): Promise<ChildProcess> {
  const script = `
    import { makeWorkDir } from ${JSON.stringify(dist)};
    import { tempPathFor } from ${JSON.stringify(join(dirname(dist), 'fs/atomic.js'))};
    import { writeFile } from 'node:fs/promises';
    const w = await makeWorkDir(${JSON.stringify(dir)}, 'work');
    await writeFile(w.path + '/partial.img', Buffer.alloc(1 << 20));
    await writeFile(tempPathFor(${JSON.stringify(join(dir, 'out.mender'))}), 'partial');
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && res());
    child.on('exit', (code) => rej(new Error(`writer exited early (${code})`)));
  });
  return child;
}

describe.skipIf(!haveDist)('sweeping what killed runs left', () => {
  it('removes the work directory and temp file of a SIGKILLed run, keeps a live one', async () => {
    const dir = join(work, 'out');
    await mkdir(dir);
    const live = await writer(dir);
    const killed = await writer(dir);
    const before = await readdir(dir);
    expect(before.filter((n) => n.startsWith('.ocidelta-work-'))).toHaveLength(2);
    expect(before.filter((n) => n.startsWith('.tmp-out.mender-'))).toHaveLength(2);
    killed.kill('SIGKILL');
    await new Promise((r) => killed.once('exit', r));
    // The killed writer's pid is provably dead here: no need to wait for its 30 s lease.
    const removed = await sweepLeftovers(dir);
    expect(removed).toHaveLength(2);
    const after = await readdir(dir);
    expect(after.filter((n) => n.startsWith('.ocidelta-work-'))).toHaveLength(1);
    expect(after.filter((n) => n.startsWith('.tmp-out.mender-'))).toHaveLength(1);
    expect(await sweepLeftovers(dir)).toEqual([]);
    live.kill('SIGKILL');
    await new Promise((r) => live.once('exit', r));
    expect(await sweepLeftovers(dir)).toHaveLength(2);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('sweep rules', () => {
  it('keeps our own work dir and fresh foreign temp files; removes temp files untouched for a day', async () => {
    const dir = join(work, 'rules');
    await mkdir(dir);
    const mine = await makeWorkDir(dir, 'work');
    const foreign = join(dir, '.tmp-x-1.deadbeef-0011223344ff');
    await writeFile(foreign, 'x');
    const user = join(dir, 'notes.tmp-0011223344');
    await writeFile(user, 'keep');
    expect(await sweepLeftovers(dir)).toEqual([]);
    const old = new Date(Date.now() - 25 * 3600 * 1000);
    await utimes(foreign, old, old);
    await utimes(user, old, old);
    expect(await sweepLeftovers(dir)).toEqual([foreign]);
    expect(existsSync(user)).toBe(true);
    expect(existsSync(mine.path)).toBe(true);
    await mine.remove();
    expect(existsSync(mine.path)).toBe(false);
    expect(tempPathFor(join(dir, 'a'))).toMatch(/\/\.tmp-a-\d+\.[0-9a-f]{8}-[0-9a-f]{12}$/);
  });
});
