/**
 * Streaming writer of Mender artifact v3 module-image artifacts (what
 * `mender-artifact write module-image` writes). The manifest precedes the data but needs the
 * sha256 of every payload file; since the members before the data have sizes known in advance
 * (fixed-width hashes, fixed-size signatures, header built from the options), the data is
 * written first, hashed on the way, in ONE pass over each payload, and the version, manifest and
 * signature are filled in at the start of the file afterwards. Only a payload given as a stream
 * without `size` is read twice (the tar header needs its size first). The small header tar is
 * built in memory; `data/0000.tar<ext>` is streamed
 * through the compressor (gzip: parallel blocks in one gzip member, see pgzip.ts) into the
 * output and its tar header is patched once its size is known.
 * Output goes to `<out>.tmp-<random>` and is renamed into place only when complete.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, rename, stat, unlink } from 'node:fs/promises';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { hasZstdCompression } from '../compression.js';
import { Digester } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { ownerTag } from '../layout/file-lock.js';
import { writeThroughFile } from '../layout/write-blob.js';
import { BLOCK, encodeHeader, padding, paddingFor, TAR_END } from '../tar/index.js';
import { VERSION_JSON } from './header.js';
import { buildHeaderTar } from './header-tar.js';
import { type ArtifactManifestEntry, formatArtifactManifest } from './manifest.js';
import {
  type ArtifactCompression,
  parseWriteArtifactOptions,
  type ResolvedPayloadFile,
  resolvePayloadFiles,
  type WriteArtifactOptions,
} from './options.js';
import { parallelGzip } from './pgzip.js';
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
}

/** File extension of a compression inside the artifact. */
export function compressionExtension(c: ArtifactCompression): string {
  return c === 'gzip' ? '.gz' : c === 'zstd' ? '.zst' : '';
}

type ZstdZlib = {
  createZstdCompress(): Transform;
  zstdCompressSync(data: Uint8Array): Buffer;
};

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

interface SizedFile extends ResolvedPayloadFile {
  size: number;
}

/**
 * Sizes of the payload files (tar headers precede the content): `size` if given, else the
 * file's size on disk; only a stream without `size` is read an extra time, to count it.
 */
async function sizePayloads(
  files: ResolvedPayloadFile[],
  options: WriteArtifactOptions,
): Promise<SizedFile[]> {
  const out: SizedFile[] = [];
  let done = 0;
  for (const file of files) {
    if (file.size !== undefined) {
      out.push({ ...file, size: file.size });
    } else if (file.path !== undefined && !file.open) {
      const st = await stat(file.path).catch((err: unknown) => {
        throw new OciDeltaError(
          'ERR_INPUT',
          `cannot read payload file ${file.path}: ${(err as Error).message}`,
          { path: file.path, name: file.name },
          { cause: err },
        );
      });
      if (!st.isFile()) {
        throw new OciDeltaError('ERR_INPUT', `payload file ${file.path} is not a regular file`, {
          path: file.path,
          name: file.name,
        });
      }
      out.push({ ...file, size: st.size });
    } else {
      let size = 0;
      for await (const chunk of readPayload(file)) {
        checkAborted(options.signal);
        size += chunk.byteLength;
        done += chunk.byteLength;
        options.onProgress?.({ phase: 'hash', item: file.name, done: size, overall: { done } });
      }
      out.push({ ...file, size });
    }
  }
  return out;
}

/** Bytes a tar member of `size` bytes takes (header + padded content). */
function memberSize(size: number): number {
  return BLOCK + size + paddingFor(size);
}

function smallMember(name: string, body: Buffer): Buffer {
  return Buffer.concat([encodeHeader({ name, size: body.length, mode: 0o600 }), body, padding(body.length)]);
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

  const sized = await sizePayloads(files, options);
  const headerStored = compressSync(compression, buildHeaderTar(options), level);
  const headerName = `header.tar${ext}`;
  const versionBytes = Buffer.from(VERSION_JSON, 'utf8');
  const sha = (b: Uint8Array): string => new Digester().update(b).digest().slice(7);
  const tail: ArtifactManifestEntry[] = [
    { path: headerName, sha256: sha(headerStored) },
    { path: 'version', sha256: sha(versionBytes) },
  ];
  // The members before the data have known sizes (fixed-width hashes, fixed-size signatures),
  // so the data is written first, in one pass, and the manifest filled in afterwards.
  const placeholder: ArtifactManifestEntry[] = [
    ...sized.map((f) => ({ path: `data/0000/${f.name}`, sha256: '0'.repeat(64) })),
    ...tail,
  ];
  const manifestLength = Buffer.byteLength(formatArtifactManifest(placeholder), 'utf8');
  const signatureLength = options.signingKey
    ? signManifest(Buffer.alloc(manifestLength), options.signingKey).length
    : undefined;
  const headerAt =
    memberSize(versionBytes.length) +
    memberSize(manifestLength) +
    (signatureLength !== undefined ? memberSize(signatureLength) : 0);

  const tmp = `${outputPath}.tmp-${ownerTag()}-${randomBytes(6).toString('hex')}`;
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
    let position = headerAt;
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
    const writev = async (bufs: Uint8Array[], length: number): Promise<void> => {
      let done = (await fh!.writev(bufs, position)).bytesWritten;
      // A short write is rare: write the rest buffer by buffer.
      let skip = done;
      for (const b of done < length ? bufs : []) {
        if (skip >= b.byteLength) {
          skip -= b.byteLength;
          continue;
        }
        let off = skip;
        skip = 0;
        while (off < b.byteLength) {
          const { bytesWritten } = await fh!.write(b, off, b.byteLength - off, position + done);
          off += bytesWritten;
          done += bytesWritten;
        }
      }
      position += length;
      if (max !== undefined && position > max) throw sizeLimitError(position, max, outputPath);
    };
    const owner = { mode: 0o600, mtime, uname: 'root', gname: 'root' };
    await write(encodeHeader({ name: headerName, size: headerStored.length, ...owner }));
    await write(headerStored);
    await write(padding(headerStored.length));

    // data/0000.tar<ext>: placeholder header, streamed body, then the real header.
    const dataName = `data/0000.tar${ext}`;
    const dataHeaderAt = position;
    await write(Buffer.alloc(BLOCK));
    const dataStart = position;
    const total = sized.reduce((n, f) => n + f.size, 0);
    const hashes: string[] = [];
    let done = 0;
    const dataTar = async function* (): AsyncGenerator<Uint8Array> {
      for (const file of sized) {
        yield encodeHeader({
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
          options.onProgress?.({
            phase: 'write',
            item: file.name,
            done: d.size,
            total: file.size,
            overall: { done, total },
          });
          yield chunk;
        }
        const actual = d.digest().slice(7);
        if (d.size !== file.size) {
          throw new OciDeltaError(
            'ERR_INPUT',
            `payload file ${file.path ?? file.name} changed while the artifact was written (expected ${file.size} bytes, read ${d.size})`,
            { name: file.name, path: file.path, expected: file.size, actual: d.size },
          );
        }
        if (file.sha256 !== undefined && actual !== file.sha256) {
          throw new OciDeltaError(
            'ERR_INPUT',
            `payload file ${file.path ?? file.name}: content has sha256 ${actual}, not the given ${file.sha256}`,
            { name: file.name, path: file.path, expected: file.sha256, actual },
          );
        }
        hashes.push(actual);
        yield padding(file.size);
      }
      yield TAR_END;
    };
    // Coalesce small chunks (stored-block headers, tar headers) into one writev of >= 1 MiB.
    const sink = async (source: AsyncIterable<Uint8Array>): Promise<void> => {
      let batch: Uint8Array[] = [];
      let batched = 0;
      const flush = async (): Promise<void> => {
        if (batch.length === 1) await write(batch[0]!);
        else if (batch.length > 1) await writev(batch, batched);
        batch = [];
        batched = 0;
      };
      for await (const chunk of source) {
        batch.push(chunk);
        batched += chunk.byteLength;
        if (batched >= 1 << 20) await flush();
      }
      await flush();
    };
    if (compression === 'gzip') {
      await sink(parallelGzip(dataTar(), { level, ...(signal ? { signal } : {}) }));
    } else if (compression === 'zstd') {
      const zstd = (zlib as unknown as ZstdZlib).createZstdCompress();
      await pipeline(dataTar, zstd, sink, signal ? { signal } : {});
    } else {
      await sink(dataTar());
    }
    const dataSize = position - dataStart;
    const dataHeader = encodeHeader({ name: dataName, size: dataSize, ...owner });
    await fh.write(dataHeader, 0, BLOCK, dataHeaderAt);
    await write(padding(dataSize));
    await write(TAR_END);
    const size = position;

    const entries: ArtifactManifestEntry[] = [
      ...sized.map((f, i) => ({ path: `data/0000/${f.name}`, sha256: hashes[i]! })),
      ...tail,
    ];
    const manifest = Buffer.from(formatArtifactManifest(entries), 'utf8');
    const signature = options.signingKey ? signManifest(manifest, options.signingKey) : undefined;
    if (manifest.length !== manifestLength || signature?.length !== signatureLength) {
      throw new OciDeltaError(
        'ERR_INVALID_ARTIFACT',
        'internal error: manifest or signature size changed',
        {},
      );
    }
    position = 0;
    await write(smallMember('version', versionBytes));
    await write(smallMember('manifest', manifest));
    if (signature !== undefined) await write(smallMember('manifest.sig', Buffer.from(signature, 'utf8')));
    if (position !== headerAt) {
      throw new OciDeltaError('ERR_INVALID_ARTIFACT', 'internal error: artifact prefix size changed', {});
    }
    position = size;
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
