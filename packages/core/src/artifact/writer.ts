/**
 * Streaming writer of Mender artifact v3 module-image artifacts (what
 * `mender-artifact write module-image` writes). The manifest, which precedes the data, needs the
 * sha256 of every payload file, so payloads are read twice: a hashing pass (skipped for files
 * given with `sha256` and `size`), then the writing pass, which re-hashes and fails if a file
 * changed in between. The small header tar is built in memory; `data/0000.tar<ext>` is streamed
 * through the compressor into the output and its tar header is patched once its size is known.
 * Output goes to `<out>.tmp-<random>` and is renamed into place only when complete.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { hasZstdCompression } from '../compression.js';
import { Digester } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { buildHeaderInfo, buildMetaData, buildTypeInfo, VERSION_JSON } from './header.js';
import { type ArtifactManifestEntry, formatArtifactManifest } from './manifest.js';
import {
  type ArtifactCompression,
  parseWriteArtifactOptions,
  type ResolvedPayloadFile,
  resolvePayloadFiles,
  type WriteArtifactOptions,
} from './options.js';
import { signManifest } from './sign.js';
import { BLOCK, TAR_END, tarHeader, tarPadding } from './tar.js';

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
}

/** File extension of a compression inside the artifact. */
export function compressionExtension(c: ArtifactCompression): string {
  return c === 'gzip' ? '.gz' : c === 'zstd' ? '.zst' : '';
}

type ZstdZlib = {
  createZstdCompress(): Transform;
  zstdCompressSync(data: Uint8Array): Buffer;
};

function compressor(c: ArtifactCompression, level: number): Transform | undefined {
  if (c === 'gzip') return zlib.createGzip({ level, chunkSize: 1 << 20 });
  if (c === 'zstd') return (zlib as unknown as ZstdZlib).createZstdCompress();
  return undefined;
}

function compressSync(c: ArtifactCompression, data: Buffer, level: number): Buffer {
  if (c === 'gzip') return zlib.gzipSync(data, { level });
  if (c === 'zstd') return (zlib as unknown as ZstdZlib).zstdCompressSync(data);
  return data;
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new OciDeltaError('ERR_ABORTED', 'artifact write aborted', {}, { cause: signal.reason });
  }
}

async function openPayload(file: ResolvedPayloadFile): Promise<AsyncIterable<Uint8Array>> {
  try {
    if (file.open) return (await file.open()) as Readable;
    return createReadStream(file.path!, { highWaterMark: 1 << 20 });
  } catch (err) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot open payload file ${file.path ?? file.name}: ${(err as Error).message}`,
      { path: file.path, name: file.name },
      { cause: err },
    );
  }
}

/** Wrap fs errors from reading a payload into ERR_INPUT naming the file. */
async function* readPayload(file: ResolvedPayloadFile): AsyncGenerator<Uint8Array> {
  const source = await openPayload(file);
  try {
    yield* source;
  } catch (err) {
    if (err instanceof OciDeltaError) throw err;
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot read payload file ${file.path ?? file.name}: ${(err as Error).message}`,
      { path: file.path, name: file.name },
      { cause: err },
    );
  }
}

interface HashedFile extends ResolvedPayloadFile {
  size: number;
  sha256: string;
}

async function hashPayloads(
  files: ResolvedPayloadFile[],
  options: WriteArtifactOptions,
): Promise<HashedFile[]> {
  const out: HashedFile[] = [];
  let done = 0;
  for (const file of files) {
    if (file.sha256 !== undefined && file.size !== undefined) {
      out.push({ ...file, sha256: file.sha256, size: file.size });
      continue;
    }
    const d = new Digester('sha256');
    for await (const chunk of readPayload(file)) {
      checkAborted(options.signal);
      d.update(chunk);
      done += chunk.byteLength;
      options.onProgress?.({ phase: 'hash', done, file: file.name });
    }
    if (file.size !== undefined && file.size !== d.size) {
      throw new OciDeltaError(
        'ERR_SIZE_MISMATCH',
        `payload file ${file.name}: declared size ${file.size} bytes, read ${d.size}`,
        { name: file.name, expected: file.size, actual: d.size },
      );
    }
    out.push({ ...file, size: d.size, sha256: d.digest().slice('sha256:'.length) });
  }
  return out;
}

/** Build the header tar (header-info, headers/0000/type-info, headers/0000/meta-data). */
export function buildHeaderTar(options: WriteArtifactOptions): Buffer {
  const members: Array<[string, string]> = [
    ['header-info', buildHeaderInfo(options)],
    ['headers/0000/type-info', buildTypeInfo(options)],
  ];
  const meta = buildMetaData(options.metaData);
  if (meta !== undefined) members.push(['headers/0000/meta-data', meta]);
  const parts: Buffer[] = [];
  for (const [name, text] of members) {
    const body = Buffer.from(text, 'utf8');
    parts.push(tarHeader({ name, size: body.length, mode: 0o600 }), body, tarPadding(body.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

function smallMember(name: string, body: Buffer): Buffer {
  return Buffer.concat([tarHeader({ name, size: body.length, mode: 0o600 }), body, tarPadding(body.length)]);
}

function sizeLimitError(size: number, max: number, out: string): OciDeltaError {
  return new OciDeltaError(
    'ERR_ARTIFACT_TOO_LARGE',
    `artifact ${out} would be larger than the maximum of ${max} bytes (${size} bytes written so far)`,
    { path: out, size, max },
  );
}

/**
 * Write a Mender artifact v3 module-image artifact to `outputPath`.
 *
 * Payload files are read twice (hash pass, then write pass) unless given with `sha256` and
 * `size`. Throws ERR_INVALID_OPTIONS for bad options, ERR_INPUT for unreadable payloads,
 * ERR_ARTIFACT_TOO_LARGE above `maxArtifactSize`, ERR_ABORTED on `signal`; on any error no
 * output file is left behind.
 */
export async function writeArtifact(
  outputPath: string,
  options: WriteArtifactOptions,
): Promise<WriteArtifactResult> {
  parseWriteArtifactOptions(options);
  const compression = options.compression ?? 'gzip';
  if (compression === 'zstd' && !hasZstdCompression()) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `compression zstd needs a Node.js runtime whose node:zlib has zstd (>= 22.15); this is ${process.version}: use gzip or none`,
      { field: 'compression' },
    );
  }
  const level = options.compressionLevel ?? 6;
  const ext = compressionExtension(compression);
  const mtime = options.mtime instanceof Date ? options.mtime.getTime() / 1000 : (options.mtime ?? 0);
  const files = resolvePayloadFiles(options.files);
  const { signal } = options;
  checkAborted(signal);

  const hashed = await hashPayloads(files, options);
  const headerStored = compressSync(compression, buildHeaderTar(options), level);
  const headerName = `header.tar${ext}`;
  const versionBytes = Buffer.from(VERSION_JSON, 'utf8');
  const entries: ArtifactManifestEntry[] = [
    ...hashed.map((f) => ({ path: `data/0000/${f.name}`, sha256: f.sha256 })),
    { path: headerName, sha256: new Digester().update(headerStored).digest().slice(7) },
    { path: 'version', sha256: new Digester().update(versionBytes).digest().slice(7) },
  ];
  const manifest = Buffer.from(formatArtifactManifest(entries), 'utf8');
  const signature = options.signingKey ? signManifest(manifest, options.signingKey) : undefined;

  const tmp = `${outputPath}.tmp-${randomBytes(6).toString('hex')}`;
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o644);
    let position = 0;
    const max = options.maxArtifactSize;
    const write = async (buf: Uint8Array): Promise<void> => {
      let off = 0;
      while (off < buf.byteLength) {
        const { bytesWritten } = await fh!.write(buf, off, buf.byteLength - off, position + off);
        off += bytesWritten;
      }
      position += buf.byteLength;
      if (max !== undefined && position > max) throw sizeLimitError(position, max, outputPath);
    };
    await write(smallMember('version', versionBytes));
    await write(smallMember('manifest', manifest));
    if (signature !== undefined) await write(smallMember('manifest.sig', Buffer.from(signature, 'utf8')));
    const owner = { mode: 0o600, mtime, uname: 'root', gname: 'root' };
    await write(tarHeader({ name: headerName, size: headerStored.length, ...owner }));
    await write(headerStored);
    await write(tarPadding(headerStored.length));

    // data/0000.tar<ext>: placeholder header, streamed body, then the real header.
    const dataName = `data/0000.tar${ext}`;
    const dataHeaderAt = position;
    await write(Buffer.alloc(BLOCK));
    const dataStart = position;
    const total = hashed.reduce((n, f) => n + f.size, 0);
    let done = 0;
    const dataTar = async function* (): AsyncGenerator<Uint8Array> {
      for (const file of hashed) {
        yield tarHeader({
          name: file.name,
          size: file.size,
          mode: 0o644,
          mtime,
          uname: 'root',
          gname: 'root',
        });
        const d = new Digester('sha256');
        for await (const chunk of readPayload(file)) {
          checkAborted(signal);
          d.update(chunk);
          if (d.size > file.size) break;
          done += chunk.byteLength;
          options.onProgress?.({ phase: 'write', done, total, file: file.name });
          yield chunk;
        }
        const sha = d.digest().slice(7);
        if (d.size !== file.size || sha !== file.sha256) {
          throw new OciDeltaError(
            'ERR_INPUT',
            `payload file ${file.path ?? file.name} changed while the artifact was written (expected ${file.size} bytes with sha256 ${file.sha256}, read ${d.size} bytes with sha256 ${sha})`,
            { name: file.name, path: file.path },
          );
        }
        yield tarPadding(file.size);
      }
      yield TAR_END;
    };
    const sink = async (source: AsyncIterable<Uint8Array>): Promise<void> => {
      for await (const chunk of source) await write(chunk);
    };
    const comp = compressor(compression, level);
    if (comp) await pipeline(dataTar, comp, sink, signal ? { signal } : {});
    else await sink(dataTar());
    const dataSize = position - dataStart;
    const dataHeader = tarHeader({ name: dataName, size: dataSize, ...owner });
    await fh.write(dataHeader, 0, BLOCK, dataHeaderAt);
    await write(tarPadding(dataSize));
    await write(TAR_END);
    await fh.close();
    fh = undefined;
    if (options.warnArtifactSize !== undefined && position > options.warnArtifactSize) {
      options.onWarning?.(
        `artifact ${outputPath} is ${position} bytes, more than the warning limit of ${options.warnArtifactSize} bytes`,
      );
    }
    checkAborted(signal);
    await rename(tmp, outputPath);
    return {
      path: outputPath,
      size: position,
      checksums: Object.fromEntries(entries.map((e) => [e.path, e.sha256])),
      signed: signature !== undefined,
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
