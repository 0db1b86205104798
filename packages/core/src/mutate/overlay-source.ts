/** A BlobSource that serves some blobs from memory or another source, the rest from a base. */
import { Readable } from 'node:stream';
import type { Digest } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import type { BlobSource } from '../model.js';

/** Where one blob of an overlay comes from: its bytes, or a source that has it. */
export type OverlayBlob = Uint8Array | BlobSource;

/**
 * `blobs` (by digest) in front of `base`: a blob listed in `blobs` is read from there, any other
 * from `base` (without a base, an unlisted blob is ERR_BLOB_UNKNOWN).
 */
export function overlaySource(blobs: ReadonlyMap<Digest, OverlayBlob>, base?: BlobSource): BlobSource {
  return {
    async openBlob(d, options) {
      const hit = blobs.get(d.digest as Digest);
      if (hit instanceof Uint8Array)
        return Readable.from([Buffer.from(hit.buffer, hit.byteOffset, hit.byteLength)]);
      if (hit) return hit.openBlob(d, options);
      if (base) return base.openBlob(d, options);
      throw new OciDeltaError('ERR_BLOB_UNKNOWN', `blob ${d.digest} is not in this image's sources`, {
        digest: d.digest,
      });
    },
  };
}
