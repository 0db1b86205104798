/**
 * Work directories and leftovers of killed runs. A work directory (`.ocidelta-<kind>-XXXXXX`
 * beside the output, so results are renamed into place on the same filesystem) holds an
 * `.owner` lease lock for as long as its run lives; temp files carry their writer's owner tag
 * in their name (tempPathFor). At start, a run sweeps the directory it writes into: work
 * directories whose owner is gone, and temp files of a writer that provably exited here, or
 * that nobody touched for a day.
 */
import { lstat, mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  acquireFileLock,
  DEFAULT_LOCK_LEASE_MS,
  type HeldLock,
  lockAbandoned,
  ownerTagDead,
} from './file-lock.js';

/** Temp files untouched for this long are removed whoever wrote them. */
export const STALE_TEMP_FILE_MS = 24 * 60 * 60 * 1000;

const WORK_DIR = /^\.ocidelta-[a-z]+-[A-Za-z0-9]{6}$/;
/** `.tmp-<name>-<pid>.<hash>-<hex>` (tempPathFor) and `<file>.tmp-<pid>.<hash>-<hex>` (artifact writer). */
const TEMP_FILE = /\.tmp-(?:.*-)?(\d+\.[0-9a-f]{8})-[0-9a-f]{8,12}$/;

export interface WorkDir {
  readonly path: string;
  /** Release the owner lock and remove the directory with everything in it. */
  remove(): Promise<void>;
}

/** Create `<parent>/.ocidelta-<kind>-XXXXXX`, owned (lease lock) until removed. */
export async function makeWorkDir(parent: string, kind: string): Promise<WorkDir> {
  const path = await mkdtemp(join(parent, `.ocidelta-${kind}-`));
  let owner: HeldLock;
  try {
    owner = await acquireFileLock(join(path, '.owner'));
  } catch (err) {
    await rm(path, { recursive: true, force: true });
    throw err;
  }
  return {
    path,
    async remove() {
      await owner.release();
      await rm(path, { recursive: true, force: true });
    },
  };
}

export interface SweepOptions {
  leaseMs?: number;
  staleTempFileMs?: number;
  now?: number;
}

/**
 * Remove what killed runs left in `dir`: work directories whose `.owner` lease is abandoned
 * (or that never got one and are older than a lease) and stale temp files. Returns the removed
 * paths; never throws for a leftover it cannot remove (another run may be sweeping too).
 */
export async function sweepLeftovers(dir: string, options: SweepOptions = {}): Promise<string[]> {
  const leaseMs = options.leaseMs ?? DEFAULT_LOCK_LEASE_MS;
  const staleMs = options.staleTempFileMs ?? STALE_TEMP_FILE_MS;
  const now = options.now ?? Date.now();
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const path = join(dir, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st) continue;
    let stale = false;
    if (st.isDirectory() && WORK_DIR.test(name)) {
      const owner = join(path, '.owner');
      const hasOwner = await lstat(owner).then(
        () => true,
        () => false,
      );
      stale = hasOwner ? await lockAbandoned(owner, leaseMs) : now - st.mtimeMs > leaseMs;
    } else if (st.isFile()) {
      const tagged = TEMP_FILE.exec(name);
      if (tagged) stale = ownerTagDead(tagged[1]!) || now - st.mtimeMs > staleMs;
    }
    if (!stale) continue;
    try {
      await rm(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // another sweeper, or not ours to remove: leave it
    }
  }
  return removed;
}
