/** File-system plumbing: atomic files, existence, lease locks, work directories. */
export {
  type AtomicWriteOptions,
  moveIntoPlace,
  replaceFile,
  tempPathFor,
  writeFileAtomic,
  writeThroughFile,
} from './atomic.js';
export { exists } from './exists.js';
export {
  acquireFileLock,
  DEFAULT_LOCK_LEASE_MS,
  type FileLockOptions,
  type HeldLock,
  type LockHolder,
  lockAbandoned,
  ownerTag,
  ownerTagDead,
  withFileLock,
} from './file-lock.js';
export {
  makeWorkDir,
  STALE_TEMP_FILE_MS,
  type SweepOptions,
  sweepLeftovers,
  type WorkDir,
} from './work-dir.js';
