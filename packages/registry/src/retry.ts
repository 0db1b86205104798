/**
 * Retry policy for registry requests: which statuses and connection errors are transient,
 * exponential backoff with jitter, `Retry-After` (seconds or HTTP date), and a bound on both
 * attempts and waiting. The math is pure; `sleep` is the only I/O.
 */

/** Retry settings (all optional in client options). */
export interface RetryPolicy {
  /** Retries after the first attempt (default 4, so at most 5 attempts). */
  max: number;
  /** First backoff in ms (default 200); doubles each retry. */
  baseMs: number;
  /** Cap of one backoff in ms (default 10 000). */
  maxMs: number;
  /** Longest `Retry-After` honored in ms (default 60 000); beyond it the request fails at once. */
  maxRetryAfterMs: number;
  /**
   * Longest time one request may spend retrying, first attempt included (default 180 000): a
   * retry that would start after it is not made.
   */
  maxElapsedMs: number;
}

/** Deadlines of one HTTP exchange (ms). */
export interface Timeouts {
  /** TCP + TLS connection (default 15 000). */
  connectMs: number;
  /** From sending the request to the response headers (default 30 000). */
  headersMs: number;
  /** Silence between two chunks of a response body (default 30 000). */
  bodyIdleMs: number;
}

export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = {
  connectMs: 15_000,
  headersMs: 30_000,
  bodyIdleMs: 30_000,
};

/** Complete partial timeouts with defaults; a value must be a positive number of ms. */
export function timeouts(partial: Partial<Timeouts> = {}): Timeouts {
  const t = { ...DEFAULT_TIMEOUTS, ...partial };
  const ms = (v: number, d: number) => (Number.isFinite(v) && v > 0 ? v : d);
  return {
    connectMs: ms(t.connectMs, DEFAULT_TIMEOUTS.connectMs),
    headersMs: ms(t.headersMs, DEFAULT_TIMEOUTS.headersMs),
    bodyIdleMs: ms(t.bodyIdleMs, DEFAULT_TIMEOUTS.bodyIdleMs),
  };
}

/**
 * Bytes a resumed download must deliver before its failure count starts again: a server that
 * trickles a little and stalls keeps counting against the retry budget.
 */
export const RESUME_PROGRESS_BYTES = 4 * 1024 * 1024;

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  max: 4,
  baseMs: 200,
  maxMs: 10_000,
  maxRetryAfterMs: 60_000,
  maxElapsedMs: 180_000,
};

/** Complete a partial policy with defaults, clamping nonsense (negative values) to 0. */
export function retryPolicy(partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY_POLICY, ...partial };
  return {
    max: Math.max(0, Math.floor(p.max)),
    baseMs: Math.max(0, p.baseMs),
    maxMs: Math.max(0, p.maxMs),
    maxRetryAfterMs: Math.max(0, p.maxRetryAfterMs),
    maxElapsedMs: Math.max(0, p.maxElapsedMs),
  };
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** True for statuses worth retrying: 408, 429, 500, 502, 503, 504. */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

const RETRYABLE_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * True for connection-level failures (reset, refused, timeouts, socket closed mid-body),
 * looking through `cause` chains. Aborts and HTTP-level errors are not retryable here.
 */
export function isRetryableError(err: unknown): boolean {
  for (const o of causes(err)) {
    if (o.name === 'AbortError') return false;
    if (typeof o.code === 'string' && RETRYABLE_ERROR_CODES.has(o.code)) return true;
    if (o.name === 'SocketError') return true;
  }
  return false;
}

/** `err` and its `cause`s (at most five deep), as far as they are objects. */
export function* causes(err: unknown): Generator<{ code?: unknown; name?: unknown; message?: unknown }> {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    yield e as { code?: unknown; name?: unknown; message?: unknown };
    e = (e as { cause?: unknown }).cause;
  }
}

/**
 * Parse a `Retry-After` value: delta-seconds or an HTTP date. Returns the wait in ms (>= 0),
 * or undefined when absent or unparsable.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  if (/^\d+$/.test(v)) return Number.parseInt(v, 10) * 1000;
  // An HTTP date has a weekday and month name; bare numbers like "-5" are not dates.
  if (!/[a-z]{3}/i.test(v)) return undefined;
  const when = Date.parse(v);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - nowMs);
}

/**
 * Backoff before retry number `attempt` (0 for the first retry): `baseMs * 2^attempt` capped at
 * `maxMs`, with "equal jitter" (half fixed, half random) so concurrent clients spread out.
 */
export function backoffDelay(
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * Decide the wait before retry `attempt` (0-based). Returns undefined when the request must not
 * be retried: attempts exhausted, or the server asks to wait longer than `maxRetryAfterMs`.
 * A `Retry-After` longer than the backoff wins over it.
 */
export function retryDelay(
  attempt: number,
  policy: RetryPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random,
  elapsedMs = 0,
): number | undefined {
  if (attempt >= policy.max) return undefined;
  if (retryAfterMs !== undefined && retryAfterMs > policy.maxRetryAfterMs) return undefined;
  const backoff = backoffDelay(attempt, policy, random);
  const delay = retryAfterMs === undefined ? backoff : Math.max(backoff, retryAfterMs);
  // No retry that would start after the request's time budget.
  if (elapsedMs + delay > policy.maxElapsedMs) return undefined;
  return delay;
}

/** Wait `ms`, rejecting with the signal's reason when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
