/**
 * Streaming blob download: `GET /v2/<repo>/blobs/<digest>` (following redirects to storage),
 * resumed with `Range: bytes=N-` after a dropped connection (the `Content-Range` answer is
 * checked; a server that ignores Range is skipped ahead instead), verified against the
 * descriptor's digest and size, with progress events. Memory stays bounded by the stream.
 */
import { Readable } from 'node:stream';
import { type Digest, OciDeltaError, type Progress, verifyingStream } from '@ocidelta/core';
import type { RegistryErrorContext } from './errors.js';
import { abortError, networkError } from './errors.js';
import { dump } from './http-helpers.js';
import type { RegistryResponse } from './http-types.js';
import { isRetryableError, RESUME_PROGRESS_BYTES, type RetryPolicy, retryDelay, sleep } from './retry.js';

/** Progress of one blob transfer. */
/** Bytes of one blob moved so far (`item` is its digest). */
export type BlobProgress = Progress<'download' | 'upload'>;

/** Parse `Content-Range: bytes start-end/total` (total may be `*`). */
export function parseContentRange(
  value: string | undefined,
): { start: number; end: number; total: number | undefined } | undefined {
  const m = value ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim()) : null;
  if (!m) return undefined;
  return {
    start: Number(m[1]),
    end: Number(m[2]),
    total: m[3] === '*' ? undefined : Number(m[3]),
  };
}

export interface ResumableGetOptions {
  /** Open the blob from `offset` (0 = whole blob; > 0 sends Range). */
  open: (offset: number) => Promise<RegistryResponse>;
  digest: Digest;
  size: number | undefined;
  /** First byte wanted (default 0). */
  offset?: number;
  retry: RetryPolicy;
  signal?: AbortSignal;
  context: RegistryErrorContext;
  onProgress?: (p: BlobProgress) => void;
  logger?: (msg: string) => void;
  /** The response of an `open(offset)` already made (so errors surface before streaming). */
  first?: RegistryResponse;
}

/** Yield the blob's bytes from `offset`, resuming after connection drops. Not verified. */
export async function* resumableBody(o: ResumableGetOptions): AsyncGenerator<Buffer> {
  const start = o.offset ?? 0;
  let pos = start;
  // Failures since the last attempt that made real progress (RESUME_PROGRESS_BYTES); bounded by
  // the retry policy, so a server that trickles a few bytes and stalls cannot hold a pull forever.
  let failures = 0;
  let attemptFrom = pos;
  let skip = 0;
  let res = o.first ?? (await o.open(pos));
  for (;;) {
    // Skip bytes the server sends again (a 200 to a Range request restarts at 0).
    skip = 0;
    if (pos > 0) {
      if (res.status === 206) {
        const cr = parseContentRange(res.header('content-range'));
        if (
          !cr ||
          cr.start !== pos ||
          (o.size !== undefined && cr.total !== undefined && cr.total !== o.size)
        ) {
          dump(res.body);
          throw new OciDeltaError(
            'ERR_REGISTRY',
            `${o.context.ref ?? o.digest}: bad Content-Range "${res.header('content-range') ?? ''}" for a request from byte ${pos}`,
            { ...o.context, digest: o.digest },
          );
        }
      } else {
        skip = pos;
      }
    }
    try {
      for await (const chunk of res.body) {
        let b = chunk as Buffer;
        if (skip > 0) {
          if (b.length <= skip) {
            skip -= b.length;
            continue;
          }
          b = b.subarray(skip);
          skip = 0;
        }
        pos += b.length;
        if (pos - attemptFrom >= RESUME_PROGRESS_BYTES) failures = 0;
        o.onProgress?.({
          phase: 'download',
          item: o.digest,
          done: pos,
          ...(o.size !== undefined ? { total: o.size } : {}),
        });
        yield b;
      }
      if (o.size !== undefined && pos < o.size && skip === 0) {
        // Clean end of a short body (e.g. a proxy closed it): resume like a drop.
        throw Object.assign(new Error(`body ended at byte ${pos} of ${o.size}`), { code: 'ECONNRESET' });
      }
      return;
    } catch (err) {
      if (o.signal?.aborted) throw abortError(o.context, o.signal.reason);
      if (!isRetryableError(err) && !isPrematureClose(err)) throw err;
      // Everything arrived before the connection dropped: nothing to resume.
      if (o.size !== undefined && pos === o.size && skip === 0) return;
      const delay = retryDelay(failures, o.retry);
      if (delay === undefined) throw networkError(err, o.context);
      failures++;
      o.logger?.(`${o.digest}: connection dropped at byte ${pos}; resuming in ${Math.round(delay)} ms`);
      try {
        await sleep(delay, o.signal);
      } catch (e) {
        throw abortError(o.context, e);
      }
      attemptFrom = pos;
      res = await o.open(pos);
    }
  }
}

function isPrematureClose(err: unknown): boolean {
  const e = err as { code?: string; message?: string; name?: string };
  return (
    e?.code === 'UND_ERR_SOCKET' ||
    e?.code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    e?.name === 'SocketError' ||
    /terminated|other side closed|aborted/i.test(e?.message ?? '')
  );
}

/**
 * A Readable of the blob (from `offset`), verified against digest and size when reading from
 * the start; from an offset only the size can be checked, by the caller.
 */
export function resumableBlobStream(o: ResumableGetOptions & { verify?: boolean }): Readable {
  const raw = Readable.from(resumableBody(o), { objectMode: false });
  if (o.verify === false || (o.offset ?? 0) > 0) return quietAfterAbort(raw, o.signal);
  const verify = verifyingStream({
    digest: o.digest,
    size: o.size,
    context: { ...o.context, digest: o.digest },
  });
  raw.on('error', (err) => verify.destroy(err));
  // A consumer that stops (or is aborted) destroys `verify`: stop the download too, so its
  // late errors (the abort reaching the socket) land on a destroyed stream, not nowhere.
  verify.on('close', () => raw.destroy());
  return quietAfterAbort(raw.pipe(verify), o.signal);
}

/**
 * Once `signal` fires, the caller stops reading and gets ERR_ABORTED from its own await; the
 * download's later errors (the abort reaching the body while the generator is between chunks)
 * then land on a stream whose consumer may have gone. They are expected and carry nothing new,
 * so after an abort they no longer crash the process; before it every error reaches the consumer.
 */
function quietAfterAbort<T extends Readable>(stream: T, signal: AbortSignal | undefined): T {
  const quiet = () => stream.on('error', () => undefined);
  if (signal?.aborted) quiet();
  else signal?.addEventListener('abort', quiet, { once: true });
  stream.once('close', () => signal?.removeEventListener('abort', quiet));
  return stream;
}
