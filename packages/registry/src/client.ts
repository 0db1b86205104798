/**
 * `RegistryClient`: the Distribution API v2 operations over one HTTP transport: manifests
 * (GET/HEAD/PUT/DELETE, verified), blobs (streaming verified GET with resume, upload with
 * mount/skip/chunking), tags and catalog, and the core image model (`resolveImage`) backed by
 * the registry. Authentication, retries and redirects live in the transport (http.ts).
 */
import type { Readable } from 'node:stream';
import {
  type BlobSource,
  type Descriptor,
  type Digest,
  DigestMismatchError,
  digestOf,
  hostPlatform,
  type Image,
  isDigest,
  loadImage,
  loadIndex,
  MANIFEST_ACCEPT,
  type Platform,
  parseDigest,
  parseManifest,
  type Reference,
  type ReferenceLike,
  selectManifest,
  toDigest,
  toReference,
} from '@ocidelta/core';
import { type BlobProgress, resumableBlobStream } from './blob-reader.js';
import { CATALOG_SCOPE, deleteScope, pullScope, pushScope } from './challenge.js';
import type { IndexOrImage, ManifestResult, RegistryClientOptions } from './client-options.js';
import { CredentialStore } from './credentials.js';
import { RegistryError } from './errors.js';
import { Transport } from './http.js';
import { dump } from './http-helpers.js';
import type { RegistryResponse } from './http-types.js';
import { MAX_MANIFEST_SIZE, manifestPath, mediaTypeOf, readLimited } from './manifests.js';
import { listAll, pageQuery } from './pagination.js';
import { proxySettings } from './proxy.js';
import { type RetryPolicy, retryPolicy, timeouts } from './retry.js';
import { type BlobData, type UploadOptions, type UploadResult, uploadBlob } from './upload.js';

/** A Distribution API v2 client (see module doc). One instance may talk to many registries. */
export class RegistryClient {
  private readonly transport: Transport;
  private readonly retry: RetryPolicy;
  private readonly logger: ((msg: string) => void) | undefined;

  constructor(options: RegistryClientOptions = {}) {
    this.retry = retryPolicy(options.retries);
    this.logger = options.logger;
    const credentials = new CredentialStore(options.credentials, {
      authFile: options.authFile,
      useDockerConfig: options.useDockerConfig,
      env: options.env,
    });
    const proxy = proxySettings(options.env ?? process.env);
    this.transport = new Transport({
      credentials,
      insecureRegistries: options.insecureRegistries ?? [],
      ca: options.ca,
      userAgent: options.userAgent ?? `ocidelta/0.1.0 (node ${process.version})`,
      retry: this.retry,
      timeouts: timeouts(options.timeouts),
      allowCrossHostCredentials: options.allowCrossHostCredentials ?? false,
      oauth2PasswordGrant: options.oauth2PasswordGrant ?? false,
      logger: options.logger,
      now: options.now,
      ...(proxy ? { proxy } : {}),
    });
  }

  /** Number of token requests sent so far (diagnostics, tests). */
  get tokenFetches(): number {
    return this.transport.auth.tokens.fetches;
  }

  /**
   * Fetch a manifest by tag or digest, verified against `ref.digest` or the registry's
   * `Docker-Content-Digest`. Throws ERR_MANIFEST_UNKNOWN, ERR_AUTH, ERR_DIGEST_MISMATCH...
   */
  async getManifest(
    refIn: ReferenceLike,
    opts: { accept?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<ManifestResult> {
    const ref = toReference(refIn);
    const res = await this.requestManifest('GET', ref, opts);
    const bytes = await readLimited(res.body, MAX_MANIFEST_SIZE, ref.toString());
    const headerDigest = res.header('docker-content-digest');
    const expected = ref.digest ?? (headerDigest && isDigest(headerDigest) ? headerDigest : undefined);
    const algorithm = expected ? parseDigest(expected).algorithm : 'sha256';
    const actual = digestOf(bytes, algorithm);
    if (expected !== undefined && actual !== expected) {
      throw new DigestMismatchError(expected, actual, { ref: ref.toString(), url: res.url });
    }
    return { bytes, mediaType: mediaTypeOf(res.header('content-type'), bytes), digest: actual };
  }

  /**
   * Resolve a tag (or check a digest) without downloading: HEAD the manifest. Undefined when the
   * manifest does not exist. Falls back to GET when the registry sends no digest header.
   */
  async headManifest(
    refIn: ReferenceLike,
    opts: { accept?: readonly string[]; signal?: AbortSignal } = {},
  ): Promise<{ digest: Digest; mediaType: string; size: number } | undefined> {
    const ref = toReference(refIn);
    const res = await this.requestManifest('HEAD', ref, opts, [200, 404]);
    dump(res.body);
    if (res.status === 404) return undefined;
    const digest = res.header('docker-content-digest');
    const size = Number(res.header('content-length'));
    if (digest && isDigest(digest) && Number.isFinite(size)) {
      return { digest, mediaType: mediaTypeOf(res.header('content-type')), size };
    }
    const m = await this.getManifest(ref, opts);
    return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
  }

  /** GET or HEAD the manifest `ref` names, accepting `opts.accept` (default: every manifest type). */
  private requestManifest(
    method: 'GET' | 'HEAD',
    ref: Reference,
    opts: { accept?: readonly string[]; signal?: AbortSignal },
    ok?: readonly number[],
  ): Promise<RegistryResponse> {
    return this.transport.request({
      registry: ref.registry,
      method,
      path: manifestPath(ref),
      headers: { accept: (opts.accept ?? MANIFEST_ACCEPT).join(', ') },
      scopes: [pullScope(ref.repository)],
      signal: opts.signal,
      ...(ok ? { ok } : {}),
      context: { ref: ref.toString(), resource: 'manifest' },
    });
  }

  /** Upload a manifest under `ref` (tag or digest); returns its digest. Blobs must exist first. */
  async putManifest(
    refIn: ReferenceLike,
    bytes: Uint8Array,
    mediaType: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<Digest> {
    const ref = toReference(refIn);
    const algorithm = ref.digest ? parseDigest(ref.digest).algorithm : 'sha256';
    const digest = digestOf(bytes, algorithm);
    if (ref.digest && ref.digest !== digest) {
      throw new DigestMismatchError(ref.digest, digest, { ref: ref.toString() });
    }
    const res = await this.transport.request({
      registry: ref.registry,
      method: 'PUT',
      path: manifestPath(ref),
      headers: { 'content-type': mediaType },
      body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      scopes: [pushScope(ref.repository)],
      signal: opts.signal,
      context: { ref: ref.toString(), resource: 'manifest', digest },
    });
    dump(res.body);
    const got = res.header('docker-content-digest');
    if (got && isDigest(got) && parseDigest(got).algorithm === algorithm && got !== digest) {
      throw new DigestMismatchError(digest, got, { ref: ref.toString(), url: res.url });
    }
    return digest;
  }

  /**
   * Delete a manifest. A tag is first resolved to its digest (the API deletes by digest, which
   * removes every tag pointing to it). The registry must have deletion enabled.
   */
  async deleteManifest(refIn: ReferenceLike, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const ref = toReference(refIn);
    let digest = ref.digest;
    if (digest === undefined) {
      const head = await this.headManifest(ref, opts);
      if (!head) {
        throw new RegistryError('ERR_MANIFEST_UNKNOWN', `${ref.toString()}: manifest unknown`, {
          ref: ref.toString(),
          status: 404,
        });
      }
      digest = head.digest;
    }
    const res = await this.transport.request({
      registry: ref.registry,
      method: 'DELETE',
      path: manifestPath(ref, digest),
      scopes: [deleteScope(ref.repository)],
      signal: opts.signal,
      ok: [200, 202, 204],
      context: { ref: ref.toString(), resource: 'manifest', digest },
    });
    dump(res.body);
  }

  /** Fetch `ref` and parse it as an index or an image (config read and verified). */
  async getIndexOrImage(refIn: ReferenceLike, opts: { signal?: AbortSignal } = {}): Promise<IndexOrImage> {
    const ref = toReference(refIn);
    const m = await this.getManifest(ref, opts);
    const parsed = parseManifest(m.bytes, m.mediaType, { ref: ref.toString() });
    if (parsed.kind === 'index') return { kind: 'index', index: loadIndex(m.bytes, m.mediaType) };
    const image = await loadImage(this.blobSource(ref), m.bytes, {
      mediaType: m.mediaType,
      signal: opts.signal,
    });
    return { kind: 'image', image };
  }

  /**
   * Resolve `ref` to one image: an index is narrowed to `platform` (default: this host's).
   * Layers of the returned Image stream from the registry, verified.
   */
  async resolveImage(
    refIn: ReferenceLike,
    opts: { platform?: Platform; signal?: AbortSignal } = {},
  ): Promise<Image> {
    const ref = toReference(refIn);
    const m = await this.getManifest(ref, opts);
    const parsed = parseManifest(m.bytes, m.mediaType, { ref: ref.toString() });
    let bytes = m.bytes;
    let mediaType = m.mediaType;
    if (parsed.kind === 'index') {
      const desc = selectManifest(parsed.manifest, opts.platform ?? hostPlatform());
      const child = await this.getManifest(ref.withDigest(desc.digest), {
        signal: opts.signal,
        accept: [desc.mediaType, ...MANIFEST_ACCEPT],
      });
      bytes = child.bytes;
      mediaType = child.mediaType;
    }
    return loadImage(this.blobSource(ref), bytes, { mediaType, signal: opts.signal });
  }

  /**
   * A core BlobSource reading blobs of `repo` from the registry (resumable). It does not hash:
   * core's `openVerified`, `readBlob` and `Layer` streams verify what they read, exactly once.
   */
  blobSource(repoIn: ReferenceLike): BlobSource {
    const repo = toReference(repoIn);
    return {
      openBlob: (descriptor, options = {}) => this.getBlob(repo, descriptor, { ...options, verify: false }),
    };
  }

  /** Size of a blob in `repo`, or undefined when the repository does not have it. */
  async headBlob(
    repoIn: ReferenceLike,
    digest: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<{ size: number } | undefined> {
    const repo = toReference(repoIn);
    const d = toDigest(digest);
    const res = await this.transport.request({
      registry: repo.registry,
      method: 'HEAD',
      path: `/v2/${repo.repository}/blobs/${d}`,
      scopes: [pullScope(repo.repository)],
      signal: opts.signal,
      ok: [200, 404],
      context: { ref: `${repo.name}@${d}`, resource: 'blob', digest: d },
    });
    dump(res.body);
    if (res.status === 404) return undefined;
    return { size: Number(res.header('content-length') ?? Number.NaN) };
  }

  /**
   * Stream a blob, verified against the descriptor's digest and size (from `offset` only the
   * size can be checked). Follows redirects; resumes with Range after a dropped connection.
   */
  async getBlob(
    repoIn: ReferenceLike,
    descriptor: Pick<Descriptor, 'digest' | 'size'>,
    opts: {
      signal?: AbortSignal;
      onProgress?: (p: BlobProgress) => void;
      offset?: number;
      /** Hash and check the bytes (default true; from an offset only the size is known). */
      verify?: boolean;
    } = {},
  ): Promise<Readable> {
    const repo = toReference(repoIn);
    const digest = toDigest(descriptor.digest);
    const context = { ref: `${repo.name}@${digest}`, resource: 'blob' as const, digest };
    const open = (offset: number) =>
      this.transport.request({
        registry: repo.registry,
        method: 'GET',
        path: `/v2/${repo.repository}/blobs/${digest}`,
        headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
        scopes: [pullScope(repo.repository)],
        signal: opts.signal,
        ok: [200, 206],
        context,
      });
    const offset = opts.offset ?? 0;
    const first = await open(offset);
    return resumableBlobStream({
      open,
      first,
      digest,
      size: descriptor.size,
      offset,
      retry: this.retry,
      signal: opts.signal,
      context,
      onProgress: opts.onProgress,
      logger: this.logger,
      verify: opts.verify,
    });
  }

  /**
   * Upload a blob unless `repo` has it (skipped), by mount from `mountFrom` on the same registry,
   * else monolithic or chunked by size. `data` as a function can be re-opened to restart.
   */
  uploadBlob(
    repoIn: ReferenceLike,
    data: BlobData,
    expected: { digest: string; size: number },
    opts: UploadOptions = {},
  ): Promise<UploadResult> {
    const repo = toReference(repoIn);
    return uploadBlob(
      {
        transport: this.transport,
        repo,
        retry: this.retry,
        headBlob: (digest, signal) => this.headBlob(repo, digest, { signal }),
        logger: this.logger,
      },
      data,
      expected,
      opts,
    );
  }

  /** All tags of `repo`, following `Link` pagination (`n` is the page size). */
  listTags(
    repoIn: ReferenceLike,
    opts: { n?: number; last?: string; signal?: AbortSignal } = {},
  ): Promise<string[]> {
    const repo = toReference(repoIn);
    return listAll(this.transport, {
      registry: repo.registry,
      path: `/v2/${repo.repository}/tags/list${pageQuery(opts)}`,
      field: 'tags',
      scopes: [pullScope(repo.repository)],
      signal: opts.signal,
      context: { ref: repo.name, resource: 'tags' },
    });
  }

  /** All repositories of a registry (`/v2/_catalog`), following pagination. */
  catalog(opts: { registry: string; n?: number; last?: string; signal?: AbortSignal }): Promise<string[]> {
    return listAll(this.transport, {
      registry: opts.registry,
      path: `/v2/_catalog${pageQuery(opts)}`,
      field: 'repositories',
      scopes: [CATALOG_SCOPE],
      signal: opts.signal,
      context: { ref: opts.registry, resource: 'catalog' },
    });
  }

  /**
   * Check that the registry accepts this client's credentials: `GET /v2/` with them (Basic, or a
   * token from its realm). ERR_AUTH when refused.
   */
  async checkLogin(registry: string, signal?: AbortSignal): Promise<void> {
    const res = await this.transport.request({
      registry,
      method: 'GET',
      path: '/v2/',
      scopes: [],
      signal,
      ok: [200],
      context: { ref: registry, resource: 'ping' },
    });
    dump(res.body);
  }

  /** Close idle connections. The client must not be used afterwards. */
  async close(): Promise<void> {
    await this.transport.close();
  }
}
