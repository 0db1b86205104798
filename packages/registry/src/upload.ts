/**
 * Blob upload (Distribution API v2 / OCI distribution spec): skip blobs the repository already
 * has (HEAD), cross-repository mount (`POST ?mount=&from=`), monolithic upload (POST + PUT) for
 * small blobs and chunked upload (POST + PATCH... + PUT, chunks of at least
 * `OCI-Chunk-Min-Length`) for large ones. Handles 2.8's absolute `Location` with `?_state=`
 * (the digest is appended with `&digest=`) and the new Location each PATCH returns. Data is
 * streamed and verified against the expected digest and size on the way out; a failed upload is
 * restarted from scratch when the data can be re-opened.
 */
import type { Readable } from 'node:stream';
import {
  type Digest,
  DigestMismatchError,
  digestOf,
  isOciDeltaError,
  parseDigest,
  type Reference,
  SizeMismatchError,
  toDigest,
  verifyingStream,
} from '@ocidelta/core';
import type { BlobProgress } from './blob-reader.js';
import { pullScope, pushScope } from './challenge.js';
import { abortError, RegistryError } from './errors.js';
import type { Transport } from './http.js';
import { dump } from './http-helpers.js';
import type { RegistryResponse } from './http-types.js';
import { isRetryableStatus, type RetryPolicy, retryDelay, sleep } from './retry.js';

/** Blob data: bytes, a stream (single use), or a function that opens a fresh stream (restartable). */
export type BlobData = Readable | Uint8Array | (() => Promise<Readable>);

export interface UploadOptions {
  /** Mount from this repository when it is on the same registry. */
  mountFrom?: Reference;
  /** Chunk size for chunked uploads; blobs up to this size go in one PUT (default 16 MiB). */
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: BlobProgress) => void;
}

export interface UploadResult {
  digest: Digest;
  /** Mounted from `mountFrom` without sending data. */
  mounted: boolean;
  /** Already present; nothing sent. */
  skipped: boolean;
}

/** Default chunk size and monolithic threshold. */
export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

/** What the uploader needs from the client. */
export interface UploadContext {
  transport: Transport;
  repo: Reference;
  retry: RetryPolicy;
  headBlob: (digest: Digest, signal?: AbortSignal) => Promise<{ size: number } | undefined>;
  logger?: (msg: string) => void;
}

/** Append a query parameter to a URL that may already have a query (`?_state=...`). */
export function appendQuery(url: string, name: string, value: string): string {
  const hash = url.indexOf('#');
  const base = hash >= 0 ? url.slice(0, hash) : url;
  const sep = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?';
  return `${base}${sep}${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
}

/** Resolve an upload `Location` (absolute in 2.8, relative elsewhere) against the request URL. */
export function resolveLocation(res: RegistryResponse, what: string): string {
  const loc = res.header('location');
  if (!loc) {
    throw new RegistryError('ERR_REGISTRY', `${what}: upload response ${res.status} has no Location header`, {
      url: res.url,
      status: res.status,
    });
  }
  return new URL(loc, res.url).href;
}

/** Reads exact-size slices from a byte stream without buffering more than one chunk. */
class SliceReader {
  private leftover: Buffer | undefined;
  constructor(private readonly it: AsyncIterator<Buffer>) {}
  async *take(n: number): AsyncGenerator<Buffer> {
    let remaining = n;
    while (remaining > 0) {
      let b = this.leftover;
      this.leftover = undefined;
      if (!b) {
        const r = await this.it.next();
        if (r.done) return;
        b = r.value;
      }
      if (b.length > remaining) {
        this.leftover = b.subarray(remaining);
        b = b.subarray(0, remaining);
      }
      remaining -= b.length;
      yield b;
    }
  }
}

function isRestartable(err: unknown): boolean {
  if (!(err instanceof RegistryError)) return false;
  if (err.code === 'ERR_NETWORK') return true;
  if (err.registryCode === 'BLOB_UPLOAD_UNKNOWN' || err.registryCode === 'BLOB_UPLOAD_INVALID') return true;
  return err.status !== undefined && isRetryableStatus(err.status);
}

async function openData(data: Readable | (() => Promise<Readable>)): Promise<Readable> {
  return typeof data === 'function' ? data() : data;
}

/** Upload one blob (see module doc). */
export async function uploadBlob(
  ctx: UploadContext,
  data: BlobData,
  expected: { digest: string; size: number },
  opts: UploadOptions = {},
): Promise<UploadResult> {
  const digest = toDigest(expected.digest);
  const { repo } = ctx;
  const refStr = `${repo.registry}/${repo.repository}@${digest}`;
  const existing = await ctx.headBlob(digest, opts.signal);
  if (existing) return { digest, mounted: false, skipped: true };

  const restartable = typeof data === 'function' || data instanceof Uint8Array;
  for (let attempt = 0; ; attempt++) {
    try {
      return await uploadOnce(ctx, data, digest, expected.size, refStr, opts);
    } catch (err) {
      if (opts.signal?.aborted) throw abortError({ ref: refStr }, opts.signal.reason);
      const delay = restartable && isRestartable(err) ? retryDelay(attempt, ctx.retry) : undefined;
      if (delay === undefined) throw err;
      ctx.logger?.(
        `${refStr}: upload failed (${(err as Error).message}); restarting in ${Math.round(delay)} ms`,
      );
      try {
        await sleep(delay, opts.signal);
      } catch (e) {
        throw abortError({ ref: refStr }, e);
      }
      // The failed attempt may have committed the blob after all (e.g. a lost answer to the PUT).
      const committed = await ctx.headBlob(digest, opts.signal).catch(() => undefined);
      if (committed) return { digest, mounted: false, skipped: false };
    }
  }
}

async function uploadOnce(
  ctx: UploadContext,
  data: BlobData,
  digest: Digest,
  size: number,
  refStr: string,
  opts: UploadOptions,
): Promise<UploadResult> {
  const { transport, repo } = ctx;
  const context = { ref: refStr, digest, resource: 'upload' as const };
  const { started, scopes } = await startSession(ctx, digest, refStr, opts);
  dump(started.body);
  if (started.status === 201) {
    const got = started.header('docker-content-digest');
    return { digest: got ? toDigest(got) : digest, mounted: true, skipped: false };
  }
  let location = resolveLocation(started, refStr);
  const minChunk = Number(started.header('oci-chunk-min-length') ?? 0) || 0;
  const chunkSize = Math.max(opts.chunkSize ?? DEFAULT_CHUNK_SIZE, minChunk, 1);

  const { source, verify, body, progress } = await verifiedBody(data, digest, size, refStr, opts);

  try {
    if (size <= chunkSize) {
      const put = await transport.request({
        registry: repo.registry,
        method: 'PUT',
        path: appendQuery(location, 'digest', digest),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: data instanceof Uint8Array ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : body,
        scopes,
        signal: opts.signal,
        ok: [201],
        context: { ...context, method: 'PUT', url: location },
      });
      if (data instanceof Uint8Array) progress(size);
      dump(put.body);
      const got = put.header('docker-content-digest');
      return { digest: got ? toDigest(got) : digest, mounted: false, skipped: false };
    }

    if (source === undefined) verify.end(data as Uint8Array);
    const reader = new SliceReader(body);
    location = await sendChunks(
      ctx,
      reader,
      { location, size, chunkSize, scopes, context, refStr },
      opts.signal,
    );
    // Drain the verifier so a wrong size or digest surfaces before committing.
    for await (const _ of reader.take(1)) {
      // one byte more than declared: the verifier errors on it
    }
    const put = await transport.request({
      registry: repo.registry,
      method: 'PUT',
      path: appendQuery(location, 'digest', digest),
      headers: { 'content-length': '0' },
      scopes,
      signal: opts.signal,
      ok: [201],
      context: { ...context, method: 'PUT', url: location },
    });
    dump(put.body);
    const got = put.header('docker-content-digest');
    return { digest: got ? toDigest(got) : digest, mounted: false, skipped: false };
  } catch (err) {
    source?.destroy();
    verify.destroy();
    await cancelSession(ctx, location, scopes, context);
    throw err;
  }
}

/** POST an upload session; with `mountFrom` on this registry, a cross-repository mount first. */
async function startSession(
  ctx: UploadContext,
  digest: Digest,
  refStr: string,
  opts: UploadOptions,
): Promise<{ started: RegistryResponse; scopes: string[] }> {
  const { transport, repo } = ctx;
  const uploadsPath = `/v2/${repo.repository}/blobs/uploads/`;
  const mount = opts.mountFrom;
  const canMount =
    mount !== undefined && mount.registry === repo.registry && mount.repository !== repo.repository;
  const scopes = canMount
    ? [pushScope(repo.repository), pullScope(mount.repository)]
    : [pushScope(repo.repository)];
  const context = { ref: refStr, digest, resource: 'upload' as const };
  const post = (withMount: boolean) =>
    transport.request({
      registry: repo.registry,
      method: 'POST',
      path:
        withMount && mount
          ? `${uploadsPath}?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mount.repository)}`
          : uploadsPath,
      headers: { 'content-length': '0' },
      scopes: withMount ? scopes : [pushScope(repo.repository)],
      signal: opts.signal,
      ok: withMount ? [201, 202] : [202],
      retry: true,
      context: { ...context, method: 'POST', url: uploadsPath },
    });
  try {
    return { started: await post(canMount), scopes };
  } catch (err) {
    // No read access to the mount source: upload the data instead.
    if (!canMount || !isOciDeltaError(err, 'ERR_AUTH')) throw err;
    ctx.logger?.(`${refStr}: cannot mount from ${mount?.repository} (${err.message}); uploading`);
    return { started: await post(false), scopes: [pushScope(repo.repository)] };
  }
}

/** Best effort: cancel an upload session so the registry frees it. */
async function cancelSession(
  ctx: UploadContext,
  location: string,
  scopes: string[],
  context: { ref: string; digest: Digest; resource: 'upload' },
): Promise<void> {
  await ctx.transport
    .request({
      registry: ctx.repo.registry,
      method: 'DELETE',
      path: location,
      scopes,
      ok: [200, 202, 204, 404],
      retry: false,
      context: { ...context, method: 'DELETE', url: location },
    })
    .then((r) => dump(r.body))
    .catch(() => {});
}

/** PATCH `size` bytes from `reader` in chunks of `chunkSize`; returns the session's last location. */
async function sendChunks(
  ctx: UploadContext,
  reader: SliceReader,
  at: {
    location: string;
    size: number;
    chunkSize: number;
    scopes: string[];
    context: { ref: string; digest: Digest; resource: 'upload' };
    refStr: string;
  },
  signal: AbortSignal | undefined,
): Promise<string> {
  let location = at.location;
  for (let start = 0; start < at.size; start += at.chunkSize) {
    const len = Math.min(at.chunkSize, at.size - start);
    const patch = await ctx.transport.request({
      registry: ctx.repo.registry,
      method: 'PATCH',
      path: location,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(len),
        'content-range': `${start}-${start + len - 1}`,
      },
      body: reader.take(len),
      scopes: at.scopes,
      signal,
      ok: [202],
      context: { ...at.context, method: 'PATCH', url: location },
    });
    dump(patch.body);
    location = resolveLocation(patch, at.refStr);
  }
  return location;
}

/**
 * The upload body of `data`: bytes checked up front, a stream verified while sent (a wrong
 * digest or size fails before the registry commits), counted for progress.
 */
async function verifiedBody(
  data: BlobData,
  digest: Digest,
  size: number,
  refStr: string,
  opts: UploadOptions,
): Promise<{
  source: Readable | undefined;
  verify: ReturnType<typeof verifyingStream>;
  body: AsyncGenerator<Buffer>;
  progress: (n: number) => void;
}> {
  if (data instanceof Uint8Array) {
    // Bytes: checked up front, sent as a replayable body (the transport may retry the PUT).
    const actual = digestOf(data, parseDigest(digest).algorithm);
    if (data.byteLength !== size) throw new SizeMismatchError(size, data.byteLength, { ref: refStr, digest });
    if (actual !== digest) throw new DigestMismatchError(digest, actual, { ref: refStr, digest });
  }
  // Streams are verified while sent: a wrong digest or size fails before the registry commits.
  const source = data instanceof Uint8Array ? undefined : await openData(data);
  const verify = verifyingStream({ digest, size, context: { ref: refStr, digest } });
  // Errors surface through iteration; this listener only keeps a late one from going unhandled.
  verify.on('error', () => {});
  if (source) {
    source.on('error', (err) => verify.destroy(err));
    source.pipe(verify);
  }
  let done = 0;
  const progress = (n: number) => {
    done += n;
    opts.onProgress?.({
      phase: 'upload',
      item: digest,
      done,
      ...(size !== undefined ? { total: size } : {}),
    });
  };
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const b of verify as AsyncIterable<Buffer>) {
      progress(b.length);
      yield b;
    }
  }
  return { source, verify, body: counted(), progress };
}
