/**
 * Small pure helpers for manifest requests: the API path, the media type from `Content-Type`
 * (or the document's own `mediaType`), and a bounded read of a manifest body.
 */
import type { Readable } from 'node:stream';
import { OciDeltaError, type Reference } from '@ocidelta/core';

/** Manifests larger than this are refused (they are JSON documents of a few KB). */
export { MAX_MANIFEST_SIZE } from '@ocidelta/core';

/** `/v2/<repository>/manifests/<identifier>` (identifier: digest, else tag). */
export function manifestPath(ref: Reference, identifier: string = ref.identifier): string {
  return `/v2/${ref.repository}/manifests/${identifier}`;
}

/** Manifest media type from `Content-Type`, else the document's `mediaType` field. */
export function mediaTypeOf(contentType: string | undefined, bytes?: Uint8Array): string {
  const ct = contentType?.split(';')[0]?.trim();
  if (ct && ct !== 'application/json' && ct !== 'text/plain' && ct !== 'application/octet-stream') return ct;
  if (bytes) {
    try {
      const mt = (JSON.parse(Buffer.from(bytes).toString('utf8')) as { mediaType?: unknown }).mediaType;
      if (typeof mt === 'string') return mt;
    } catch {
      // not JSON: parseManifest will say so
    }
  }
  return ct ?? 'application/octet-stream';
}

/** Read a body fully, failing with ERR_INVALID_MANIFEST beyond `limit` bytes. */
export async function readLimited(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new OciDeltaError('ERR_INVALID_MANIFEST', `${what}: manifest larger than ${limit} bytes`, {
        ref: what,
      });
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
