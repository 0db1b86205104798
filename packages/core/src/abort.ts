/**
 * The one way a cancelled operation fails: OciDeltaError ERR_ABORTED naming what stopped, with
 * the signal's reason as its cause (never a bare DOMException from `signal.throwIfAborted()`).
 */
import { OciDeltaError } from './errors.js';

/** The ERR_ABORTED error for `what` (e.g. "writing out.tar"), caused by `reason`. */
export function abortedError(what: string, reason?: unknown): OciDeltaError {
  return new OciDeltaError(
    'ERR_ABORTED',
    `${what} was aborted`,
    {},
    reason === undefined ? {} : { cause: reason },
  );
}

/** Throw ERR_ABORTED when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortedError(what, signal.reason);
}

/** An error from an aborted operation as ERR_ABORTED (AbortError/DOMException included); others unchanged. */
export function asAbortError(err: unknown, what: string): unknown {
  if (err instanceof OciDeltaError) return err;
  if (
    err instanceof Error &&
    (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ABORT_ERR')
  ) {
    return abortedError(what, err);
  }
  return err;
}
