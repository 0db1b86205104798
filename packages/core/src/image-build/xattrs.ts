/**
 * Extended attributes for layers: read from files and directories through the optional native
 * module `fs-xattr` (Node.js has no xattr API), written as PAX `SCHILY.xattr.<name>` records
 * with their raw bytes (what GNU tar, containerd and Go's archive/tar read). Loaded only when
 * asked for; where the module did not build, asking is an ERR_INVALID_OPTIONS that says why.
 */
import { OciDeltaError } from '../errors.js';

/** Attributes of one path: name -> raw value, sorted by name. */
export type Xattrs = [name: string, value: Buffer][];

/** Reads the attributes of a path (following symlinks: use on files and directories only). */
export type XattrReader = (path: string) => Promise<Xattrs>;

/** The most bytes of attributes one entry may carry (Linux allows 64 KiB per value). */
export const MAX_XATTR_BYTES = 1024 * 1024;

/** What is used of the native module fs-xattr. */
export interface XattrModule {
  listAttributes(path: string): Promise<string[]>;
  getAttribute(path: string, name: string): Promise<Buffer>;
  setAttribute(path: string, name: string, value: Buffer | string): Promise<void>;
}

/** A specifier in a variable: the module is optional, so nothing may need it at compile time. */
const XATTR_MODULE = 'fs-xattr';

/** Load `fs-xattr`; ERR_INVALID_OPTIONS saying why when it is not there or did not build. */
export async function loadXattrModule(): Promise<XattrModule> {
  try {
    return (await import(XATTR_MODULE)) as XattrModule;
  } catch (err) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      'extended attributes need the optional native module fs-xattr, which is not installed or did not build here (it needs python3, make and a C compiler when installed): reinstall with them, or build without extended attributes',
      { hint: 'extended-attributes' },
      { cause: err },
    );
  }
}

let reader: Promise<XattrReader> | undefined;

/** The xattr reader, loading `fs-xattr` on first use. */
export function xattrReader(): Promise<XattrReader> {
  reader ??= (async () => {
    const mod = await loadXattrModule().catch((err: unknown) => {
      reader = undefined;
      throw err;
    });
    return async (path: string) => {
      const names = (await mod.listAttributes(path)).sort();
      const out: Xattrs = [];
      let total = 0;
      for (const name of names) {
        const value = await mod.getAttribute(path, name);
        total += value.byteLength + name.length;
        if (total > MAX_XATTR_BYTES) {
          throw new OciDeltaError(
            'ERR_INPUT',
            `${path}: extended attributes exceed ${MAX_XATTR_BYTES} bytes`,
            { path },
          );
        }
        out.push([name, value]);
      }
      return out;
    };
  })();
  return reader;
}

/** True when two attribute lists are the same. */
export function sameXattrs(a: Xattrs | undefined, b: Xattrs | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every(([n, v], i) => n === y[i]?.[0] && v.equals(y[i]?.[1] as Buffer));
}
