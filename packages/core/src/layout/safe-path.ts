/**
 * Safe names inside layouts and archives: tar entry names and blob paths are checked before
 * anything is read or written, so a hostile archive can never reach outside its target.
 */
import { join } from 'node:path';
import { parseDigest } from '../digest.js';
import { OciDeltaError } from '../errors.js';

/**
 * Throw ERR_UNSAFE_PATH unless `name` is a relative, normalized-enough tar entry name: no
 * absolute path, no `..` segment, no backslash, no NUL, not empty. `file` names the archive in
 * the error message.
 */
export function assertSafeEntryName(name: string, file?: string): void {
  const where = file ? ` in ${file}` : '';
  const fail = (why: string): never => {
    throw new OciDeltaError('ERR_UNSAFE_PATH', `unsafe entry name "${name}"${where}: ${why}`, {
      entry: name,
      ...(file ? { path: file } : {}),
    });
  };
  if (name.length === 0) fail('empty name');
  if (name.includes('\0')) fail('contains NUL');
  if (name.includes('\\')) fail('contains a backslash');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) fail('absolute path');
  for (const segment of name.split('/')) {
    if (segment === '..') fail('contains a ".." segment');
  }
}

/** Normalize a tar entry name for lookup: strips `./` prefixes, duplicate and trailing slashes. */
export function normalizeEntryName(name: string): string {
  return name
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

/** `blobs/<alg>/<hex>` for a digest (validated, so the result is always a safe relative path). */
export function blobEntryName(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/** Absolute path of a blob under a layout directory. */
export function blobFilePath(dir: string, digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return join(dir, 'blobs', algorithm, hex);
}
