/**
 * Where an image is, written as skopeo writes it (parsed here and nowhere else):
 * `oci:DIR[:NAME]`, `oci-archive:FILE[:NAME]`, `docker-archive:FILE[:NAME]`, plain paths
 * written as paths (`./x`, `../x`, `/x`, `~/x`, or ending in `.tar`, `.tar.gz`, `.tgz`), and
 * registry references (`docker://REF` or a bare name). The choice is made from the text alone,
 * never from whether a file exists (a mistyped path is "no such file", not a Docker Hub lookup).
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { OciDeltaError } from '../errors.js';

export type ImageRef =
  | { transport: 'oci' | 'oci-archive' | 'docker-archive'; path: string; name?: string }
  /** A path given as a path: an OCI layout directory or an image archive, whichever it is. */
  | { transport: 'path'; path: string }
  | { transport: 'docker'; ref: string };

/** True for text written as a file path rather than an image name. */
export function looksLikePath(value: string): boolean {
  return /^(?:\.{1,2}\/|\/|~\/)/.test(value) || value === '.' || /\.(?:tar|tar\.gz|tgz)$/.test(value);
}

/** Split `transport:path[:name]` (the name is what follows the last colon after the last `/`). */
export function parseImageRef(value: string, baseDir = process.cwd()): ImageRef {
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

/** A local location (everything but a registry reference). */
export type LocalImageRef = Exclude<ImageRef, { transport: 'docker' }>;

/** `ref` written back in transport syntax (`oci:/abs/dir:name`, `docker://host/repo:tag`). */
export function formatImageRef(ref: ImageRef): string {
  if (ref.transport === 'docker') return `docker://${ref.ref}`;
  if (ref.transport === 'path') return ref.path;
  return `${ref.transport}:${ref.path}${ref.name !== undefined ? `:${ref.name}` : ''}`;
}
