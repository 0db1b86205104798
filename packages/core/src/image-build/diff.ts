/**
 * The entries of a layer that turns one filesystem tree into another: new and changed paths,
 * `.wh.<name>` whiteouts for deleted ones (and before a path changes type), and an opaque
 * `.wh..wh..opq` marker where a directory's content is replaced wholesale. Pure: trees in,
 * ordered entries out (a deterministic walk: per directory, markers then children by name).
 */
import { parentOf, type Tree, type TreeEntry } from './tree.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './whiteout.js';
import { sameXattrs, type Xattrs } from './xattrs.js';

export { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './whiteout.js';

/** One entry of a layer tar, in write order. */
export interface LayerEntry {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'whiteout';
  mode: number;
  size: number;
  linkname?: string;
  /** Where a file's content is read from. */
  source?: string;
  /** Expected sha256 of a file's content (checked while written). */
  digest?: string;
  /** Owner written into the tar (default 0:0, for reproducible layers). */
  uid?: number;
  gid?: number;
  /** Extended attributes, written as PAX SCHILY.xattr records. */
  xattrs?: Xattrs;
}

function childrenIndex(tree: Tree): Map<string, string[]> {
  const index = new Map<string, string[]>();
  for (const path of tree.keys()) {
    const dir = parentOf(path);
    let list = index.get(dir);
    if (!list) {
      list = [];
      index.set(dir, list);
    }
    list.push(path);
  }
  for (const list of index.values()) list.sort(byName);
  return index;
}

/** Byte order of UTF-8 names, the same on every platform and locale. */
function byName(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** True when `t` differs from `b` in anything a layer records. */
export function entryChanged(b: TreeEntry | undefined, t: TreeEntry): boolean {
  if (!b || b.type !== t.type) return true;
  if (t.type === 'symlink') return b.linkname !== t.linkname;
  if (b.mode !== t.mode || !sameXattrs(b.xattrs, t.xattrs)) return true;
  return t.type === 'file' && (b.digest !== t.digest || b.size !== t.size);
}

function toLayerEntry(path: string, t: TreeEntry): LayerEntry {
  const e: LayerEntry = { path, type: t.type, mode: t.mode, size: t.type === 'file' ? t.size : 0 };
  if (t.linkname !== undefined) e.linkname = t.linkname;
  if (t.source !== undefined) e.source = t.source;
  if (t.digest !== undefined) e.digest = t.digest;
  if (t.uid !== undefined) e.uid = t.uid;
  if (t.gid !== undefined) e.gid = t.gid;
  if (t.xattrs !== undefined) e.xattrs = t.xattrs;
  return e;
}

const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
const nameOf = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/**
 * Entries of the layer that changes `base` into `target` (an empty base gives the whole
 * target tree). Applying the result on top of `base` yields exactly `target`.
 */
export function diffTrees(base: Tree, target: Tree): LayerEntry[] {
  const baseChildren = childrenIndex(base);
  const targetChildren = childrenIndex(target);

  const visit = (dir: string, full: boolean): LayerEntry[] => {
    const out: LayerEntry[] = [];
    const have = full ? [] : (baseChildren.get(dir) ?? []);
    const want = targetChildren.get(dir) ?? [];
    const kept = have.filter((p) => target.get(p)?.type === base.get(p)?.type);
    const deleted = have.filter((p) => !target.has(p));
    const opaque = dir !== '' && !full && have.length > 0 && kept.length === 0 && deleted.length > 0;
    if (opaque) {
      out.push({ path: join(dir, OPAQUE_WHITEOUT), type: 'whiteout', mode: 0o644, size: 0 });
    } else {
      // Whiteouts for deleted paths and for paths changing type (a directory becoming a file...).
      const gone = have.filter((p) => {
        const t = target.get(p);
        const b = base.get(p);
        return !t || (t.type !== b?.type && !(t.type === 'directory' && b?.type === 'directory'));
      });
      for (const p of gone) {
        out.push({
          path: join(dir, `${WHITEOUT_PREFIX}${nameOf(p)}`),
          type: 'whiteout',
          mode: 0o644,
          size: 0,
        });
      }
    }
    const allNew = full || opaque;
    for (const path of want) {
      const t = target.get(path) as TreeEntry;
      const b = allNew ? undefined : base.get(path);
      if (t.type === 'directory') {
        const fresh = b?.type !== 'directory';
        const sub = visit(path, allNew || fresh);
        if (entryChanged(b, t) || sub.length > 0) out.push(toLayerEntry(path, t), ...sub);
      } else if (entryChanged(b, t)) {
        out.push(toLayerEntry(path, t));
      }
    }
    return out;
  };
  return visit('', false);
}
