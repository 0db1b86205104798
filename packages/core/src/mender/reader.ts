/**
 * Reader of Mender artifact v3 files: walks the outer tar in one streaming pass, checks the
 * member order (`version`, `manifest`, `manifest.sig`?, `header.tar<ext>`, `data/0000.tar<ext>`),
 * the manifest checksum of every member and payload file, the signature with a given public
 * key, and parses header-info / type-info / meta-data. Payload files are streamed (never
 * buffered); `openArtifactPayload` streams one out, verified against the manifest.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decompressor } from '../compression.js';
import { Digester } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { DEFAULT_MAX_ARTIFACT_HEADER_SIZE } from '../limits.js';
import { readTar } from '../tar/index.js';
import {
  type ArtifactVersion,
  type HeaderInfo,
  parseHeaderJson,
  type TypeInfo,
  VersionSchema,
} from './header.js';
import { decompressSync, type ParsedHeader, parseHeaderTar, readAll } from './header-tar.js';
import { type ArtifactManifestEntry, parseArtifactManifest } from './manifest.js';
import type { ArtifactCompression } from './options.js';
import { PAYLOAD_NAME } from './options.js';
import { verifyManifestSignature } from './sign.js';

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

const SMALL_LIMIT = 1 << 20;

function invalid(path: string, message: string, details: Record<string, unknown> = {}): OciDeltaError {
  return new OciDeltaError('ERR_INVALID_ARTIFACT', `${path}: ${message}`, { path, ...details });
}

function compressionOf(ext: string, path: string, member: string): ArtifactCompression {
  if (ext === '') return 'none';
  if (ext === '.gz') return 'gzip';
  if (ext === '.zst') return 'zstd';
  if (ext === '.xz') {
    throw new OciDeltaError(
      'ERR_INVALID_ARTIFACT',
      `${path}: ${member}: xz (lzma) compressed artifacts are not supported`,
      {
        path,
        member,
      },
    );
  }
  throw invalid(path, `unknown member ${member}`, { member });
}

function checksumError(path: string, member: string, expected: string, actual: string): OciDeltaError {
  return new OciDeltaError(
    'ERR_ARTIFACT_CHECKSUM',
    `${path}: checksum mismatch for ${member}: manifest says ${expected}, content is ${actual}`,
    { path, member, expected, actual },
  );
}

function sha256(data: Uint8Array): string {
  return new Digester().update(data).digest().slice(7);
}

/** Receives the content of payload files while the artifact is scanned. */
type PayloadSink = (name: string) => ((chunk: Buffer) => Promise<void>) | undefined;

interface ScanResult extends Omit<ArtifactInfo, 'size'> {}

async function scanArtifact(
  path: string,
  options: ReadArtifactOptions,
  payloadSink?: PayloadSink,
  onPayloadEnd?: (name: string, error?: OciDeltaError) => void,
): Promise<ScanResult> {
  const verify = options.verify ?? true;
  const headerLimit = options.maxHeaderSize ?? DEFAULT_MAX_ARTIFACT_HEADER_SIZE;
  const { signal } = options;
  let stage = 0; // 0 start, 1 version, 2 manifest, 3 sig, 4 header, 5 data
  let version: ArtifactVersion | undefined;
  let versionBytes: Buffer | undefined;
  let manifestBytes: Buffer | undefined;
  let manifest: ArtifactManifestEntry[] = [];
  const byPath = new Map<string, string>();
  let signature: string | undefined;
  let signatureVerified = false;
  let header: ParsedHeader | undefined;
  let compression: ArtifactCompression = 'none';
  const payloads: ArtifactPayloadInfo[] = [];

  const expectManifest = (member: string): string => {
    const sha = byPath.get(member);
    if (sha === undefined) throw invalid(path, `${member} is not listed in the manifest`, { member });
    return sha;
  };
  const afterSignature = (): void => {
    if (!manifestBytes) throw invalid(path, 'manifest is missing');
    if (options.publicKey !== undefined) {
      if (signature === undefined) {
        throw new OciDeltaError('ERR_ARTIFACT_SIGNATURE', `${path}: artifact is not signed`, { path });
      }
      if (!verifyManifestSignature(manifestBytes, signature, options.publicKey)) {
        throw new OciDeltaError(
          'ERR_ARTIFACT_SIGNATURE',
          `${path}: bad signature (manifest.sig does not match the key)`,
          {
            path,
          },
        );
      }
      signatureVerified = true;
    }
    const actual = sha256(versionBytes!);
    const expected = expectManifest('version');
    if (actual !== expected) throw checksumError(path, 'version', expected, actual);
  };

  const source = createReadStream(path, { highWaterMark: 1 << 20, signal });
  try {
    await walk(source);
  } catch (err) {
    if (err instanceof OciDeltaError) throw err;
    if (err instanceof Error && err.name === 'AbortError') {
      throw new OciDeltaError('ERR_ABORTED', `${path}: reading aborted`, { path }, { cause: err });
    }
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot read artifact ${path}: ${(err as Error).message}`,
      { path },
      {
        cause: err,
      },
    );
  } finally {
    source.destroy();
  }
  return finish();

  async function walk(source: Readable): Promise<void> {
    for await (const { header: entry, body } of readTar(source, path)) {
      const name = entry.name;
      if (entry.type !== 'file')
        throw invalid(path, `unexpected tar entry ${name} (type ${entry.type})`, { member: name });
      if (stage === 0 && name !== 'version') {
        throw invalid(path, `expected version as the first member, found ${name}`, { member: name });
      }
      if (name === 'version') {
        if (stage !== 0) throw invalid(path, `out-of-order member version`, { member: name });
        versionBytes = await readAll(body, SMALL_LIMIT, path, name);
        version = parseHeaderJson(VersionSchema, versionBytes.toString('utf8'), 'version', path);
        if (version.format !== 'mender' || version.version !== 3) {
          throw invalid(
            path,
            `unsupported artifact format ${version.format} version ${version.version} (need mender 3)`,
            {
              member: name,
            },
          );
        }
        stage = 1;
      } else if (name === 'manifest') {
        if (stage !== 1) throw invalid(path, `out-of-order member manifest`, { member: name });
        manifestBytes = await readAll(body, SMALL_LIMIT, path, name);
        manifest = parseArtifactManifest(manifestBytes.toString('utf8'), path);
        for (const e of manifest) byPath.set(e.path, e.sha256);
        stage = 2;
      } else if (name === 'manifest.sig') {
        if (stage !== 2) throw invalid(path, `out-of-order member manifest.sig`, { member: name });
        signature = (await readAll(body, SMALL_LIMIT, path, name)).toString('utf8');
        stage = 3;
      } else if (/^header\.tar(\.[a-z]+)?$/.test(name)) {
        if (stage !== 2 && stage !== 3) throw invalid(path, `out-of-order member ${name}`, { member: name });
        afterSignature();
        compression = compressionOf(name.slice('header.tar'.length), path, name);
        const stored = await readAll(body, headerLimit + SMALL_LIMIT, path, name);
        const expected = expectManifest(name);
        const actual = sha256(stored);
        if (actual !== expected) throw checksumError(path, name, expected, actual);
        header = await parseHeaderTar(decompressSync(compression, stored, path, name, headerLimit), path);
        stage = 4;
      } else if (/^data\/0000\.tar(\.[a-z]+)?$/.test(name)) {
        if (stage !== 4) throw invalid(path, `out-of-order member ${name}`, { member: name });
        const dataCompression = compressionOf(name.slice('data/0000.tar'.length), path, name);
        const dec = decompressor(dataCompression);
        await pipeline(body, dec, async (decompressed: AsyncIterable<Buffer>) => {
          for await (const file of readTar(decompressed, `${path}: ${name}`)) {
            const fname = file.header.name;
            if (file.header.type !== 'file' || !PAYLOAD_NAME.test(fname)) {
              throw invalid(path, `${name}: unexpected entry ${fname}`, { member: name, file: fname });
            }
            const member = `data/0000/${fname}`;
            const expected = expectManifest(member);
            if (payloads.some((p) => p.name === fname))
              throw invalid(path, `${name}: duplicate file ${fname}`);
            const sink = payloadSink?.(fname);
            const d = new Digester();
            for await (const chunk of file.body) {
              if (verify || sink) d.update(chunk);
              if (sink) await sink(chunk);
            }
            if (verify || sink) {
              const actual = d.digest().slice(7);
              if (actual !== expected) {
                const err = checksumError(path, member, expected, actual);
                onPayloadEnd?.(fname, err);
                throw err;
              }
            }
            onPayloadEnd?.(fname);
            payloads.push({
              name: fname,
              size: file.header.size,
              sha256: expected,
              mtime: file.header.mtime ?? 0,
            });
          }
        }).catch((err: unknown) => {
          if (err instanceof OciDeltaError) throw err;
          throw new OciDeltaError(
            'ERR_INVALID_ARTIFACT',
            `${path}: corrupt ${name}: ${(err as Error).message}`,
            { path, member: name },
            { cause: err },
          );
        });
        stage = 5;
      } else if (stage >= 5 || /^(header|data)/.test(name)) {
        throw invalid(path, `out-of-order or unexpected member ${name}`, { member: name });
      } else {
        throw invalid(path, `unknown member ${name}`, { member: name });
      }
    }
  }

  function finish(): ScanResult {
    if (stage < 4) throw invalid(path, stage < 2 ? 'manifest is missing' : 'header is missing');
    if (stage < 5) throw invalid(path, 'data/0000 payload archive is missing');
    for (const e of manifest) {
      if (e.path.startsWith('data/0000/') && !payloads.some((p) => `data/0000/${p.name}` === e.path)) {
        throw invalid(path, `${e.path} is listed in the manifest but missing from the payload`, {
          member: e.path,
        });
      }
    }
    return {
      path,
      version: version!,
      compression,
      manifest,
      signed: signature !== undefined,
      signatureVerified,
      checksumsVerified: verify,
      ...header!,
      payloads,
    };
  }
}

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
