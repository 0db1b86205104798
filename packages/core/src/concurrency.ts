/**
 * Bounded parallelism (blob transfers, image builds, service preparation): run a task per item with at most `limit` in flight. The
 * first failure aborts the shared signal (so in-flight tasks stop early), every task is
 * awaited, then the first error is rethrown.
 */
import { throwIfAborted } from './abort.js';
import { OciDeltaError } from './errors.js';

/**
 * Run `task(item, signal)` for each item, at most `limit` at once. Each task's `signal` is
 * linked to the caller's and aborted on the first failure of any task.
 */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  task: (item: T, signal: AbortSignal) => Promise<void>,
  options: { signal?: AbortSignal; what?: string } = {},
): Promise<void> {
  const what = options.what ?? 'transfer';
  throwIfAborted(options.signal, what);
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let next = 0;
  let firstError: unknown;
  const worker = async () => {
    while (next < items.length && firstError === undefined && !controller.signal.aborted) {
      const item = items[next++] as T;
      // One signal per task: listeners its requests add go away with it (a shared signal would
      // collect them across every blob and trip Node's MaxListeners warning).
      const own = new AbortController();
      const relay = () => own.abort(controller.signal.reason);
      controller.signal.addEventListener('abort', relay, { once: true });
      try {
        await task(item, own.signal);
      } catch (err) {
        if (firstError === undefined) firstError = err;
        controller.abort(err);
      } finally {
        controller.signal.removeEventListener('abort', relay);
      }
    }
  };
  const n = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  try {
    await Promise.all(Array.from({ length: n }, worker));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (firstError !== undefined) {
    if (options.signal?.aborted && !(firstError instanceof OciDeltaError)) {
      throw new OciDeltaError('ERR_ABORTED', `${what} was aborted`, {}, { cause: firstError });
    }
    throw firstError;
  }
  throwIfAborted(options.signal, what);
}
