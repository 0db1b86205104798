/**
 * Size limits on everything ocidelta reads into memory before parsing it: documents from
 * archives, layouts and the network are JSON or YAML of a few KB, so a limit far above any real
 * one stops a hostile input from exhausting memory without refusing honest data. Blobs and
 * payloads are streamed and never held whole. docs/security.md lists these limits.
 */
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { type ErrorCode, OciDeltaError } from './errors.js';

const MiB = 1024 * 1024;

/** Image manifests and indexes (distribution's own limit for a manifest is 4 MiB). */
export const MAX_MANIFEST_SIZE = 4 * MiB;
/** Image configs (history and labels included; real ones are a few KB). */
export const MAX_CONFIG_SIZE = 8 * MiB;
/** Other metadata files: index.json, oci-layout, docker manifest.json, compose files, build specs, release records. */
export const MAX_METADATA_FILE_SIZE = 4 * MiB;
/** A Mender artifact's decompressed `header.tar` (header-info, type-info, meta-data, state scripts). */
export const DEFAULT_MAX_ARTIFACT_HEADER_SIZE = 16 * MiB;

function tooLarge(
  code: ErrorCode,
  what: string,
  limit: number,
  details: Record<string, unknown>,
): OciDeltaError {
  return new OciDeltaError(code, `${what} is larger than the limit of ${limit} bytes`, { ...details, limit });
}

/**
 * Read a whole file that must not exceed `limit` bytes; the size is checked before anything is
 * read, and again while reading (the file may grow). Errors keep the fs error's code
 * (`ENOENT`...) in `cause` so callers can word "missing" themselves.
 */
export async function readFileLimited(
  path: string,
  limit: number,
  what: string,
  code: ErrorCode = 'ERR_INPUT',
): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > limit) throw tooLarge(code, `${what} (${path}, ${size} bytes)`, limit, { path, size });
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(buf, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    await fh.close();
  }
}

/** A Transform that fails once more than `max` bytes went through (a bounded decompression). */
export function byteLimit(max: number, what: string, code: ErrorCode = 'ERR_INPUT'): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      seen += chunk.length;
      if (seen > max) {
        done(new OciDeltaError(code, `${what} unpacks to more than ${max} bytes`, { limit: max }));
        return;
      }
      done(null, chunk);
    },
  });
}
