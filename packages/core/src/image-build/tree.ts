/**
 * Filesystem trees as flat metadata maps (`path -> entry`): read from a directory on disk or
 * from an image's layers (whiteouts applied). Both sides of a layer diff use this shape; file
 * contents are represented by their sha256, never buffered.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { digestStream } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { assertSafeEntryName, normalizeEntryName } from '../layout/safe-path.js';
import type { Layer } from '../model.js';
import { readTar } from '../tar/reader.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX, whiteoutTarget } from './whiteout.js';
import { type Xattrs, xattrReader } from './xattrs.js';

export type TreeEntryType = 'file' | 'directory' | 'symlink';

/** One path of a tree. Paths are relative, `/`-separated, without `./` or trailing slash. */
export interface TreeEntry {
  type: TreeEntryType;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  /** File size in bytes (0 for directories and symlinks). */
  size: number;
  /** sha256 of a file's content. */
  digest?: string;
  /** Symlink target. */
  linkname?: string;
  /** Absolute path of the file on disk (directory trees only): where a layer reads content. */
  source?: string;
  /** Owner (directory trees scanned with `owners`; layers default to 0:0). */
  uid?: number;
  gid?: number;
  /** Extended attributes of files and directories (directory trees scanned with `xattrs`). */
  xattrs?: Xattrs;
}

/** A filesystem tree: path -> entry. */
export type Tree = Map<string, TreeEntry>;

/** Parent path of a tree path ('' for top-level entries). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** Base name of a tree path. */
export function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Remove `path` and everything under it. */
export function removeSubtree(tree: Tree, path: string, keep?: (p: string) => boolean): void {
  const prefix = `${path}/`;
  for (const p of [...tree.keys()]) {
    if ((p === path || p.startsWith(prefix)) && !keep?.(p)) tree.delete(p);
  }
}

/**
 * Several trees staged into one, in order (as BuildStream stages a layer's elements): a later
 * entry replaces an earlier one at the same path, and a later non-directory removes whatever
 * an earlier tree had below that path.
 */
export function mergeTrees(trees: readonly Tree[]): Tree {
  if (trees.length === 1) return trees[0] as Tree;
  const out: Tree = new Map();
  for (const tree of trees) {
    for (const [path, entry] of tree) {
      const before = out.get(path);
      if (before?.type === 'directory' && entry.type !== 'directory') removeSubtree(out, path);
      out.set(path, entry);
    }
  }
  return out;
}

/**
 * Read a directory into a Tree (not following symlinks). Regular files are hashed; devices,
 * fifos and sockets are refused with ERR_INPUT naming the path.
 */
export async function scanDirectory(
  root: string,
  options: {
    signal?: AbortSignal;
    /** Record each entry's uid/gid (default: no owners, 0:0 in layers). */
    owners?: boolean;
    /** Record extended attributes of files and directories (needs the optional fs-xattr). */
    xattrs?: boolean;
  } = {},
): Promise<Tree> {
  const tree: Tree = new Map();
  let rootStat: Awaited<ReturnType<typeof lstat>>;
  try {
    rootStat = await lstat(root);
  } catch (err) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `layer directory ${root} does not exist`,
      { path: root },
      { cause: err },
    );
  }
  if (!rootStat.isDirectory()) {
    throw new OciDeltaError('ERR_INPUT', `${root} is not a directory`, { path: root });
  }
  const readXattrs = options.xattrs ? await xattrReader() : undefined;
  const attrsOf = async (abs: string) => {
    const list = readXattrs ? await readXattrs(abs) : [];
    return list.length > 0 ? { xattrs: list } : {};
  };
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(rel === '' ? root : join(root, rel))).sort();
    for (const name of names) {
      if (options.signal?.aborted) throw new OciDeltaError('ERR_ABORTED', `scanning ${root} was aborted`);
      const path = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, path);
      const st = await lstat(abs);
      const mode = st.mode & 0o7777;
      const owner = options.owners ? { uid: st.uid, gid: st.gid } : {};
      if (st.isDirectory()) {
        tree.set(path, { type: 'directory', mode, size: 0, ...owner, ...(await attrsOf(abs)) });
        await walk(path);
      } else if (st.isSymbolicLink()) {
        tree.set(path, { type: 'symlink', mode: 0o777, size: 0, linkname: await readlink(abs), ...owner });
      } else if (st.isFile()) {
        const { digest } = await digestStream(createReadStream(abs));
        tree.set(path, {
          type: 'file',
          mode,
          size: st.size,
          digest,
          source: abs,
          ...owner,
          ...(await attrsOf(abs)),
        });
      } else {
        throw new OciDeltaError(
          'ERR_INPUT',
          `${abs}: only files, directories and symlinks can go in a layer`,
          {
            path: abs,
          },
        );
      }
    }
  };
  await walk('');
  return tree;
}

/**
 * Apply one layer tar (uncompressed stream) to `tree`: entries added or replaced, `.wh.<name>`
 * removes a lower path, `.wh..wh..opq` empties a directory of what lower layers put there.
 */
export async function applyLayerToTree(tree: Tree, tar: Readable, where = 'layer'): Promise<void> {
  const added = new Set<string>();
  try {
    for await (const { header: h, body } of readTar(tar, where)) {
      const name = normalizeEntryName(h.name);
      if (name === '') continue;
      assertSafeEntryName(name, where);
      const base = baseOf(name);
      const dir = parentOf(name);
      if (base === OPAQUE_WHITEOUT) {
        for (const p of [...tree.keys()]) {
          if (dir === '' || p.startsWith(`${dir}/`)) if (!added.has(p)) tree.delete(p);
        }
        continue;
      }
      if (base.startsWith(WHITEOUT_PREFIX)) {
        const removed = whiteoutTarget(name, base, where);
        const target = dir === '' ? removed : `${dir}/${removed}`;
        removeSubtree(tree, target, (p) => added.has(p));
        continue;
      }
      const mode = h.mode & 0o7777;
      const existing = tree.get(name);
      if (existing && !(existing.type === 'directory' && h.type === 'directory')) removeSubtree(tree, name);
      if (h.type === 'directory') {
        tree.set(name, { type: 'directory', mode, size: 0 });
      } else if (h.type === 'symlink') {
        tree.set(name, { type: 'symlink', mode: 0o777, size: 0, linkname: h.linkname });
      } else if (h.type === 'link') {
        const target = tree.get(normalizeEntryName(h.linkname));
        if (target?.type === 'file') tree.set(name, { ...target, mode });
      } else if (h.type === 'file') {
        const { digest, size } = await digestStream(body);
        tree.set(name, { type: 'file', mode, size, digest });
      } else {
        // devices and fifos cannot come from a directory; skip them
        continue;
      }
      added.add(name);
    }
  } catch (err) {
    tar.destroy();
    throw layerTarError(err, where);
  }
}

/** A decompressor's or stream's own error (a plain Error) while reading a layer tar, as ERR_INVALID_ARCHIVE. */
export function layerTarError(err: unknown, where?: string): unknown {
  if (err instanceof OciDeltaError || !(err instanceof Error)) return err;
  if (err.name === 'AbortError') return err;
  const label = where ?? 'layer tar';
  return new OciDeltaError(
    'ERR_INVALID_ARCHIVE',
    `${label}: corrupt tar archive: ${err.message}`,
    { path: label },
    { cause: err },
  );
}

/** The filesystem an image's layers produce (each layer applied in order). */
export async function treeOfLayers(
  layers: readonly Layer[],
  options: { signal?: AbortSignal; where?: string } = {},
): Promise<Tree> {
  const tree: Tree = new Map();
  for (const [i, layer] of layers.entries()) {
    const stream = await layer.uncompressed({ signal: options.signal });
    await applyLayerToTree(tree, stream, `${options.where ?? 'image'} layer ${i} (${layer.digest})`);
  }
  return tree;
}
