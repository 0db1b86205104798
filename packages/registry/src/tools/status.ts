/**
 * Published status of many references at once: HEAD each manifest (bounded concurrency, no
 * layer is pulled) and report present or missing, digest, media type and, for indexes and
 * images, their platforms (read from the index, or the image's small config blob).
 */
import {
  forEachLimit,
  formatPlatform,
  indexPlatforms,
  isOciDeltaError,
  loadImage,
  normalizePlatform,
  parseManifest,
  type Reference,
  toReference,
} from '@ocidelta/core';
import type { RegistryClient } from '../client.js';
import { byDigest, isMissing } from './common.js';

export interface RefStatus {
  /** The reference as given. */
  ref: string;
  present: boolean;
  digest?: string;
  mediaType?: string;
  size?: number;
  /** Platforms (`linux/arm64/v8`) of an index, or of a single image. */
  platforms?: string[];
  /** Why the state is unknown (auth failure, network...): such a ref counts as not present. */
  error?: string;
  errorCode?: string;
}

export interface StatusOptions {
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Also report platforms (a GET of the index or image config; default true). */
  platforms?: boolean;
  signal?: AbortSignal;
  /** Called as each reference is resolved. */
  onResult?: (status: RefStatus) => void;
}

export const DEFAULT_STATUS_CONCURRENCY = 8;

async function platformsOf(
  client: RegistryClient,
  ref: Reference,
  digest: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const m = await client.getManifest(byDigest(ref, digest), { signal });
  const parsed = parseManifest(m.bytes, m.mediaType, { ref: ref.toString() });
  if (parsed.kind === 'index') return indexPlatforms(parsed.manifest).map(formatPlatform);
  const image = await loadImage(client.blobSource(ref), m.bytes, { mediaType: m.mediaType, signal });
  const { os, architecture, variant } = image.config;
  return [
    formatPlatform(normalizePlatform({ os, architecture, variant, osVersion: image.config['os.version'] })),
  ];
}

/** The status of one reference (never throws for registry answers; see `error`). */
export async function refStatus(
  client: RegistryClient,
  ref: string,
  options: Omit<StatusOptions, 'concurrency' | 'onResult'> = {},
): Promise<RefStatus> {
  let parsed: Reference;
  try {
    parsed = toReference(ref);
  } catch (err) {
    return { ref, present: false, error: (err as Error).message, errorCode: 'ERR_INVALID_REFERENCE' };
  }
  try {
    const head = await client.headManifest(parsed, { signal: options.signal });
    if (!head) return { ref, present: false };
    const status: RefStatus = {
      ref,
      present: true,
      digest: head.digest,
      mediaType: head.mediaType,
      size: head.size,
    };
    if (options.platforms !== false)
      status.platforms = await platformsOf(client, parsed, head.digest, options.signal);
    return status;
  } catch (err) {
    if (isMissing(err, false)) return { ref, present: false };
    if (isOciDeltaError(err, 'ERR_ABORTED')) throw err;
    return {
      ref,
      present: false,
      error: (err as Error).message,
      ...(isOciDeltaError(err) ? { errorCode: err.code } : {}),
    };
  }
}

/** The status of each reference, in the order given. */
export async function imageStatus(
  client: RegistryClient,
  refs: readonly string[],
  options: StatusOptions = {},
): Promise<RefStatus[]> {
  const results: RefStatus[] = new Array(refs.length);
  const indexed = refs.map((ref, i) => ({ ref, i }));
  await forEachLimit(
    indexed,
    options.concurrency ?? DEFAULT_STATUS_CONCURRENCY,
    async ({ ref, i }, signal) => {
      const status = await refStatus(client, ref, { ...options, signal });
      results[i] = status;
      options.onResult?.(status);
    },
    { signal: options.signal, what: 'status' },
  );
  return results;
}

/** Parse a refs file: one reference per line; blank lines and `#` comments are ignored. */
export function parseRefsFile(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '');
}
