// Lease locks: a live holder keeps its lock past the lease by touching it; a lock left by a
// killed process is taken over (at once when the pid provably died on this host in this PID
// namespace, after the lease otherwise); a pid from another host or namespace is never trusted.
import { spawnSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireFileLock, OciLayout, withFileLock } from '../src/index.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ocidelta-lock-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The pid of a process that has exited (a child run to completion). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

const pidns = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return 'unknown';
  }
})();

async function leftover(path: string, holder: object, ageMs: number): Promise<void> {
  await writeFile(path, JSON.stringify({ since: new Date().toISOString(), ...holder }));
  const t = new Date(Date.now() - ageMs);
  await utimes(path, t, t);
}

describe('lease file locks', () => {
  it('a live holder keeps the lock past its lease; the waiter gets it on release and is told it waits', async () => {
    const path = join(work, 'live.lock');
    const a = await acquireFileLock(path, { leaseMs: 150 });
    const waits: string[] = [];
    let got = false;
    const b = acquireFileLock(path, { leaseMs: 150, onWait: (h) => waits.push(`${h?.pid}`) }).then((l) => {
      got = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 700)); // more than 4 leases: the heartbeat keeps it alive
    expect(got).toBe(false);
    expect(waits).toEqual([String(process.pid)]);
    await a.release();
    await (await b).release();
    expect(got).toBe(true);
  });

  it('takes over at once a lock whose holder died on this host and PID namespace', async () => {
    const path = join(work, 'dead.lock');
    await leftover(path, { host: hostname(), pidns, pid: deadPid() }, 0);
    const waited: unknown[] = [];
    await withFileLock(
      path,
      async () => {
        expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ pid: process.pid });
      },
      { onWait: (h) => waited.push(h) },
    );
    expect(waited).toEqual([]); // broken at once, not after the 30 s lease
  });

  it('never trusts a pid from another container: waits for the lease, then takes over', async () => {
    const path = join(work, 'foreign.lock');
    // Same host name, another PID namespace, a pid that is dead here: only the lease decides.
    await leftover(path, { host: hostname(), pidns: 'pid:[1]', pid: deadPid() }, 0);
    const waited: boolean[] = [];
    const lock = acquireFileLock(path, { leaseMs: 400, onWait: () => waited.push(true) });
    await new Promise((r) => setTimeout(r, 150));
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ pidns: 'pid:[1]' });
    await (await lock).release();
    expect(waited).toEqual([true]);
  });

  it("a killed run's index.json.lock no longer fails a layout update", async () => {
    const layout = await OciLayout.create(join(work, 'layout'));
    await leftover(join(layout.dir, 'index.json.lock'), { host: hostname(), pidns, pid: deadPid() }, 0);
    const blob = Buffer.from('{}');
    const { digest } = await layout.writeBlob(blob);
    await layout.addManifest({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest,
      size: blob.length,
    });
    expect((await layout.readIndex()).manifests.map((m) => m.digest)).toContain(digest);
  });

  it('two takers of one abandoned lock: exactly one holds it at a time', async () => {
    const path = join(work, 'race.lock');
    await leftover(path, { host: 'elsewhere', pidns: 'pid:[1]', pid: 1 }, 60_000);
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        withFileLock(
          path,
          async () => {
            inside++;
            most = Math.max(most, inside);
            await new Promise((r) => setTimeout(r, 20));
            inside--;
          },
          { leaseMs: 10_000 },
        ),
      ),
    );
    expect(most).toBe(1);
  });
});
