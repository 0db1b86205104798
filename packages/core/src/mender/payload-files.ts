/**
 * The payload files of an artifact: opened (a path or a stream), sized before writing (tar
 * headers need sizes first), and streamed as the data tar with each file's sha256 taken and its
 * size and given checksum enforced on the way.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { throwIfAborted } from '../abort.js';
import { Digester } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { encodeHeader, padding, TAR_END } from '../tar/index.js';
import type { ArtifactProgress, ResolvedPayloadFile, WriteArtifactOptions } from './options.js';

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
export async function* readPayload(file: ResolvedPayloadFile): AsyncGenerator<Uint8Array> {
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

export interface SizedFile extends ResolvedPayloadFile {
  size: number;
}

/**
 * Sizes of the payload files (tar headers precede the content): `size` if given, else the
 * file's size on disk; only a stream without `size` is read an extra time, to count it.
 */
export async function sizePayloads(
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
        throwIfAborted(options.signal, 'artifact write');
        size += chunk.byteLength;
        done += chunk.byteLength;
        options.onProgress?.({ phase: 'hash', item: file.name, done: size, overall: { done } });
      }
      out.push({ ...file, size });
    }
  }
  return out;
}

export interface PayloadTarOptions {
  mtime: number;
  /** Receives each file's sha256 (hex), in order. */
  hashes: string[];
  signal?: AbortSignal | undefined;
  onProgress?: ((event: ArtifactProgress) => void) | undefined;
}

/** The data tar of `sized` (uncompressed), hashing and checking each file as it streams. */
export async function* payloadTar(
  sized: readonly SizedFile[],
  options: PayloadTarOptions,
): AsyncGenerator<Uint8Array> {
  const { mtime, hashes, signal } = options;
  const total = sized.reduce((n, f) => n + f.size, 0);
  let done = 0;
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
      throwIfAborted(signal, 'artifact write');
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
}
