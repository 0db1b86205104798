/**
 * Safe extraction of a layer tar into a directory: entry names are checked (no absolute paths,
 * no `..`), symlinks already in the directory are resolved as if the directory were the root
 * (never followed out of it), whiteouts and opaque markers are applied (only to names inside
 * the directory), and directory modes are set last so read-only directories can still be
 * filled. Modes and times are set through file handles opened without following symlinks, on
 * paths checked to be plain directories from the root down, so no entry can make a later one
 * act outside the directory.
 */
import { constants } from 'node:fs';
import { type FileHandle, link, lstat, mkdir, open, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { throwIfAborted } from '../abort.js';
import { OciDeltaError } from '../errors.js';
import { assertSafeEntryName, normalizeEntryName } from '../layout/safe-path.js';
import type { Layer } from '../model.js';
import type { TarHeader } from '../tar/format.js';
import { readTar } from '../tar/reader.js';
import { layerTarError } from './tree.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX, whiteoutTarget } from './whiteout.js';

export interface ExtractOptions {
  signal?: AbortSignal;
  /** Called for entries that are skipped (devices, fifos), with a reason. */
  onWarning?: (message: string) => void;
  /** Names the tar in error messages. */
  where?: string;
}

export interface ExtractResult {
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  whiteouts: number;
  skipped: number;
}

const MAX_LINKS = 40;

const TYPE_NAMES: Record<string, string> = {
  '3': 'character-device',
  '4': 'block-device',
  '6': 'fifo',
};

function describeType(typeflag: string): string {
  return TYPE_NAMES[typeflag] ?? `type ${JSON.stringify(typeflag)}`;
}

function unsafe(name: string, why: string, where?: string): OciDeltaError {
  return new OciDeltaError(
    'ERR_UNSAFE_PATH',
    `unsafe entry "${name}"${where ? ` in ${where}` : ''}: ${why}`,
    {
      entry: name,
      ...(where ? { path: where } : {}),
    },
  );
}

/**
 * The absolute path of `rel` under `root`, resolving symlinks met on the way as if `root` were
 * `/` (absolute targets restart at root, `..` stops at root). The last component is resolved
 * only with `followLast`.
 */
export async function resolveInRoot(root: string, rel: string, followLast = false): Promise<string> {
  const queue = rel.split('/').filter((s) => s !== '' && s !== '.');
  let current: string[] = [];
  let links = 0;
  while (queue.length > 0) {
    const part = queue.shift() as string;
    if (part === '..') {
      current.pop();
      continue;
    }
    const candidate = [...current, part];
    if (queue.length === 0 && !followLast) {
      current = candidate;
      break;
    }
    const abs = join(root, ...candidate);
    let isLink = false;
    try {
      isLink = (await lstat(abs)).isSymbolicLink();
    } catch {
      isLink = false;
    }
    if (!isLink) {
      current = candidate;
      continue;
    }
    if (++links > MAX_LINKS) throw unsafe(rel, 'too many levels of symbolic links');
    const target = await readlink(abs);
    if (target.startsWith('/')) current = [];
    queue.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
  }
  return join(root, ...current);
}

/**
 * True when every component of `abs` below `root` exists and none is a symlink: the path is
 * where it was when the entry was written, not redirected by a later entry.
 */
async function isPlainPathInside(root: string, abs: string): Promise<boolean> {
  const rel = relative(root, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return false;
  let current = root;
  for (const part of rel.split(sep)) {
    current = join(current, part);
    const st = await lstatOrUndefined(current);
    if (!st || st.isSymbolicLink()) return false;
  }
  return true;
}

/** Set mode and times of the directory at `abs` through a handle that never follows a symlink. */
async function setDirectoryMeta(root: string, abs: string, mode: number, mtime?: Date): Promise<void> {
  if (!(await isPlainPathInside(root, abs))) return;
  let fh: FileHandle;
  try {
    fh = await open(abs, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch {
    return; // replaced by a later entry (a file or a symlink): its own entry set its metadata
  }
  try {
    await fh.chmod(mode);
    if (mtime) await fh.utimes(mtime, mtime);
  } finally {
    await fh.close();
  }
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch {
    return undefined;
  }
}

/** Remove whatever is at `path` unless it is a directory and `keepDir`. */
async function clear(path: string, keepDir: boolean): Promise<void> {
  const st = await lstatOrUndefined(path);
  if (!st) return;
  if (st.isDirectory() && keepDir) return;
  await rm(path, { recursive: true, force: true });
}

/** What one extraction has done so far. */
interface Extraction {
  root: string;
  where: string | undefined;
  result: ExtractResult;
  /** Names written by this layer (an opaque marker keeps them). */
  created: Set<string>;
  dirTimes: { path: string; mode: number; mtime: Date }[];
  onWarning: ((message: string) => void) | undefined;
}

/** Apply a whiteout or opaque marker at `name`; false when `name` is neither. */
async function applyWhiteout(
  x: Extraction,
  name: string,
  parentRel: string,
  parent: string,
): Promise<boolean> {
  const base = name.slice(name.lastIndexOf('/') + 1);
  if (base === OPAQUE_WHITEOUT) {
    const st = await lstatOrUndefined(parent);
    if (st?.isDirectory()) {
      for (const child of await readdir(parent)) {
        const rel = parentRel === '' ? child : `${parentRel}/${child}`;
        if (!x.created.has(rel)) await rm(join(parent, child), { recursive: true, force: true });
      }
    }
  } else if (base.startsWith(WHITEOUT_PREFIX)) {
    const removed = join(parent, whiteoutTarget(name, base, x.where));
    if (parent === x.root || (await isPlainPathInside(x.root, parent))) {
      await rm(removed, { recursive: true, force: true });
    }
  } else return false;
  x.result.whiteouts++;
  return true;
}

/** Write a regular file's content, mode and times through a handle that never follows a symlink. */
async function writeFileEntry(
  target: string,
  body: AsyncIterable<Buffer>,
  mode: number,
  mtime: Date,
): Promise<void> {
  await clear(target, false);
  const fh = await open(
    target,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    for await (const chunk of body) {
      let off = 0;
      while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
    }
    await fh.chmod(mode);
    await fh.utimes(mtime, mtime);
  } finally {
    await fh.close();
  }
}

/** Extract one member; false when it was skipped. */
async function extractEntry(x: Extraction, h: TarHeader, body: AsyncIterable<Buffer>): Promise<boolean> {
  const name = normalizeEntryName(h.name);
  if (name === '') return false;
  assertSafeEntryName(name, x.where);
  const slash = name.lastIndexOf('/');
  const parentRel = slash < 0 ? '' : name.slice(0, slash);
  const parent = await resolveInRoot(x.root, parentRel, true);
  if (await applyWhiteout(x, name, parentRel, parent)) return false;
  const mode = h.mode & 0o7777;
  const mtime = new Date(h.mtime * 1000);
  await mkdir(parent, { recursive: true });
  const target = join(parent, name.slice(slash + 1));
  if (h.type === 'directory') {
    await clear(target, true);
    await mkdir(target, { recursive: true });
    await setDirectoryMeta(x.root, target, 0o700 | mode);
    x.dirTimes.push({ path: target, mode, mtime });
    x.result.directories++;
  } else if (h.type === 'file') {
    await writeFileEntry(target, body, mode, mtime);
    x.result.files++;
  } else if (h.type === 'symlink') {
    await clear(target, false);
    await symlink(h.linkname, target);
    x.result.symlinks++;
  } else if (h.type === 'link') {
    const linkName = normalizeEntryName(h.linkname);
    assertSafeEntryName(linkName, x.where);
    const src = await resolveInRoot(x.root, linkName, false);
    const st = await lstatOrUndefined(src);
    if (!st || st.isDirectory())
      throw unsafe(name, `hard link target "${linkName}" is not a file in the layer`, x.where);
    await clear(target, false);
    await link(src, target);
    x.result.hardlinks++;
  } else {
    x.onWarning?.(`skipped ${name}: ${describeType(h.typeflag)} entries are not extracted`);
    x.result.skipped++;
    return false;
  }
  x.created.add(name);
  return true;
}

/**
 * Extract an uncompressed layer tar stream into `dir` (created when missing), applying
 * whiteouts against what is already there. Returns counts of what was written.
 */
export async function extractLayerTar(
  tar: Readable,
  dir: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const root = resolve(dir);
  await mkdir(root, { recursive: true });
  const x: Extraction = {
    root,
    where: options.where,
    result: { files: 0, directories: 0, symlinks: 0, hardlinks: 0, whiteouts: 0, skipped: 0 },
    created: new Set(),
    dirTimes: [],
    onWarning: options.onWarning,
  };
  try {
    for await (const { header, body } of readTar(tar, x.where ?? 'layer tar')) {
      throwIfAborted(options.signal, `extracting into ${root}`);
      await extractEntry(x, header, body);
    }
  } catch (err) {
    tar.destroy();
    throw layerTarError(err, x.where);
  }
  // Deepest first, so setting a parent read-only does not block its children.
  for (const d of x.dirTimes.reverse()) await setDirectoryMeta(root, d.path, d.mode, d.mtime);
  return x.result;
}

/** Decompress a layer and extract it into `dir` (see extractLayerTar). */
export async function extractLayer(
  layer: Layer,
  dir: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const stream = await layer.uncompressed({ signal: options.signal });
  return extractLayerTar(stream, dir, { where: options.where ?? `layer ${layer.digest}`, ...options });
}
