/**
 * Image references that name local files, as skopeo writes them: `oci:DIR[:NAME]`,
 * `oci-archive:FILE[:NAME]`, `docker-archive:FILE[:NAME]`; anything else (`docker://REF` or a
 * bare reference) is a registry reference left to the caller. Opening resolves one image.
 */
import { resolve } from 'node:path';
import { OciDeltaError } from '../errors.js';
import { readImageArchive } from '../layout/docker-archive.js';
import { OciLayout } from '../layout/oci-layout.js';
import type { Image } from '../model.js';
import type { Platform } from '../platform.js';

export type ImageLocation =
  | { transport: 'oci' | 'oci-archive' | 'docker-archive'; path: string; name?: string }
  | { transport: 'docker'; ref: string };

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
  return {
    transport: 'docker',
    ref: value.startsWith('docker://') ? value.slice('docker://'.length) : value,
  };
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
