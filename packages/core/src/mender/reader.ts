/**
 * Reader of Mender artifact v3 files: `readArtifact` checks one streaming pass over the file
 * (artifact-scan.ts: member order, the manifest checksum of every member and payload file, the
 * signature with a given public key, header-info / type-info / meta-data). Payload files are
 * streamed (never buffered); `openArtifactPayload` streams one out, verified against the
 * manifest.
 */
import { stat } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { OciDeltaError } from '../errors.js';
import type { ArtifactVersion, HeaderInfo, TypeInfo } from './header.js';
import type { ArtifactManifestEntry } from './manifest.js';
import type { ArtifactCompression } from './options.js';

/** A payload file listed in the artifact. */
export interface ArtifactPayloadInfo {
  name: string;
  size: number;
  /** sha256 hex (from the manifest; checked against the content when verifying). */
  sha256: string;
  /** Modification time of the tar entry (seconds since the epoch). */
  mtime: number;
}

/** What {@link readArtifact} returns. */
export interface ArtifactInfo {
  path: string;
  /** File size in bytes. */
  size: number;
  version: ArtifactVersion;
  compression: ArtifactCompression;
  /** Manifest lines in order. */
  manifest: ArtifactManifestEntry[];
  /** A `manifest.sig` is present. */
  signed: boolean;
  /** The signature was checked with the given public key (and is valid: otherwise it throws). */
  signatureVerified: boolean;
  /** Payload checksums were checked against the manifest. */
  checksumsVerified: boolean;
  headerInfo: HeaderInfo;
  typeInfo: TypeInfo;
  metaData?: Record<string, unknown>;
  /** State scripts in the header (`scripts/<name>`), by name. */
  scripts: string[];
  payloads: ArtifactPayloadInfo[];
}

export interface ReadArtifactOptions {
  /** PEM public key: the signature must be present and valid. */
  publicKey?: string;
  /** Check payload checksums (default true; headers are always checked). */
  verify?: boolean;
  signal?: AbortSignal;
  /**
   * Largest decompressed `header.tar` accepted (default 16 MiB: header-info, type-info,
   * meta-data and state scripts). A header that unpacks to more is refused as it is inflated.
   */
  maxHeaderSize?: number;
}

import { invalid, type PayloadSink, scanArtifact } from './artifact-scan.js';

/**
 * Read and verify a Mender artifact v3: member order, manifest checksums (of version, header
 * and, unless `verify: false`, every payload file), the signature when `publicKey` is given,
 * and the header JSON. Throws ERR_INVALID_ARTIFACT (format, order, unknown member),
 * ERR_ARTIFACT_CHECKSUM (naming the file), ERR_ARTIFACT_SIGNATURE, ERR_TRUNCATED.
 */
export async function readArtifact(path: string, options: ReadArtifactOptions = {}): Promise<ArtifactInfo> {
  const st = await stat(path).catch((err: unknown) => {
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot read artifact ${path}: ${(err as Error).message}`,
      { path },
      {
        cause: err,
      },
    );
  });
  const result = await scanArtifact(path, options);
  return { ...result, size: st.size };
}

/**
 * Stream one payload file out of an artifact. The promise resolves when the file is reached
 * (after the version, manifest, signature and header were checked); the stream errors with
 * ERR_ARTIFACT_CHECKSUM at its end if the content does not match the manifest.
 */
export function openArtifactPayload(
  path: string,
  name: string,
  options: Omit<ReadArtifactOptions, 'verify'> = {},
): Promise<Readable> {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  return new Promise<Readable>((resolve, reject) => {
    let found = false;
    const sink: PayloadSink = (fname) => {
      if (fname !== name) return undefined;
      found = true;
      resolve(out);
      return async (chunk) => {
        if (out.destroyed) throw new OciDeltaError('ERR_ABORTED', 'payload stream closed by the consumer');
        if (!out.write(chunk)) {
          await new Promise<void>((r, j) => {
            const onDrain = (): void => {
              out.off('close', onClose);
              r();
            };
            const onClose = (): void => {
              out.off('drain', onDrain);
              j(new OciDeltaError('ERR_ABORTED', 'payload stream closed by the consumer'));
            };
            out.once('drain', onDrain);
            out.once('close', onClose);
          });
        }
      };
    };
    // Thrown after the file was streamed, to stop reading the rest of the artifact.
    const stop = new OciDeltaError('ERR_ABORTED', 'payload streamed');
    const onEnd = (fname: string, error?: OciDeltaError): void => {
      if (fname !== name) return;
      if (error) {
        out.destroy(error);
      } else {
        out.end();
        throw stop;
      }
    };
    scanArtifact(path, { ...options, verify: false }, sink, onEnd).then(
      () => {
        if (!found) {
          reject(invalid(path, `no payload file named ${name}`, { member: `data/0000/${name}` }));
        }
      },
      (err: unknown) => {
        if (err === stop) return;
        if (found) {
          if (!out.destroyed && !out.writableEnded) out.destroy(err as Error);
        } else reject(err);
      },
    );
  });
}
