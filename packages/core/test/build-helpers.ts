// Helpers for the build tests: small directory trees written from a description, and a
// listing of a directory (type, mode, content, link target) for exact comparisons.
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** path -> file content, `{ link: target }`, `{ dir: mode }` or `{ content, mode }`. */
export type TreeSpec = Record<
  string,
  string | { link: string } | { dir: number } | { content: string; mode: number }
>;

/** Write `spec` under `root` (parents created 0755). */
export async function writeTree(root: string, spec: TreeSpec): Promise<string> {
  await mkdir(root, { recursive: true });
  const modes: [string, number][] = [];
  for (const [path, value] of Object.entries(spec)) {
    const abs = join(root, path);
    await mkdir(dirname(abs), { recursive: true });
    if (typeof value === 'string') await writeFile(abs, value);
    else if ('link' in value) await symlink(value.link, abs);
    else if ('dir' in value) {
      await mkdir(abs, { recursive: true });
      modes.push([abs, value.dir]);
    } else {
      await writeFile(abs, value.content);
      await chmod(abs, value.mode);
    }
  }
  for (const [abs, mode] of modes) await chmod(abs, mode);
  return root;
}

/** `path -> "d 755" | "f 644 <sha>" | "l -> target"` for everything under root. */
export async function listTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const abs = join(root, path);
      const st = await lstat(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[path] = `l -> ${await readlink(abs)}`;
      else if (st.isDirectory()) {
        out[path] = `d ${mode}`;
        await walk(path);
      } else {
        const sha = createHash('sha256')
          .update(await readFile(abs))
          .digest('hex')
          .slice(0, 16);
        out[path] = `f ${mode} ${sha}`;
      }
    }
  };
  await walk('');
  return out;
}
