/**
 * The two payload files of an `app` artifact (docs/app.md, "The artifact"), written as streamed
 * `.tar.gz` files with atomic renames:
 * - `manifests.tar.gz`: `manifests/<compose file>`;
 * - `images.tar.gz`: `images/<image-id>/{url-new.txt,url-current.txt,sums-new.txt,
 *   sums-current.txt,image.img[,deep_delta]}` per image.
 * Plus the artifact meta-data object the device requires.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type Digest, OciDeltaError, packTar, type TarMember, writeFileAtomic } from '@ocidelta/core';
import { parallelGzip } from '@ocidelta/core/mender';

/** One `images/<id>/` directory. */
export interface ImagePayload {
  urlNew: string;
  /** Same as urlNew for a full image. */
  urlCurrent: string;
  /** Manifest digest of the new image (sums-new.txt holds its hex; it names the directory). */
  sumNew: Digest;
  /** Manifest digest of the image a deep delta applies to (sumNew for a full image). */
  sumCurrent: Digest;
  /** The image.img file on disk (docker-archive, full or deep delta). */
  imageFile: string;
  deepDelta: boolean;
}

/** The meta-data of an app artifact; the device requires the first four non-empty. */
export interface AppMetaData {
  application_name: string;
  orchestrator: 'docker-compose';
  platform: string;
  /** The release version (the app module requires it non-empty and does not interpret it). */
  version: string;
  images: string[];
}

export function appMetaData(
  applicationName: string,
  platform: string,
  imageIds: string[],
  version = '1',
): AppMetaData {
  return {
    application_name: applicationName,
    orchestrator: 'docker-compose',
    platform,
    // The release version, as the helper writes it (the app module only needs it non-empty).
    version,
    images: [...new Set(imageIds)].sort(),
  };
}

/** A tar entry: a directory, in-memory content, or a file streamed from disk. */
export type TarEntry =
  | { name: string; type: 'directory' }
  | { name: string; type: 'file'; data: Buffer | string }
  | { name: string; type: 'file'; path: string; onProgress?: (done: number, total: number) => void };

/** The tar members of `entries` (a file on disk is opened when its member is written). */
async function* membersOf(entries: Iterable<TarEntry> | AsyncIterable<TarEntry>): AsyncGenerator<TarMember> {
  for await (const entry of entries) {
    if (entry.type === 'directory') {
      yield { name: `${entry.name.replace(/\/$/, '')}/`, type: 'directory', mode: 0o755 };
    } else if ('data' in entry) {
      yield { name: entry.name, mode: 0o644, body: entry.data };
    } else {
      const size = (await stat(entry.path)).size;
      const { path, onProgress } = entry;
      const body = async function* (): AsyncGenerator<Uint8Array> {
        let read = 0;
        for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
          read += chunk.length;
          onProgress?.(read, size);
          yield chunk;
        }
      };
      yield { name: entry.name, mode: 0o644, size, body };
    }
  }
}

/**
 * Write `entries` as a gzip-compressed tar to `target`, atomically (temp file + rename). The
 * gzip (one member, blocks deflated in parallel on libuv's pool: core's parallelGzip) level
 * defaults to 6. Returns the size of the written file.
 */
export async function writeTarGz(
  target: string,
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  options: { signal?: AbortSignal; level?: number } = {},
): Promise<number> {
  try {
    const tar = packTar(membersOf(entries), options.signal ? { signal: options.signal } : {});
    const gzip = parallelGzip(tar, { level: options.level ?? 6, signal: options.signal });
    await writeFileAtomic(target, gzip, { signal: options.signal });
  } catch (err) {
    if (err instanceof OciDeltaError || options.signal?.aborted) throw err;
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot write ${target}: ${(err as Error).message}`,
      { path: target },
      {
        cause: err,
      },
    );
  }
  return (await stat(target)).size;
}

/** The `images/<id>/` directory name of a payload: the hex of its new image's digest. */
export function imageIdOf(img: ImagePayload): string {
  return sha256Hex(img.sumNew);
}

/** The hex of a sha256 digest (the device's app module names and checks images by it). */
function sha256Hex(digest: Digest): string {
  const hex = digest.startsWith('sha256:') ? digest.slice('sha256:'.length) : '';
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new OciDeltaError('ERR_INPUT', `invalid image digest "${digest}" (sha256 expected)`, { digest });
  }
  return hex;
}

/** The entries of `images.tar.gz`, in a stable order (ids sorted). */
export function imagesEntries(
  images: ImagePayload[],
  onProgress?: (id: string, done: number, total: number) => void,
): TarEntry[] {
  const entries: TarEntry[] = [{ name: 'images', type: 'directory' }];
  const seen = new Set<string>();
  for (const img of [...images].sort((a, b) => (a.sumNew < b.sumNew ? -1 : a.sumNew > b.sumNew ? 1 : 0))) {
    const id = imageIdOf(img);
    if (seen.has(id)) continue;
    seen.add(id);
    const dir = `images/${id}`;
    entries.push(
      { name: dir, type: 'directory' },
      { name: `${dir}/url-new.txt`, type: 'file', data: img.urlNew },
      { name: `${dir}/url-current.txt`, type: 'file', data: img.urlCurrent },
      { name: `${dir}/sums-new.txt`, type: 'file', data: id },
      { name: `${dir}/sums-current.txt`, type: 'file', data: sha256Hex(img.sumCurrent) },
    );
    if (img.deepDelta) entries.push({ name: `${dir}/deep_delta`, type: 'file', data: '' });
    entries.push({
      name: `${dir}/image.img`,
      type: 'file',
      path: img.imageFile,
      onProgress: onProgress ? (d, t) => onProgress(id, d, t) : undefined,
    });
  }
  return entries;
}

/** Write `images.tar.gz`. */
export async function writeImagesTarGz(
  target: string,
  images: ImagePayload[],
  options: {
    signal?: AbortSignal;
    onProgress?: (id: string, done: number, total: number) => void;
    /** gzip level (default 6; 0 stores). */
    level?: number;
  } = {},
): Promise<number> {
  return writeTarGz(target, imagesEntries(images, options.onProgress), {
    signal: options.signal,
    ...(options.level !== undefined ? { level: options.level } : {}),
  });
}

/** Write `manifests.tar.gz` with `manifests/<name>` for each compose file. */
export function writeManifestsTarGz(
  target: string,
  files: { name: string; data: Buffer | string }[],
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  const entries: TarEntry[] = [{ name: 'manifests', type: 'directory' }];
  for (const f of files) {
    if (!/^[\w\-.]+$/.test(f.name)) {
      throw new OciDeltaError('ERR_INPUT', `invalid compose file name "${f.name}"`, { name: f.name });
    }
    entries.push({ name: `manifests/${f.name}`, type: 'file', data: f.data });
  }
  return writeTarGz(target, entries, options);
}
