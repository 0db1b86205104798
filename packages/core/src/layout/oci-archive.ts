/**
 * oci-archive: an OCI image layout packed in an uncompressed tar (what `skopeo copy
 * oci-archive:` reads and writes). Reading indexes the tar once and serves blobs by byte range;
 * writing streams blobs into a temp file, verified, renamed into place at the end.
 */

import { createReadStream } from 'node:fs';
import { isOciDeltaError, OciDeltaError } from '../errors.js';
import { MediaType } from '../media-types.js';
import { type Image, loadImage, openVerified, readBlob } from '../model.js';
import { type Descriptor, type IndexManifest, parseManifest } from '../schemas.js';
import { TarIndex } from '../tar/file-index.js';
import { type TarWriter, writeTarFile } from '../tar/file-writer.js';
import { type ArchiveEntry, type ArchiveImages, archiveImages, TarBlobSource } from './archive-source.js';
import {
  OCI_LAYOUT_FILE,
  type OciLayout,
  ociLayoutBytes,
  parseIndexJson,
  parseOciLayoutFile,
} from './oci-layout.js';
import { refNamesOf } from './resolve.js';
import { blobEntryName } from './safe-path.js';
import {
  entryDescriptor,
  entryImages,
  type ImageWriteOptions,
  type NamedImage,
  type NamedIndex,
  withOverallProgress,
} from './write-image.js';

/** Read and validate `oci-layout` + `index.json` from an indexed tar. */
export async function readArchiveIndex(tar: TarIndex): Promise<IndexManifest> {
  const layoutEntry = tar.get(OCI_LAYOUT_FILE);
  if (!layoutEntry) {
    throw new OciDeltaError('ERR_INVALID_ARCHIVE', `${tar.file}: no oci-layout entry (not an OCI archive)`, {
      path: tar.file,
    });
  }
  parseOciLayoutFile(await tar.read(layoutEntry), `${tar.file}:oci-layout`);
  const indexEntry = tar.get('index.json');
  if (!indexEntry) {
    throw new OciDeltaError('ERR_INVALID_ARCHIVE', `${tar.file}: no index.json entry`, { path: tar.file });
  }
  return parseIndexJson(await tar.read(indexEntry), `${tar.file}:index.json`);
}

/**
 * Load every image an index lists: image manifests directly, indexes expanded to their
 * children that are present (an archive may hold one platform of a multi-platform index).
 */
export async function entriesFromIndex(
  source: TarBlobSource,
  index: IndexManifest,
  options: { signal?: AbortSignal } = {},
): Promise<ArchiveEntry[]> {
  const file = source.tar.file;
  const out: ArchiveEntry[] = [];
  const visit = async (d: Descriptor, named: Descriptor, depth: number, required: boolean): Promise<void> => {
    if (!source.hasBlob(d.digest)) {
      if (!required) return;
      throw new OciDeltaError(
        'ERR_BLOB_UNKNOWN',
        `${file}: manifest ${d.digest} listed in index.json is missing`,
        {
          path: file,
          digest: d.digest,
        },
      );
    }
    const bytes = await readBlob(source, d, options.signal).catch((err: unknown) => {
      throw withFile(err, file);
    });
    const parsed = parseManifest(bytes, d.mediaType, { path: file, digest: d.digest });
    if (parsed.kind === 'image') {
      const image = await loadImage(source, bytes, {
        mediaType: parsed.mediaType,
        signal: options.signal,
      }).catch((err: unknown) => {
        throw withFile(err, file);
      });
      out.push({ image, refs: refNamesOf(named), annotations: { ...named.annotations } });
      return;
    }
    if (depth > 3) return;
    for (const child of parsed.manifest.manifests) {
      if (child.platform?.os === 'unknown') continue; // attestation manifests
      await visit(child, named, depth + 1, false);
    }
  };
  for (const d of index.manifests) await visit(d, d, 0, true);
  return out;
}

/** Add the archive file to an error's message when it does not name it yet. */
function withFile(err: unknown, file: string): unknown {
  if (isOciDeltaError(err) && !err.message.includes(file)) {
    return new OciDeltaError(
      err.code,
      `${file}: ${err.message}`,
      { ...err.details, path: file },
      { cause: err },
    );
  }
  return err;
}

/** Read an oci-archive: scans tar headers once, then serves blobs by byte range from the file. */
export async function readOciArchive(
  file: string,
  options: { signal?: AbortSignal } = {},
): Promise<ArchiveImages> {
  const tar = await TarIndex.scan(file, options);
  const index = await readArchiveIndex(tar);
  const source = new TarBlobSource(tar);
  const entries = await entriesFromIndex(source, index, options);
  return archiveImages('oci-archive', source, entries, index);
}

/** Write one blob into a tar (verified while streamed), unless already written. */
export async function addBlobEntry(
  tar: TarWriter,
  image: Image,
  d: Descriptor,
  phase: 'config' | 'layer',
  options: ImageWriteOptions,
): Promise<void> {
  const name = blobEntryName(d.digest);
  if (tar.has(name)) {
    options.onProgress?.({ phase: 'skip', item: d.digest, done: d.size, total: d.size });
    return;
  }
  const data =
    phase === 'config' && d.digest === image.configDigest
      ? image.configBytes
      : await openVerified(image.source, d, { signal: options.signal, context: { digest: d.digest } });
  await tar.addStream(name, data, {
    size: d.size,
    signal: options.signal,
    onProgress: (p) => options.onProgress?.({ phase, item: d.digest, done: p.done, total: d.size }),
  });
}

/** Add `blobs/` and `blobs/<alg>/` directory entries once. */
export async function addBlobDirs(tar: TarWriter, algorithms: Iterable<string> = ['sha256']): Promise<void> {
  await tar.addDirectory('blobs');
  for (const alg of algorithms) await tar.addDirectory(`blobs/${alg}`);
}

/**
 * Write images as an oci-archive (uncompressed tar: `oci-layout`, `blobs/...`, `index.json`),
 * streaming every blob verified, to a temp file renamed to `file` at the end.
 */
export async function writeOciArchive(
  file: string,
  entries: readonly (NamedImage | NamedIndex)[],
  optionsIn: ImageWriteOptions = {},
): Promise<void> {
  const options = withOverallProgress(entries, optionsIn);
  await writeTarFile(file, async (tar) => {
    await tar.addBuffer(OCI_LAYOUT_FILE, ociLayoutBytes());
    await addBlobDirs(tar);
    const manifests: Descriptor[] = [];
    for (const entry of entries) {
      for (const image of entryImages(entry)) {
        await addBlobEntry(tar, image, image.manifest.config, 'config', options);
        for (const layer of image.manifest.layers) await addBlobEntry(tar, image, layer, 'layer', options);
        const name = blobEntryName(image.digest);
        if (!tar.has(name)) await tar.addBuffer(name, image.manifestBytes);
        options.onProgress?.({ phase: 'manifest', item: image.digest, done: 1, total: 1, unit: 'items' });
      }
      if ('index' in entry) {
        const name = blobEntryName(entry.index.digest);
        if (!tar.has(name)) await tar.addBuffer(name, entry.index.manifestBytes);
      }
      manifests.push(entryDescriptor(entry));
    }
    const annotations = options.annotations;
    const index: IndexManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests,
      ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
    };
    await tar.addBuffer('index.json', Buffer.from(JSON.stringify(index)));
  });
}

/**
 * Write the layout directory `layout` as an oci-archive: `oci-layout`, the blobs `blobs` lists
 * (each once, streamed from the layout's files), and its index.json, to a temp file renamed to
 * `file` at the end. For a layout just filled (a pull), whose blob list the caller knows.
 */
export async function archiveLayout(
  layout: OciLayout,
  file: string,
  blobs: readonly Descriptor[],
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const index = await layout.readIndex();
  await writeTarFile(file, async (tar) => {
    await tar.addBuffer(OCI_LAYOUT_FILE, ociLayoutBytes());
    await addBlobDirs(tar);
    for (const d of blobs) {
      const name = blobEntryName(d.digest);
      if (tar.has(name)) continue;
      await tar.addStream(name, createReadStream(layout.blobPath(d.digest)), {
        size: d.size,
        signal: options.signal,
      });
    }
    await tar.addBuffer('index.json', Buffer.from(JSON.stringify(index)));
  });
}
