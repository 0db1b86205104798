/**
 * The image model, in the style of go-containerregistry: an `Image` has a manifest, a config
 * and `Layer`s; an `Index` lists manifests. Sources (layout, archive, registry) and sinks only
 * move these objects; nothing here does I/O except through a `BlobSource`.
 */

import type { Readable } from 'node:stream';
import { decompressor, readAhead } from './compression.js';
import { type Digest, digestOf, verifyingStream } from './digest.js';
import { OciDeltaError } from './errors.js';
import { MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE } from './limits.js';
import { type Compression, layerCompression, MediaType } from './media-types.js';
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  type IndexManifest,
  parseImageConfig,
  parseManifest,
} from './schemas.js';

/** Where blobs come from (a layout directory, an archive, a registry repository...). */
export interface BlobSource {
  /** Open the blob's stored bytes. Implementations may or may not verify; `openVerified` does. */
  openBlob(descriptor: Descriptor, options?: { signal?: AbortSignal }): Promise<Readable>;
}

export interface Layer {
  /** Descriptor of the stored blob (compressed digest, size, media type). */
  readonly descriptor: Descriptor;
  readonly digest: Digest;
  /** Digest of the uncompressed tar (from the image config's rootfs.diff_ids). */
  readonly diffId: Digest;
  readonly mediaType: string;
  readonly size: number;
  readonly compression: Compression;
  /** Stored bytes, verified against the descriptor's digest and size while read. */
  compressed(options?: { signal?: AbortSignal }): Promise<Readable>;
  /**
   * Decompressed tar stream (verified against the compressed digest while read).
   * `onStoredBytes` follows the stored bytes read so far (of `size`: what progress can count on).
   */
  uncompressed(options?: { signal?: AbortSignal; onStoredBytes?: (done: number) => void }): Promise<Readable>;
}

export interface Image {
  readonly mediaType: string;
  readonly manifest: ImageManifest;
  /** Exact manifest bytes (their digest is the image's identity). */
  readonly manifestBytes: Uint8Array;
  readonly digest: Digest;
  readonly config: ImageConfig;
  readonly configBytes: Uint8Array;
  /** The config digest, i.e. the image ID docker shows. */
  readonly configDigest: Digest;
  readonly layers: readonly Layer[];
  /** Open any blob the image references (config or layer). */
  readonly source: BlobSource;
}

export interface Index {
  readonly mediaType: string;
  readonly manifest: IndexManifest;
  readonly manifestBytes: Uint8Array;
  readonly digest: Digest;
}

/** Open a blob and verify it against its descriptor while it streams. */
export async function openVerified(
  source: BlobSource,
  descriptor: Descriptor,
  options: { signal?: AbortSignal; context?: Record<string, unknown> } = {},
): Promise<Readable> {
  const raw = await source.openBlob(descriptor, { signal: options.signal });
  const verify = verifyingStream({
    digest: descriptor.digest,
    size: descriptor.size,
    context: options.context,
  });
  raw.on('error', (err) => verify.destroy(err));
  // A consumer that stops early destroys `verify`; release the blob (file handle, socket) too.
  verify.on('close', () => raw.destroy());
  return raw.pipe(verify);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Read a small blob (manifest, config) fully, verified. A descriptor claiming more than `limit`
 * bytes is refused before anything is read (ERR_INVALID_MANIFEST): the verified stream stops at
 * the descriptor's size, so the limit bounds the memory.
 */
export async function readBlob(
  source: BlobSource,
  descriptor: Descriptor,
  signal?: AbortSignal,
  limit: number = MAX_MANIFEST_SIZE,
): Promise<Buffer> {
  if (descriptor.size > limit) {
    throw new OciDeltaError(
      'ERR_INVALID_MANIFEST',
      `${descriptor.mediaType} ${descriptor.digest} is ${descriptor.size} bytes, more than the limit of ${limit} bytes for a document`,
      { digest: descriptor.digest, size: descriptor.size, limit },
    );
  }
  return readAll(await openVerified(source, descriptor, { signal, context: { digest: descriptor.digest } }));
}

/** Build a Layer over a blob source. */
export function makeLayer(source: BlobSource, descriptor: Descriptor, diffId: Digest): Layer {
  const compression = layerCompression(descriptor.mediaType);
  if (compression === undefined) {
    throw new OciDeltaError(
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      `unsupported layer media type ${descriptor.mediaType}`,
      {
        mediaType: descriptor.mediaType,
        digest: descriptor.digest,
      },
    );
  }
  const compressed = (options: { signal?: AbortSignal } = {}) =>
    openVerified(source, descriptor, { signal: options.signal, context: { digest: descriptor.digest } });
  return {
    descriptor,
    digest: descriptor.digest as Digest,
    diffId,
    mediaType: descriptor.mediaType,
    size: descriptor.size,
    compression,
    compressed,
    async uncompressed(options = {}) {
      const stored = await compressed(options);
      const onStored = options.onStoredBytes;
      if (onStored) {
        let read = 0;
        stored.on('data', (chunk: Uint8Array) => {
          read += chunk.byteLength;
          onStored(read);
        });
      }
      const inflate = decompressor(compression);
      const out = readAhead();
      stored.on('error', (err) => out.destroy(err));
      inflate.on('error', (err) => out.destroy(err));
      out.on('close', () => {
        stored.destroy();
        inflate.destroy();
      });
      return stored.pipe(inflate).pipe(out);
    },
  };
}

/**
 * Load an image from its manifest bytes and a blob source: parses the manifest, reads and
 * verifies the config, pairs layers with diff_ids.
 */
export async function loadImage(
  source: BlobSource,
  manifestBytes: Uint8Array,
  options: { mediaType?: string; signal?: AbortSignal } = {},
): Promise<Image> {
  const digest = digestOf(manifestBytes);
  const parsed = parseManifest(manifestBytes, options.mediaType, { digest });
  if (parsed.kind !== 'image') {
    throw new OciDeltaError('ERR_INVALID_MANIFEST', `${digest} is an index, not an image manifest`, {
      digest,
    });
  }
  const manifest = parsed.manifest;
  const configBytes = await readBlob(source, manifest.config, options.signal, MAX_CONFIG_SIZE);
  const config = parseImageConfig(configBytes, { digest: manifest.config.digest });
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new OciDeltaError(
      'ERR_INVALID_MANIFEST',
      `image ${digest} has ${manifest.layers.length} layers but its config lists ${diffIds.length} diff_ids`,
      { digest },
    );
  }
  return {
    mediaType: parsed.mediaType,
    manifest,
    manifestBytes,
    digest,
    config,
    configBytes,
    configDigest: manifest.config.digest as Digest,
    layers: manifest.layers.map((d, i) => makeLayer(source, d, diffIds[i] as Digest)),
    source,
  };
}

/** Parse an index from bytes. */
export function loadIndex(manifestBytes: Uint8Array, mediaType?: string): Index {
  const digest = digestOf(manifestBytes);
  const parsed = parseManifest(manifestBytes, mediaType, { digest });
  if (parsed.kind !== 'index') {
    throw new OciDeltaError('ERR_INVALID_MANIFEST', `${digest} is an image manifest, not an index`, {
      digest,
    });
  }
  return { mediaType: parsed.mediaType, manifest: parsed.manifest, manifestBytes, digest };
}

/** Canonical JSON bytes for a manifest/config we generate (no whitespace, given key order). */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export { MediaType };
