/**
 * Image references that name local files, as skopeo writes them: `oci:DIR[:NAME]`,
 * `oci-archive:FILE[:NAME]`, `docker-archive:FILE[:NAME]`, and plain paths written as paths
 * (`./x`, `../x`, `/x`, `~/x`, or ending in `.tar`, `.tar.gz`, `.tgz`); anything else
 * (`docker://REF` or a bare name) is a registry reference left to the caller. The choice is
 * made from the text alone, never from whether a file exists (a mistyped path is "no such
 * file", not a Docker Hub lookup). Opening resolves one image.
 */
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { OciDeltaError } from '../errors.js';
import { readImageArchive } from '../layout/docker-archive.js';
import { OciLayout } from '../layout/oci-layout.js';
import type { Image } from '../model.js';
import type { Platform } from '../platform.js';

export type ImageLocation =
  | { transport: 'oci' | 'oci-archive' | 'docker-archive'; path: string; name?: string }
  /** A path given as a path: an OCI layout directory or an image archive, whichever it is. */
  | { transport: 'path'; path: string }
  | { transport: 'docker'; ref: string };

/** True for text written as a file path rather than an image name. */
export function looksLikePath(value: string): boolean {
  return /^(?:\.{1,2}\/|\/|~\/)/.test(value) || value === '.' || /\.(?:tar|tar\.gz|tgz)$/.test(value);
}

/** Split `transport:path[:name]` (the name is what follows the last colon after the last `/`). */
export function parseImageLocation(value: string, baseDir = process.cwd()): ImageLocation {
  for (const transport of ['oci', 'oci-archive', 'docker-archive'] as const) {
    const prefix = `${transport}:`;
    if (!value.startsWith(prefix)) continue;
    const rest = value.slice(prefix.length);
    const slash = rest.lastIndexOf('/');
    const colon = rest.indexOf(':', slash + 1);
    const path = colon < 0 ? rest : rest.slice(0, colon);
    const name = colon < 0 ? undefined : rest.slice(colon + 1);
    if (path === '') {
      throw new OciDeltaError('ERR_INPUT', `"${value}": missing path after ${prefix}`, { ref: value });
    }
    return { transport, path: resolve(baseDir, path), ...(name ? { name } : {}) };
  }
  if (value.startsWith('docker://')) return { transport: 'docker', ref: value.slice('docker://'.length) };
  if (looksLikePath(value)) {
    const home = homedir();
    return {
      transport: 'path',
      path: resolve(baseDir, value.startsWith('~/') ? `${home}${value.slice(1)}` : value),
    };
  }
  return { transport: 'docker', ref: value };
}

/** An opened local image and what to close once it is no longer read. */
export interface OpenedImage {
  image: Image;
  close(): Promise<void>;
}

/** Open the image a local location names; an index is narrowed to `platform`. */
export async function openLocalImage(
  loc: Exclude<ImageLocation, { transport: 'docker' }>,
  options: { platform?: Platform; signal?: AbortSignal } = {},
): Promise<OpenedImage> {
  if (loc.transport === 'path') {
    const info = await stat(loc.path).catch(() => undefined);
    if (!info)
      throw new OciDeltaError('ERR_INPUT', `${loc.path}: no such file or directory`, { path: loc.path });
    return openLocalImage({ transport: info.isDirectory() ? 'oci' : 'oci-archive', path: loc.path }, options);
  }
  const selector = {
    ...(loc.name !== undefined ? { ref: loc.name } : {}),
    ...(options.platform !== undefined ? { platform: options.platform } : {}),
  };
  if (loc.transport === 'oci') {
    const layout = await OciLayout.open(loc.path);
    return { image: await layout.image(selector), close: async () => undefined };
  }
  const archive = await readImageArchive(loc.path, { signal: options.signal });
  try {
    return { image: await archive.image(selector), close: () => archive.close() };
  } catch (err) {
    await archive.close();
    throw err;
  }
}
