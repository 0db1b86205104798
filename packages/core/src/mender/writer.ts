/**
 * Streaming writer of Mender artifact v3 module-image artifacts (what
 * `mender-artifact write module-image` writes). The manifest precedes the data but needs the
 * sha256 of every payload file; since the members before the data have sizes known in advance
 * (fixed-width hashes, fixed-size signatures, header built from the options), the data is
 * written first, hashed on the way, in ONE pass over each payload, and the version, manifest and
 * signature are filled in at the start of the file afterwards. Only a payload given as a stream
 * without `size` is read twice (the tar header needs its size first). The small header tar is
 * built in memory; `data/0000.tar<ext>` is streamed
 * through the compressor (gzip: parallel blocks in one gzip member, see pgzip.ts; xz: liblzma's
 * multi-threaded encoder, see xz.ts) into the
 * output and its tar header is patched once its size is known.
 * Output goes to a temp name beside it (fs/atomic.ts) and is renamed into place only when complete.
 */
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import type { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { throwIfAborted } from '../abort.js';
import { hasZstdCompression } from '../compression.js';
import { Digester } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { tempPathFor, writeThroughFile } from '../fs/atomic.js';
import { BLOCK, encodeHeader, padding, paddingFor, TAR_END } from '../tar/index.js';
import { hasXz, xzCompress, xzCompressor, xzUnavailableReason } from '../xz.js';
import { VERSION_JSON } from './header.js';
import { buildHeaderTar } from './header-tar.js';
import { type ArtifactManifestEntry, formatArtifactManifest } from './manifest.js';
import {
  type ArtifactCompression,
  parseWriteArtifactOptions,
  resolvePayloadFiles,
  type WriteArtifactOptions,
} from './options.js';
import { payloadTar, type SizedFile, sizePayloads } from './payload-files.js';
import { parallelGzip } from './pgzip.js';
import { PositionedFile } from './positioned-file.js';
import { signManifest } from './sign.js';

/** Result of {@link writeArtifact}. */
export interface WriteArtifactResult {
  /** The artifact's path. */
  path: string;
  /** Its size in bytes. */
  size: number;
  /** The manifest: path in the manifest (`data/0000/<name>`, `header.tar.gz`, `version`) -> sha256 hex. */
  checksums: Record<string, string>;
  /** Whether `manifest.sig` was written. */
  signed: boolean;
  /** The compression written (gzip where xz was asked for but cannot be written here). */
  compression: ArtifactCompression;
}

/**
 * The compression `writeArtifact` writes when asked for `asked`: gzip instead of xz where xz
 * cannot be written here (the optional lzma-native did not load), said through `warn`.
 */
export function writableCompression(
  asked: ArtifactCompression,
  warn?: (message: string) => void,
): ArtifactCompression {
  if (asked !== 'xz' || hasXz()) return asked;
  warn?.(`writing a gzip artifact instead of xz: ${xzUnavailableReason()}`);
  return 'gzip';
}

/** File extension of a compression inside the artifact. */
export function compressionExtension(c: ArtifactCompression): string {
  return c === 'gzip' ? '.gz' : c === 'xz' ? '.xz' : c === 'zstd' ? '.zst' : '';
}

type ZstdZlib = {
  createZstdCompress(): Transform;
  zstdCompressSync(data: Uint8Array): Buffer;
};

async function compressMember(c: ArtifactCompression, data: Buffer, level: number): Promise<Buffer> {
  if (c === 'gzip') return zlib.gzipSync(data, { level });
  if (c === 'xz') return xzCompress(data, level);
  if (c === 'zstd') return (zlib as unknown as ZstdZlib).zstdCompressSync(data);
  return data;
}

/** Bytes a tar member of `size` bytes takes (header + padded content). */
function memberSize(size: number): number {
  return BLOCK + size + paddingFor(size);
}

function smallMember(name: string, body: Buffer): Buffer {
  return Buffer.concat([encodeHeader({ name, size: body.length, mode: 0o600 }), body, padding(body.length)]);
}

/**
 * Write a Mender artifact v3 module-image artifact to `outputPath`.
 *
 * Each payload file is read once (a stream without `size` twice: it is counted first).
 * Throws ERR_INVALID_OPTIONS for bad options, ERR_INPUT for unreadable payloads,
 * ERR_ARTIFACT_TOO_LARGE above `maxArtifactSize`, ERR_ABORTED on `signal`; on any error no
 * output file is left behind.
 */
export async function writeArtifact(
  outputPath: string,
  options: WriteArtifactOptions,
): Promise<WriteArtifactResult> {
  parseWriteArtifactOptions(options);
  const compression = writableCompression(options.compression ?? 'gzip', options.onWarning);
  if (compression === 'zstd' && !hasZstdCompression()) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `compression zstd needs a Node.js runtime whose node:zlib has zstd (>= 22.15); this is ${process.version}: use gzip or none`,
      { field: 'compression' },
    );
  }
  const files = resolvePayloadFiles(options.files);
  throwIfAborted(options.signal, 'artifact write');
  const sized = await sizePayloads(files, options);
  const headerStored = await compressMember(
    compression,
    buildHeaderTar(options),
    options.compressionLevel ?? 6,
  );
  const prefix = prefixOf(sized, options, compression, headerStored);
  const tmp = tempPathFor(outputPath);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o644).catch((err: unknown) => {
      throw new OciDeltaError(
        'ERR_INPUT',
        `cannot create artifact ${outputPath}: ${(err as Error).message}`,
        { path: outputPath },
        { cause: err },
      );
    });
    const out = new PositionedFile(fh, prefix.length, options.maxArtifactSize, outputPath);
    const hashes = await writeHeaderAndData(out, sized, prefix, options, compression);
    const size = out.position;
    const entries: ArtifactManifestEntry[] = [
      ...sized.map((f, i) => ({ path: `data/0000/${f.name}`, sha256: hashes[i]! })),
      ...prefix.tail,
    ];
    const signed = await writePrefix(out, prefix, entries, options.signingKey);
    await fh.close();
    fh = undefined;
    if (options.warnArtifactSize !== undefined && size > options.warnArtifactSize) {
      options.onWarning?.(
        `artifact ${outputPath} is ${size} bytes, more than the warning limit of ${options.warnArtifactSize} bytes`,
      );
    }
    throwIfAborted(options.signal, 'artifact write');
    await rename(tmp, outputPath);
    return {
      path: outputPath,
      size,
      checksums: Object.fromEntries(entries.map((e) => [e.path, e.sha256])),
      signed,
      compression,
    };
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    if (err instanceof Error && err.name === 'AbortError' && !(err instanceof OciDeltaError)) {
      throw new OciDeltaError('ERR_ABORTED', 'artifact write aborted', {}, { cause: err });
    }
    throw err;
  }
}

/** The members before the data: sizes known up front (fixed-width hashes, fixed-size signatures). */
interface Prefix {
  /** Bytes of version, manifest and manifest.sig members: where header.tar starts. */
  length: number;
  manifestLength: number;
  signatureLength: number | undefined;
  versionBytes: Buffer;
  headerName: string;
  headerStored: Buffer;
  /** Manifest entries after the payloads': header.tar and version. */
  tail: ArtifactManifestEntry[];
  ext: string;
  mtime: number;
}

function prefixOf(
  sized: readonly SizedFile[],
  options: WriteArtifactOptions,
  compression: ArtifactCompression,
  headerStored: Buffer,
): Prefix {
  const ext = compressionExtension(compression);
  const headerName = `header.tar${ext}`;
  const versionBytes = Buffer.from(VERSION_JSON, 'utf8');
  const sha = (b: Uint8Array): string => new Digester().update(b).digest().slice(7);
  const tail: ArtifactManifestEntry[] = [
    { path: headerName, sha256: sha(headerStored) },
    { path: 'version', sha256: sha(versionBytes) },
  ];
  // The data is written first, in one pass, and the manifest filled in afterwards.
  const placeholder: ArtifactManifestEntry[] = [
    ...sized.map((f) => ({ path: `data/0000/${f.name}`, sha256: '0'.repeat(64) })),
    ...tail,
  ];
  const manifestLength = Buffer.byteLength(formatArtifactManifest(placeholder), 'utf8');
  const signatureLength = options.signingKey
    ? signManifest(Buffer.alloc(manifestLength), options.signingKey).length
    : undefined;
  const length =
    memberSize(versionBytes.length) +
    memberSize(manifestLength) +
    (signatureLength !== undefined ? memberSize(signatureLength) : 0);
  const mtime = options.mtime instanceof Date ? options.mtime.getTime() / 1000 : (options.mtime ?? 0);
  return {
    length,
    manifestLength,
    signatureLength,
    versionBytes,
    headerName,
    headerStored,
    tail,
    ext,
    mtime,
  };
}

/**
 * header.tar, then data/0000.tar<ext>: a placeholder header, the compressed payload tar
 * streamed, then the real header. Returns the payloads' sha256s.
 */
async function writeHeaderAndData(
  out: PositionedFile,
  sized: readonly SizedFile[],
  prefix: Prefix,
  options: WriteArtifactOptions,
  compression: ArtifactCompression,
): Promise<string[]> {
  const { signal } = options;
  const owner = { mode: 0o600, mtime: prefix.mtime, uname: 'root', gname: 'root' };
  await out.write(encodeHeader({ name: prefix.headerName, size: prefix.headerStored.length, ...owner }));
  await out.write(prefix.headerStored);
  await out.write(padding(prefix.headerStored.length));
  const dataHeaderAt = out.position;
  await out.write(Buffer.alloc(BLOCK));
  const dataStart = out.position;
  const hashes: string[] = [];
  const dataTar = () =>
    payloadTar(sized, { mtime: prefix.mtime, hashes, signal, onProgress: options.onProgress });
  const sink = (source: AsyncIterable<Uint8Array>) => out.writeAll(source);
  if (compression === 'gzip') {
    await sink(
      parallelGzip(dataTar(), { level: options.compressionLevel ?? 6, ...(signal ? { signal } : {}) }),
    );
  } else if (compression === 'xz') {
    const xz = xzCompressor(options.compressionLevel ?? 6, options.compressionThreads);
    await pipeline(dataTar, xz, sink, signal ? { signal } : {});
  } else if (compression === 'zstd') {
    const zstd = (zlib as unknown as ZstdZlib).createZstdCompress();
    await pipeline(dataTar, zstd, sink, signal ? { signal } : {});
  } else {
    await sink(dataTar());
  }
  const dataSize = out.position - dataStart;
  await out.patch(
    encodeHeader({ name: `data/0000.tar${prefix.ext}`, size: dataSize, ...owner }),
    dataHeaderAt,
  );
  await out.write(padding(dataSize));
  await out.write(TAR_END);
  return hashes;
}

/** version, manifest and manifest.sig at the start of the file, into the room left for them. */
async function writePrefix(
  out: PositionedFile,
  prefix: Prefix,
  entries: ArtifactManifestEntry[],
  signingKey: string | undefined,
): Promise<boolean> {
  const manifest = Buffer.from(formatArtifactManifest(entries), 'utf8');
  const signature = signingKey ? signManifest(manifest, signingKey) : undefined;
  if (manifest.length !== prefix.manifestLength || signature?.length !== prefix.signatureLength) {
    throw new OciDeltaError('ERR_INVALID_ARTIFACT', 'internal error: manifest or signature size changed', {});
  }
  const end = out.position;
  out.position = 0;
  await out.write(smallMember('version', prefix.versionBytes));
  await out.write(smallMember('manifest', manifest));
  if (signature !== undefined) await out.write(smallMember('manifest.sig', Buffer.from(signature, 'utf8')));
  if (out.position !== prefix.length) {
    throw new OciDeltaError('ERR_INVALID_ARTIFACT', 'internal error: artifact prefix size changed', {});
  }
  out.position = end;
  return signature !== undefined;
}

/**
 * {@link writeArtifact} into a stream (stdout, an upload body): built and checked in a temp file
 * under `tmpDir` first, since the artifact's tar needs the compressed data's size and the
 * payload hashes before the data; then streamed into `sink`, which is not ended. The result's
 * `path` is that temp file's (gone when this returns).
 */
export async function writeArtifactTo(
  sink: NodeJS.WritableStream,
  options: WriteArtifactOptions & { tmpDir?: string },
): Promise<WriteArtifactResult> {
  const { tmpDir, ...rest } = options;
  return writeThroughFile(sink, 'artifact.mender', (file) => writeArtifact(file, rest), {
    ...(tmpDir !== undefined ? { tmpDir } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}
