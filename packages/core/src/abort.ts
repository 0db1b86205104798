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

/** Map an error of an aborted write to ERR_ABORTED naming `target`; pass other errors through. */
export function abortAware(err: unknown, signal: AbortSignal | undefined, target: string): unknown {
  if (signal?.aborted && !(err instanceof OciDeltaError)) {
    return new OciDeltaError(
      'ERR_ABORTED',
      `writing ${target} was aborted`,
      { path: target },
      { cause: err },
    );
  }
  return err;
}
