/**
 * One pass over a Mender artifact v3 file: members in order (version, manifest, manifest.sig,
 * header.tar[.gz|.xz|.zst], data/0000.tar[...]), each checked as it streams (checksums from the
 * manifest, the signature, sizes bounded), payload files handed to an optional sink.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { decompressor } from '../compression.js';
import { Digester } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { DEFAULT_MAX_ARTIFACT_HEADER_SIZE } from '../limits.js';
import { readTar } from '../tar/index.js';
import { xzDecompressor } from '../xz.js';
import { type ArtifactVersion, parseHeaderJson, VersionSchema } from './header.js';
import { decompressMember, type ParsedHeader, parseHeaderTar, readAll } from './header-tar.js';
import { type ArtifactManifestEntry, parseArtifactManifest } from './manifest.js';
import type { ArtifactCompression } from './options.js';
import { PAYLOAD_NAME } from './options.js';
import type { ArtifactInfo, ArtifactPayloadInfo, ReadArtifactOptions } from './reader.js';
import { verifyManifestSignature } from './sign.js';

const SMALL_LIMIT = 1 << 20;

export function invalid(path: string, message: string, details: Record<string, unknown> = {}): OciDeltaError {
  return new OciDeltaError('ERR_INVALID_ARTIFACT', `${path}: ${message}`, { path, ...details });
}

function compressionOf(ext: string, path: string, member: string): ArtifactCompression {
  if (ext === '') return 'none';
  if (ext === '.gz') return 'gzip';
  if (ext === '.zst') return 'zstd';
  if (ext === '.xz') return 'xz';
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
export type PayloadSink = (name: string) => ((chunk: Buffer) => Promise<void>) | undefined;

export interface ScanResult extends Omit<ArtifactInfo, 'size'> {}

export async function scanArtifact(
  path: string,
  options: ReadArtifactOptions,
  payloadSink?: PayloadSink,
  onPayloadEnd?: (name: string, error?: OciDeltaError) => void,
): Promise<ScanResult> {
  const scan = new ArtifactScan(path, options, payloadSink, onPayloadEnd);
  const source = createReadStream(path, { highWaterMark: 1 << 20, signal: options.signal });
  try {
    for await (const { header: entry, body } of readTar(source, path)) await scan.member(entry, body);
  } catch (err) {
    if (err instanceof OciDeltaError) throw err;
    if (err instanceof Error && err.name === 'AbortError') {
      throw new OciDeltaError('ERR_ABORTED', `${path}: reading aborted`, { path }, { cause: err });
    }
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot read artifact ${path}: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  } finally {
    source.destroy();
  }
  return scan.finish();
}

/** The state of one pass over an artifact: members in order, each checked as it streams. */
class ArtifactScan {
  private stage = 0; // 0 start, 1 version, 2 manifest, 3 sig, 4 header, 5 data
  private version: ArtifactVersion | undefined;
  private versionBytes: Buffer | undefined;
  private manifestBytes: Buffer | undefined;
  private manifest: ArtifactManifestEntry[] = [];
  private readonly byPath = new Map<string, string>();
  private signature: string | undefined;
  private signatureVerified = false;
  private header: ParsedHeader | undefined;
  private compression: ArtifactCompression = 'none';
  private readonly payloads: ArtifactPayloadInfo[] = [];

  constructor(
    private readonly path: string,
    private readonly options: ReadArtifactOptions,
    private readonly payloadSink?: PayloadSink,
    private readonly onPayloadEnd?: (name: string, error?: OciDeltaError) => void,
  ) {}

  /** Check one top-level member of the artifact tar. */
  async member(entry: { name: string; type: string }, body: AsyncIterable<Buffer>): Promise<void> {
    const { path } = this;
    const name = entry.name;
    if (entry.type !== 'file')
      throw invalid(path, `unexpected tar entry ${name} (type ${entry.type})`, { member: name });
    if (this.stage === 0 && name !== 'version') {
      throw invalid(path, `expected version as the first member, found ${name}`, { member: name });
    }
    const order = (ok: boolean) => {
      if (!ok) throw invalid(path, `out-of-order member ${name}`, { member: name });
    };
    if (name === 'version') {
      order(this.stage === 0);
      await this.readVersion(body);
    } else if (name === 'manifest') {
      order(this.stage === 1);
      this.manifestBytes = await readAll(body, SMALL_LIMIT, path, name);
      this.manifest = parseArtifactManifest(this.manifestBytes.toString('utf8'), path);
      for (const e of this.manifest) this.byPath.set(e.path, e.sha256);
      this.stage = 2;
    } else if (name === 'manifest.sig') {
      order(this.stage === 2);
      this.signature = (await readAll(body, SMALL_LIMIT, path, name)).toString('utf8');
      this.stage = 3;
    } else if (/^header\.tar(\.[a-z]+)?$/.test(name)) {
      order(this.stage === 2 || this.stage === 3);
      await this.readHeader(name, body);
    } else if (/^data\/0000\.tar(\.[a-z]+)?$/.test(name)) {
      order(this.stage === 4);
      await this.readData(name, body);
    } else if (this.stage >= 5 || /^(header|data)/.test(name)) {
      throw invalid(path, `out-of-order or unexpected member ${name}`, { member: name });
    } else {
      throw invalid(path, `unknown member ${name}`, { member: name });
    }
  }

  private async readVersion(body: AsyncIterable<Buffer>): Promise<void> {
    this.versionBytes = await readAll(body, SMALL_LIMIT, this.path, 'version');
    const version = parseHeaderJson(VersionSchema, this.versionBytes.toString('utf8'), 'version', this.path);
    if (version.format !== 'mender' || version.version !== 3) {
      throw invalid(
        this.path,
        `unsupported artifact format ${version.format} version ${version.version} (need mender 3)`,
        {
          member: 'version',
        },
      );
    }
    this.version = version;
    this.stage = 1;
  }

  private async readHeader(name: string, body: AsyncIterable<Buffer>): Promise<void> {
    const { path } = this;
    this.afterSignature();
    const headerLimit = this.options.maxHeaderSize ?? DEFAULT_MAX_ARTIFACT_HEADER_SIZE;
    this.compression = compressionOf(name.slice('header.tar'.length), path, name);
    const stored = await readAll(body, headerLimit + SMALL_LIMIT, path, name);
    const expected = this.expectManifest(name);
    const actual = sha256(stored);
    if (actual !== expected) throw checksumError(path, name, expected, actual);
    this.header = await parseHeaderTar(
      await decompressMember(this.compression, stored, path, name, headerLimit),
      path,
    );
    this.stage = 4;
  }

  private async readData(name: string, body: AsyncIterable<Buffer>): Promise<void> {
    const { path } = this;
    const c = compressionOf(name.slice('data/0000.tar'.length), path, name);
    const dec = c === 'xz' ? xzDecompressor() : decompressor(c);
    await pipeline(body, dec, async (decompressed: AsyncIterable<Buffer>) => {
      for await (const file of readTar(decompressed, `${path}: ${name}`)) await this.payload(name, file);
    }).catch((err: unknown) => {
      if (err instanceof OciDeltaError) throw err;
      throw new OciDeltaError(
        'ERR_INVALID_ARTIFACT',
        `${path}: corrupt ${name}: ${(err as Error).message}`,
        { path, member: name },
        { cause: err },
      );
    });
    this.stage = 5;
  }

  /** One payload file of data/0000.tar: named, listed, not repeated, its checksum verified. */
  private async payload(
    name: string,
    file: {
      header: { name: string; type: string; size: number; mtime?: number };
      body: AsyncIterable<Buffer>;
    },
  ): Promise<void> {
    const { path } = this;
    const verify = this.options.verify ?? true;
    const fname = file.header.name;
    if (file.header.type !== 'file' || !PAYLOAD_NAME.test(fname)) {
      throw invalid(path, `${name}: unexpected entry ${fname}`, { member: name, file: fname });
    }
    const member = `data/0000/${fname}`;
    const expected = this.expectManifest(member);
    if (this.payloads.some((p) => p.name === fname)) throw invalid(path, `${name}: duplicate file ${fname}`);
    const sink = this.payloadSink?.(fname);
    const d = new Digester();
    for await (const chunk of file.body) {
      if (verify || sink) d.update(chunk);
      if (sink) await sink(chunk);
    }
    if (verify || sink) {
      const actual = d.digest().slice(7);
      if (actual !== expected) {
        const err = checksumError(path, member, expected, actual);
        this.onPayloadEnd?.(fname, err);
        throw err;
      }
    }
    this.onPayloadEnd?.(fname);
    this.payloads.push({
      name: fname,
      size: file.header.size,
      sha256: expected,
      mtime: file.header.mtime ?? 0,
    });
  }

  private expectManifest(member: string): string {
    const sha = this.byPath.get(member);
    if (sha === undefined) throw invalid(this.path, `${member} is not listed in the manifest`, { member });
    return sha;
  }

  /** Before the header: the signature (when a key is given) and the version's checksum. */
  private afterSignature(): void {
    const { path } = this;
    if (!this.manifestBytes) throw invalid(path, 'manifest is missing');
    if (this.options.publicKey !== undefined) {
      if (this.signature === undefined) {
        throw new OciDeltaError('ERR_ARTIFACT_SIGNATURE', `${path}: artifact is not signed`, { path });
      }
      if (!verifyManifestSignature(this.manifestBytes, this.signature, this.options.publicKey)) {
        throw new OciDeltaError(
          'ERR_ARTIFACT_SIGNATURE',
          `${path}: bad signature (manifest.sig does not match the key)`,
          {
            path,
          },
        );
      }
      this.signatureVerified = true;
    }
    const actual = sha256(this.versionBytes!);
    const expected = this.expectManifest('version');
    if (actual !== expected) throw checksumError(path, 'version', expected, actual);
  }

  finish(): ScanResult {
    const { path } = this;
    if (this.stage < 4) throw invalid(path, this.stage < 2 ? 'manifest is missing' : 'header is missing');
    if (this.stage < 5) throw invalid(path, 'data/0000 payload archive is missing');
    for (const e of this.manifest) {
      if (e.path.startsWith('data/0000/') && !this.payloads.some((p) => `data/0000/${p.name}` === e.path)) {
        throw invalid(path, `${e.path} is listed in the manifest but missing from the payload`, {
          member: e.path,
        });
      }
    }
    return {
      path,
      version: this.version!,
      compression: this.compression,
      manifest: this.manifest,
      signed: this.signature !== undefined,
      signatureVerified: this.signatureVerified,
      checksumsVerified: this.options.verify ?? true,
      ...this.header!,
      payloads: this.payloads,
    };
  }
}
