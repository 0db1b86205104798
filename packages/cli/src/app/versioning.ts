/**
 * Version and naming of an app release: the repository root and HEAD commit (read from `.git`
 * files, no `git` process), the VERSION file, the software name `<repo dir>-<compose dir>`, the
 * artifact name `<software name>-<version>` and its file name.
 */
import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { exists, OciDeltaError } from '@ocidelta/core';

export interface RepoInfo {
  /** Directory holding `.git`, or the compose file's directory when there is no repository. */
  root: string;
  /** The `.git` directory (resolved through a `gitdir:` file), when there is a repository. */
  gitDir?: string;
  /** Full HEAD commit id, when it could be read. */
  head?: string;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** Resolve a ref name (`refs/heads/main`) to a commit id from loose refs or packed-refs. */
async function resolveRef(gitDir: string, commonDir: string, ref: string): Promise<string | undefined> {
  for (const dir of [gitDir, commonDir]) {
    const loose = await readText(join(dir, ref));
    if (loose && /^[0-9a-f]{40,64}$/.test(loose)) return loose;
  }
  const packed = await readText(join(commonDir, 'packed-refs'));
  for (const line of packed?.split('\n') ?? []) {
    const [id, name] = line.split(' ');
    if (name === ref && id && /^[0-9a-f]{40,64}$/.test(id)) return id;
  }
  return undefined;
}

/** Find the repository that contains `start` (a directory) and its HEAD commit. */
export async function findRepo(start: string): Promise<RepoInfo> {
  let dir = resolve(start);
  for (;;) {
    const dotGit = join(dir, '.git');
    if (await exists(dotGit)) {
      let gitDir = dotGit;
      const st = await stat(dotGit);
      if (st.isFile()) {
        const pointer = (await readText(dotGit)) ?? '';
        const m = /^gitdir:\s*(.+)$/m.exec(pointer);
        if (m?.[1]) gitDir = isAbsolute(m[1]) ? m[1] : resolve(dir, m[1]);
      }
      const common = await readText(join(gitDir, 'commondir'));
      const commonDir = common ? resolve(gitDir, common) : gitDir;
      const headText = await readText(join(gitDir, 'HEAD'));
      let head: string | undefined;
      if (headText?.startsWith('ref:')) head = await resolveRef(gitDir, commonDir, headText.slice(4).trim());
      else if (headText && /^[0-9a-f]{40,64}$/.test(headText)) head = headText;
      return { root: dir, gitDir, head };
    }
    const parent = dirname(dir);
    if (parent === dir) return { root: resolve(start) };
    dir = parent;
  }
}

/** Read `<root>/VERSION` (trimmed); ERR_INPUT naming the path when it is missing or empty. */
export async function readVersionFile(root: string): Promise<string> {
  const path = join(root, 'VERSION');
  const text = await readText(path);
  if (!text) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `no version: ${path} is missing or empty (write the release version there, or pass a version)`,
      { path },
    );
  }
  return text.split('\n')[0]!.trim();
}

/** `<VERSION>` for a release, else `<VERSION>+<short sha>+<uuid>` (sha omitted outside git). */
export function composeVersion(
  base: string,
  options: { release?: boolean; head?: string; uuid?: string },
): string {
  if (options.release) return base;
  const parts = [base];
  if (options.head) parts.push(options.head.slice(0, 7));
  parts.push(options.uuid ?? randomUUID());
  return parts.join('+');
}

/** `<repo dir>-<compose dir>` with characters outside `[\w\-.,]` replaced by `-`. */
export function defaultSoftwareName(repoRoot: string, composeFile: string): string {
  const name = `${basename(repoRoot)}-${basename(dirname(resolve(composeFile)))}`;
  return name.replace(/[^\w\-.,]/g, '-');
}

export function artifactNameFor(softwareName: string, version: string): string {
  return `${softwareName}-${version}`;
}

/** The artifact file: the given path, else `<cwd>/<artifact name>.mender`. */
export function artifactFileFor(artifactName: string, cwd: string, given?: string): string {
  return given ?? join(cwd, `${artifactName}.mender`);
}

/** The provide key the app artifact sets and a delta depends on. */
export function versionProvideKey(softwareName: string): string {
  return `rootfs-image.${softwareName}.version`;
}
