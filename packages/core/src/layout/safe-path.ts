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

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: shown escaped in messages
const CONTROL_CHARS_GLOBAL = /[\u0000-\u001f\u007f]/g;

/**
 * Throw ERR_INPUT unless `value`, a name taken from input (a version, a software or service
 * name, a tag), can become one path component: non-empty, at most 255 bytes, no `/`, `\`, NUL
 * or control characters, and not `.` or `..`. `what` names it ("version from VERSION").
 */
export function assertSafeFileName(value: string, what: string, details: Record<string, unknown> = {}): void {
  const fail = (why: string): never => {
    throw new OciDeltaError('ERR_INPUT', `${what} "${printableName(value)}" cannot name a file: ${why}`, {
      ...details,
      value,
    });
  };
  if (value.length === 0) fail('it is empty');
  if (Buffer.byteLength(value) > 255) fail('it is longer than 255 bytes');
  if (value === '.' || value === '..') fail('it is a relative directory name');
  if (/[/\\]/.test(value)) fail('it contains a path separator');
  if (CONTROL_CHARS.test(value)) fail('it contains control characters');
}

function printableName(value: string): string {
  const control = CONTROL_CHARS_GLOBAL;
  return value.slice(0, 80).replace(control, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
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
