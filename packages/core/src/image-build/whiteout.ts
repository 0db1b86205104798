/**
 * Whiteout names of the OCI layer format: `.wh.<name>` removes `<name>` from lower layers,
 * `.wh..wh..opq` empties its directory. The name a whiteout removes is checked here, once, for
 * everything that applies layers (extraction to disk, trees in memory).
 */
import { OciDeltaError } from '../errors.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

/**
 * The name the whiteout entry `base` (the last component of `entry`) removes. Refuses names
 * that are not one path component (`.wh.`, `.wh..`, `.wh...`) with ERR_UNSAFE_PATH: they would
 * remove the directory itself or its parent.
 */
export function whiteoutTarget(entry: string, base: string, where?: string): string {
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..' || target.includes('/')) {
    throw new OciDeltaError(
      'ERR_UNSAFE_PATH',
      `unsafe entry "${entry}"${where ? ` in ${where}` : ''}: whiteout names no file inside the layer ("${target}")`,
      { entry, ...(where ? { path: where } : {}) },
    );
  }
  return target;
}
