/**
 * docker-archive (`docker save` / `docker load` tars). Reads the Docker >= 25 form (OCI layout +
 * manifest.json + repositories) and the legacy form (`<id>/layer.tar`, `<id>.json`,
 * manifest.json; also what `skopeo copy docker-archive:` writes); writes the Docker >= 25 form
 * with layers as stored or decompressed (named by diff_id, verified while written).
 */

import { sniffCompression } from '../compression.js';
import { digestOf, digestStream, verifyingStream } from '../digest.js';
import { isOciDeltaError, OciDeltaError } from '../errors.js';
import { MediaType } from '../media-types.js';
import type { Layer } from '../model.js';
import { imageFromBlobs } from '../mutate/mutate.js';
import { type Descriptor, parseImageConfig, parseWith } from '../schemas.js';
import { type TarEntry, TarIndex } from '../tar/file-index.js';
import { type TarWriter, writeTarFile } from '../tar/file-writer.js';
import { type ArchiveEntry, type ArchiveImages, archiveImages, TarBlobSource } from './archive-source.js';
import {
  type DockerArchiveImage,
  type DockerLayerMode,
  type DockerManifestItem,
  DockerManifestJsonSchema,
  dockerArchiveMetadata,
} from './docker-metadata.js';
import { addBlobDirs, addBlobEntry, entriesFromIndex, readArchiveIndex } from './oci-archive.js';
import { OCI_LAYOUT_FILE } from './oci-layout.js';
import { blobEntryName } from './safe-path.js';
import { type ImageWriteOptions, withOverallProgress } from './write-image.js';

/** Parse manifest.json of a docker-archive. */
async function readManifestJson(tar: TarIndex): Promise<DockerManifestItem[]> {
  const entry = tar.get('manifest.json');
  if (!entry) {
    throw new OciDeltaError(
      'ERR_INVALID_ARCHIVE',
      `${tar.file}: no manifest.json entry (not a docker-archive)`,
      {
        path: tar.file,
      },
    );
  }
  const where = `${tar.file}:manifest.json`;
  let json: unknown;
  try {
    json = JSON.parse((await tar.read(entry)).toString('utf8'));
  } catch (err) {
    throw new OciDeltaError('ERR_INVALID_ARCHIVE', `${where} is not JSON (${(err as Error).message})`, {
      path: tar.file,
    });
  }
  try {
    return parseWith(DockerManifestJsonSchema, json, 'manifest.json', { path: tar.file });
  } catch (err) {
    throw new OciDeltaError('ERR_INVALID_ARCHIVE', `${where}: ${(err as Error).message}`, { path: tar.file });
  }
}

function missing(tar: TarIndex, name: string, what: string): OciDeltaError {
  return new OciDeltaError(
    'ERR_BLOB_UNKNOWN',
    `${tar.file}: ${what} ${name} listed in manifest.json is missing`,
    {
      path: tar.file,
      entry: name,
    },
  );
}

/** Build an image from a manifest.json item (legacy form): synthesizes a Docker v2 manifest. */
async function legacyEntry(
  source: TarBlobSource,
  item: DockerManifestItem,
  signal?: AbortSignal,
): Promise<ArchiveEntry> {
  const tar = source.tar;
  const configEntry = tar.get(item.Config);
  if (!configEntry) throw missing(tar, item.Config, 'config');
  const configBytes = await tar.read(configEntry);
  const configDigest = digestOf(configBytes);
  const config = parseImageConfig(configBytes, { path: tar.file, entry: item.Config });
  source.alias(configDigest, item.Config);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== item.Layers.length) {
    throw new OciDeltaError(
      'ERR_INVALID_ARCHIVE',
      `${tar.file}: ${item.Config} lists ${diffIds.length} diff_ids but manifest.json lists ${item.Layers.length} layers`,
      { path: tar.file },
    );
  }
  const layers: Descriptor[] = [];
  for (const [i, name] of item.Layers.entries()) {
    const entry = tar.get(name);
    if (!entry) throw missing(tar, name, 'layer');
    const head = await readHead(tar, entry);
    const compression = sniffCompression(head);
    let digest: string;
    if (compression === 'none') {
      digest = diffIds[i]!; // verified against the bytes whenever the layer is read
    } else {
      digest = (await digestStream(tar.open(entry))).digest;
      if (signal?.aborted)
        throw new OciDeltaError('ERR_ABORTED', `reading ${tar.file} was aborted`, { path: tar.file });
    }
    source.alias(digest, name);
    const mediaType =
      compression === 'gzip'
        ? MediaType.DockerLayerGzip
        : compression === 'zstd'
          ? MediaType.DockerLayerZstd
          : MediaType.DockerLayer;
    layers.push({ mediaType, digest, size: entry.size });
  }
  const image = await imageFromBlobs(
    {
      mediaType: MediaType.DockerManifest,
      configMediaType: MediaType.DockerConfig,
      config: configBytes,
      layers,
    },
    source,
  );
  source.remember(image.digest, Buffer.from(image.manifestBytes));
  return { image, refs: [...(item.RepoTags ?? [])], annotations: {} };
}

async function readHead(tar: TarIndex, entry: TarEntry): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of tar.open(entry, { start: 0, end: Math.min(entry.size, 8) })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Read a docker-archive from an already indexed tar. */
export async function dockerArchiveFromTar(
  tar: TarIndex,
  options: { signal?: AbortSignal } = {},
): Promise<ArchiveImages> {
  const items = await readManifestJson(tar);
  const source = new TarBlobSource(tar);
  let index: Awaited<ReturnType<typeof readArchiveIndex>> | undefined;
  let ociEntries: ArchiveEntry[] = [];
  if (tar.has(OCI_LAYOUT_FILE) && tar.has('index.json')) {
    index = await readArchiveIndex(tar);
    try {
      ociEntries = await entriesFromIndex(source, index, options);
    } catch (err) {
      // Docker's containerd store may list manifests it did not export; manifest.json still works.
      if (!isOciDeltaError(err, 'ERR_BLOB_UNKNOWN')) throw err;
      ociEntries = [];
    }
  }
  const entries: ArchiveEntry[] = [];
  const used = new Set<ArchiveEntry>();
  for (const item of items) {
    const configDigest = configDigestOfPath(item.Config);
    const match = ociEntries.find((e) => e.image.configDigest === configDigest && !used.has(e));
    if (match) {
      used.add(match);
      for (const t of item.RepoTags ?? []) if (!match.refs.includes(t)) match.refs.push(t);
      // Further index entries of the same image (more tags) only add names.
      for (const other of ociEntries) {
        if (other !== match && other.image.digest === match.image.digest && !used.has(other)) {
          used.add(other);
          for (const r of other.refs) if (!match.refs.includes(r)) match.refs.push(r);
        }
      }
      entries.push(match);
    } else {
      entries.push(await legacyEntry(source, item, options.signal));
    }
  }
  return archiveImages('docker-archive', source, entries, index);
}

function configDigestOfPath(path: string): string | undefined {
  const m = /^(?:\.\/)?blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(path);
  return m ? `${m[1]}:${m[2]}` : undefined;
}

/** Read a docker-archive (`docker save` output, Docker >= 25 or legacy form). */
export async function readDockerArchive(
  file: string,
  options: { signal?: AbortSignal } = {},
): Promise<ArchiveImages> {
  return dockerArchiveFromTar(await TarIndex.scan(file, options), options);
}

export interface DockerArchiveWriteOptions extends ImageWriteOptions {
  /** 'stored' (default): layer blobs as they are; 'uncompressed': decompressed, named by diff_id. */
  layers?: DockerLayerMode;
  /**
   * Write each layer's entries yourself instead of its blob (once per distinct layer): `name` is
   * the blob's entry name (`blobs/sha256/<diff_id>` with `layers: 'uncompressed'`). A deep delta
   * writes `<name>.vcdiff` and `<name>.source` here. Give the uncompressed sizes with it.
   */
  writeLayer?: (tar: TarWriter, layer: Layer, name: string) => Promise<void>;
  /** Uncompressed layer sizes by diff_id, for the manifest when `writeLayer` writes the layers. */
  uncompressedSizes?: ReadonlyMap<string, number>;
}

/**
 * Write images as a Docker >= 25 `docker save` archive (blobs, index.json, manifest.json,
 * oci-layout, repositories), streaming to a temp file renamed at the end. With
 * `layers: 'uncompressed'` each compressed layer is decompressed while written and verified
 * against its diff_id; the manifest is rewritten to reference the uncompressed layers (config
 * unchanged), so `docker load`'s digest checks pass.
 */
export async function writeDockerArchive(
  file: string,
  images: readonly DockerArchiveImage[],
  optionsIn: DockerArchiveWriteOptions = {},
): Promise<void> {
  const mode = optionsIn.layers ?? 'stored';
  // Uncompressed layers' sizes are only known once written: no overall total then.
  const options = withOverallProgress(images, optionsIn, mode === 'stored' ? 'sizes' : 'unknown');
  await writeTarFile(file, async (tar) => {
    await addBlobDirs(tar);
    const sizes = new Map<string, number>(options.uncompressedSizes ?? []);
    const custom = new Set<string>();
    for (const { image } of images) {
      for (const layer of image.layers) {
        if (options.writeLayer) {
          const name = blobEntryName(mode === 'uncompressed' ? layer.diffId : layer.digest);
          if (!custom.has(name)) await options.writeLayer(tar, layer, name);
          custom.add(name);
          continue;
        }
        if (mode === 'stored' || layer.compression === 'none') {
          await addBlobEntry(tar, image, layer.descriptor, 'layer', options);
          continue;
        }
        const name = blobEntryName(layer.diffId);
        if (tar.has(name)) continue;
        const stream = await layer.uncompressed({ signal: options.signal });
        const verify = verifyingStream({
          digest: layer.diffId,
          context: { path: file, diffId: layer.diffId },
        });
        stream.on('error', (err) => verify.destroy(err));
        const size = await tar.addStream(name, stream.pipe(verify), {
          signal: options.signal,
          onProgress: (p) => options.onProgress?.({ phase: 'layer', item: layer.diffId, done: p.done }),
        });
        sizes.set(layer.diffId, size);
      }
      await addBlobEntry(tar, image, image.manifest.config, 'config', options);
    }
    const meta = dockerArchiveMetadata(images, { layers: mode, uncompressedSizes: sizes });
    for (const m of meta.manifests) {
      const name = blobEntryName(m.digest);
      if (!tar.has(name)) await tar.addBuffer(name, m.bytes);
    }
    await tar.addBuffer('index.json', meta.indexJson);
    await tar.addBuffer('manifest.json', meta.manifestJson);
    await tar.addBuffer(OCI_LAYOUT_FILE, meta.ociLayout);
    if (meta.repositories) await tar.addBuffer('repositories', meta.repositories);
  });
}

/** Read an image archive of either kind: docker-archive when it has manifest.json, else oci-archive. */
export async function readImageArchive(
  file: string,
  options: { signal?: AbortSignal } = {},
): Promise<ArchiveImages> {
  const tar = await TarIndex.scan(file, options);
  if (tar.has('manifest.json')) return dockerArchiveFromTar(tar, options);
  if (tar.has(OCI_LAYOUT_FILE)) {
    const index = await readArchiveIndex(tar);
    const source = new TarBlobSource(tar);
    return archiveImages('oci-archive', source, await entriesFromIndex(source, index, options), index);
  }
  throw new OciDeltaError(
    'ERR_INVALID_ARCHIVE',
    `${file}: neither a docker-archive (manifest.json) nor an oci-archive (oci-layout)`,
    { path: file },
  );
}
