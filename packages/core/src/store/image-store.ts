/**
 * One way to open an image from where it is: an `ImageStore` serves images by name (a ref name
 * in a layout or archive, a reference in a registry) and, where it can, takes new ones. Core
 * implements it for OCI layouts (read and write) and image archives (read); @ocidelta/registry
 * for registries (`registryStore`). `openImage` turns any `ImageRef` into one image.
 */
import { stat } from 'node:fs/promises';
import { OciDeltaError } from '../errors.js';
import type { ArchiveImages } from '../layout/archive-source.js';
import { readImageArchive } from '../layout/docker-archive.js';
import { OciLayout } from '../layout/oci-layout.js';
import type { ImageSelector } from '../layout/resolve.js';
import { writeOciLayout } from '../layout/write-image.js';
import type { Image } from '../model.js';
import type { Platform } from '../platform.js';
import type { PlatformSpec } from '../schemas.js';
import { type ImageRef, type LocalImageRef, parseImageRef } from './image-ref.js';

export interface ImageReadOptions {
  /** Narrows an index (or several platform images) to one image. */
  platform?: Platform | PlatformSpec | string;
  signal?: AbortSignal;
}

export interface ImageWriteToOptions {
  signal?: AbortSignal;
}

/** A place images are read from and, when it supports it, written to. */
export interface ImageStore {
  /** Where it is, for messages (a directory, a file, a registry). */
  readonly where: string;
  /**
   * The image `name` denotes (a ref name or digest in a layout or archive, a reference in a
   * registry); without a name the only image (several: an error listing them).
   */
  image(name?: string, options?: ImageReadOptions): Promise<Image>;
  /** Store `image` under `name` (blobs first, then its manifest); absent when read-only. */
  write?(image: Image, name: string, options?: ImageWriteToOptions): Promise<void>;
  close(): Promise<void>;
}

/** An opened image and what to close once it is no longer read. */
export interface OpenedImage {
  image: Image;
  close(): Promise<void>;
}

/** A layout or archive selector for `name`: a digest (`sha256:...`) or a ref name. */
function selectorOf(name: string | undefined, options: ImageReadOptions): ImageSelector {
  return {
    ...(name === undefined ? {} : /^sha(256|512):[0-9a-f]+$/.test(name) ? { digest: name } : { ref: name }),
    ...(options.platform !== undefined ? { platform: options.platform } : {}),
  };
}

/** An OCI layout directory as an image store (it can be written). */
export function layoutStore(layout: OciLayout): ImageStore {
  return {
    where: layout.dir,
    image: (name, options = {}) => layout.image(selectorOf(name, options)),
    async write(image, name, options = {}) {
      await writeOciLayout(
        layout.dir,
        [{ image, ref: name }],
        options.signal ? { signal: options.signal } : {},
      );
    },
    close: async () => undefined,
  };
}

/** An oci-archive or docker-archive as a (read-only) image store; closing releases the file. */
export function archiveStore(archive: ArchiveImages): ImageStore {
  return {
    where: archive.file,
    image: (name, options = {}) => archive.image(selectorOf(name, options)),
    close: () => archive.close(),
  };
}

/**
 * The layout or archive a local location names, opened (a path: a directory is a layout, a file
 * an archive of either kind). For code that needs more than images (indexes, raw blobs: push).
 */
export async function openLocalSource(
  ref: LocalImageRef,
  options: { signal?: AbortSignal } = {},
): Promise<OciLayout | ArchiveImages> {
  let transport = ref.transport;
  if (transport === 'path') {
    const info = await stat(ref.path).catch(() => undefined);
    if (!info)
      throw new OciDeltaError('ERR_INPUT', `${ref.path}: no such file or directory`, { path: ref.path });
    transport = info.isDirectory() ? 'oci' : 'oci-archive';
  }
  if (transport === 'oci') return OciLayout.open(ref.path);
  return readImageArchive(ref.path, { signal: options.signal });
}

/** Open the store a local location names, and the name it selects (if any). */
export async function openLocalStore(
  ref: LocalImageRef,
  options: { signal?: AbortSignal } = {},
): Promise<{ store: ImageStore; name?: string }> {
  const source = await openLocalSource(ref, options);
  const name = ref.transport === 'path' || ref.name === undefined ? {} : { name: ref.name };
  return { store: source instanceof OciLayout ? layoutStore(source) : archiveStore(source), ...name };
}

export interface OpenImageOptions extends ImageReadOptions {
  /** Directory relative paths are resolved against (default the process's). */
  cwd?: string;
  /** The store of registry references; without it a registry reference is an error. */
  registry?: () => ImageStore;
}

/**
 * The one way to open an image from text or an `ImageRef`: a layout or archive by its name (the
 * only image when none is given), or a registry reference through `options.registry`.
 */
export async function openImage(
  input: string | ImageRef,
  options: OpenImageOptions = {},
): Promise<OpenedImage> {
  const ref = typeof input === 'string' ? parseImageRef(input, options.cwd) : input;
  const read: ImageReadOptions = {
    ...(options.platform !== undefined ? { platform: options.platform } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  if (ref.transport === 'docker') {
    if (!options.registry) {
      throw new OciDeltaError(
        'ERR_INPUT',
        `${ref.ref} is a registry reference, but no registry is configured here`,
        {
          ref: ref.ref,
        },
      );
    }
    return { image: await options.registry().image(ref.ref, read), close: async () => undefined };
  }
  const { store, name } = await openLocalStore(ref, read);
  try {
    return { image: await store.image(name, read), close: () => store.close() };
  } catch (err) {
    await store.close();
    throw err;
  }
}
