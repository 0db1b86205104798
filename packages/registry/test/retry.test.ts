// Retry policy math: which failures are transient, backoff growth/cap/jitter, Retry-After.
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isRetryableError,
  isRetryableStatus,
  parseRetryAfter,
  retryDelay,
  retryPolicy,
  sleep,
} from '../src/retry.js';

const policy = retryPolicy({ max: 5, baseMs: 100, maxMs: 1000, maxRetryAfterMs: 30_000 });

describe('retry policy', () => {
  it('retries exactly 408, 429, 500, 502, 503, 504', () => {
    const retryable = [];
    for (let s = 100; s < 600; s++) if (isRetryableStatus(s)) retryable.push(s);
    expect(retryable).toEqual([408, 429, 500, 502, 503, 504]);
  });

  it('recognizes connection errors, also as a cause, but not aborts or plain errors', () => {
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }))).toBe(true);
    expect(
      isRetryableError(new Error('wrapped', { cause: Object.assign(new Error(), { code: 'EPIPE' }) })),
    ).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'AbortError', code: 'ECONNRESET' }))).toBe(
      false,
    );
    expect(isRetryableError(new Error('boom'))).toBe(false);
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'ERR_DIGEST_MISMATCH' }))).toBe(false);
    expect(isRetryableError(undefined)).toBe(false);
  });

  it('doubles the backoff per attempt up to the cap, with half of it jittered', () => {
    const low = [0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, policy, () => 0));
    const high = [0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, policy, () => 1));
    expect(low).toEqual([50, 100, 200, 400, 500, 500]);
    expect(high).toEqual([100, 200, 400, 800, 1000, 1000]);
    const mid = backoffDelay(2, policy, () => 0.5);
    expect(mid).toBe(300);
  });

  it('stops after max retries', () => {
    expect(retryDelay(4, policy, undefined, () => 0)).toBe(500);
    expect(retryDelay(5, policy, undefined, () => 0)).toBeUndefined();
    expect(retryDelay(0, retryPolicy({ max: 0 }))).toBeUndefined();
  });

  it('waits at least Retry-After, and gives up when it is longer than allowed', () => {
    expect(retryDelay(0, policy, 5000, () => 0)).toBe(5000);
    expect(retryDelay(3, policy, 10, () => 1)).toBe(800);
    expect(retryDelay(0, policy, 30_001, () => 0)).toBeUndefined();
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sun, 31 Dec 2023 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('fills defaults and clamps negative values', () => {
    expect(retryPolicy()).toEqual(DEFAULT_RETRY_POLICY);
    expect(retryPolicy({ max: -3, baseMs: -1 })).toMatchObject({ max: 0, baseMs: 0 });
    expect(retryPolicy({ max: 2.7 }).max).toBe(2);
  });

  it('sleep rejects with the abort reason', async () => {
    const ac = new AbortController();
    const p = sleep(60_000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    await expect(sleep(0)).resolves.toBeUndefined();
  });
});
