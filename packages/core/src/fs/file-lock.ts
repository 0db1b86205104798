/**
 * Lock files that work across processes, containers and hosts sharing a directory (a cache
 * volume, an NFS mount): a lock is a file created exclusively, holding who took it, and kept
 * alive by its holder touching it every third of its lease. A lock whose file was not touched
 * for a whole lease is abandoned (its holder was killed) and is taken over. A process id is
 * trusted only when the holder ran on this host in this PID namespace: elsewhere the same
 * number names another process, so there the lease alone decides.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { throwIfAborted } from '../abort.js';
import { OciDeltaError } from '../errors.js';

/** Default lease: a holder that has not touched its lock for this long is gone. */
export const DEFAULT_LOCK_LEASE_MS = 30_000;

/** Who holds a lock (the lock file's content). */
export interface LockHolder {
  host: string;
  /** The PID namespace (`/proc/self/ns/pid`), so a pid is only compared within one. */
  pidns: string;
  pid: number;
  /** When it was taken (ISO time). */
  since: string;
  /** Random, per acquisition: tells two locks of the same holder apart. */
  token?: string;
}

export interface FileLockOptions {
  /** Lease in ms (default 30 s). Tests shorten it. */
  leaseMs?: number;
  signal?: AbortSignal;
  /** Called once when the lock is busy and the caller starts waiting (to say so). */
  onWait?: (holder: LockHolder | undefined, path: string) => void;
  /** Give up after this long waiting for a live holder (default: wait until aborted). */
  maxWaitMs?: number;
}

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return 'unknown';
  }
}

const SELF: Omit<LockHolder, 'since'> = { host: hostname(), pidns: pidNamespace(), pid: process.pid };

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A short tag naming this process (`<pid>.<hash of host and PID namespace>`), put in temp file
 * names so a sweep can tell a dead writer's leftovers from a live one's.
 */
export function ownerTag(): string {
  return `${SELF.pid}.${createHash('sha256').update(`${SELF.host}\n${SELF.pidns}`).digest('hex').slice(0, 8)}`;
}

/** True when the owner tag names a process of this host and PID namespace that has exited. */
export function ownerTagDead(tag: string): boolean {
  const m = /^(\d+)\.([0-9a-f]{8})$/.exec(tag);
  if (!m || SELF.pidns === 'unknown') return false;
  const [pid, hash] = [Number(m[1]), m[2]];
  return hash === ownerTag().split('.')[1] && pid !== SELF.pid && !pidAlive(pid);
}

/** True when the lock file at `path` is missing or abandoned (see acquireFileLock). */
export async function lockAbandoned(path: string, leaseMs = DEFAULT_LOCK_LEASE_MS): Promise<boolean> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return true;
  return abandoned(await readHolder(path), st.mtimeMs, leaseMs);
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as Partial<LockHolder>;
    if (typeof value.host === 'string' && typeof value.pid === 'number' && typeof value.pidns === 'string')
      return value as LockHolder;
  } catch {
    // an older or partly written lock file: judged by its age alone
  }
  return undefined;
}

/** True when a lock held by `holder` and last touched at `mtimeMs` is abandoned. */
function abandoned(holder: LockHolder | undefined, mtimeMs: number, leaseMs: number): boolean {
  if (Date.now() - mtimeMs > leaseMs) return true;
  return (
    holder !== undefined &&
    holder.host === SELF.host &&
    holder.pidns === SELF.pidns &&
    holder.pidns !== 'unknown' &&
    holder.pid !== SELF.pid &&
    !pidAlive(holder.pid)
  );
}

/**
 * Remove an abandoned lock. Takers serialize on `<path>.break` (created exclusively, held for
 * a moment) and look again inside it, so a lock another taker just took is never removed: its
 * token differs, or it is fresh. A `.break` file older than the lease was left by a taker that
 * died in that moment, and is removed.
 */
async function breakLock(path: string, token: string | undefined, leaseMs: number): Promise<void> {
  const breaker = `${path}.break`;
  try {
    await (await open(breaker, 'wx')).close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = await stat(breaker).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > leaseMs) await rm(breaker, { force: true });
    return;
  }
  try {
    const st = await stat(path).catch(() => undefined);
    if (!st) return;
    const holder = await readHolder(path);
    if (holder?.token === token && abandoned(holder, st.mtimeMs, leaseMs)) await rm(path, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}

/** A held lock: released once; touched every third of its lease until then. */
export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

/** Take the lock at `path`, waiting for a live holder and taking over an abandoned one. */
export async function acquireFileLock(path: string, options: FileLockOptions = {}): Promise<HeldLock> {
  const leaseMs = options.leaseMs ?? DEFAULT_LOCK_LEASE_MS;
  const started = Date.now();
  let told = false;
  for (;;) {
    throwIfAborted(options.signal, `waiting for the lock ${path}`);
    const holder: LockHolder = {
      ...SELF,
      since: new Date().toISOString(),
      token: randomBytes(8).toString('hex'),
    };
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(JSON.stringify(holder));
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = await stat(path).catch(() => undefined);
    if (!st) continue;
    const current = await readHolder(path);
    if (abandoned(current, st.mtimeMs, leaseMs)) {
      await breakLock(path, current?.token, leaseMs);
      await sleep(Math.random() * 20, undefined, { signal: options.signal });
      continue;
    }
    if (!told) {
      told = true;
      options.onWait?.(current, path);
    }
    if (options.maxWaitMs !== undefined && Date.now() - started > options.maxWaitMs) {
      throw new OciDeltaError(
        'ERR_INPUT',
        `${path} is held by ${current ? `process ${current.pid} on ${current.host} since ${current.since}` : 'another process'}; gave up after ${options.maxWaitMs} ms`,
        { path },
      );
    }
    await sleep(Math.min(250, 25 + Math.random() * 50 + (Date.now() - started) / 20), undefined, {
      signal: options.signal,
    });
  }
  const beat = setInterval(
    () => {
      const now = new Date();
      utimes(path, now, now).catch(() => undefined);
    },
    Math.max(10, Math.floor(leaseMs / 3)),
  );
  beat.unref();
  let released = false;
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      await rm(path, { force: true });
    },
  };
}

/** Run `fn` holding the lock at `path` (see acquireFileLock). */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const lock = await acquireFileLock(path, options);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
