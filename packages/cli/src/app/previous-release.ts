/**
 * Find the previous release to diff against, in order: the cache's `previous_artifact.json`
 * (written after a successful deployment or with `--record`), `--previous-manifest FILE` (our
 * metadata JSON or a compose file), the compose file at `--previous-version REV` of its git
 * repository, or with `--release` the compose file and VERSION at the parent commit. `git` is
 * run here, and only here, to read files of a previous release.
 */
import { execFile } from 'node:child_process';
import { relative, sep } from 'node:path';
import { type Digest, MAX_METADATA_FILE_SIZE, OciDeltaError, readFileLimited } from '@ocidelta/core';
import { parseCompose } from './compose.js';
import { type Delivery, looksLikeMetadata, parseReleaseMetadata } from './release-metadata.js';

export type PreviousSource = 'cache' | 'store' | 'previous-manifest' | 'git' | 'release-parent';

export interface PreviousService {
  ref: string;
  /** Known when the previous release recorded it; else resolved from the registry. */
  hash?: Digest;
  delivery: Delivery;
}

export interface PreviousRelease {
  source: PreviousSource;
  /** Where it came from, for messages (a path or `git:<rev>:<path>`). */
  label: string;
  /** The previous version (the delta artifact depends on it); undefined when unknown. */
  version?: string;
  /**
   * The platform the recorded digests are for (release records only): digests recorded for another
   * platform are never reused; the refs are resolved again for the target platform.
   */
  platform?: string;
  services: Map<string, PreviousService>;
}

export interface FindPreviousOptions {
  /** `<cache>/manifests/<name>/previous_artifact.json` when the cache is on. */
  cacheMetadataFile?: string;
  /** The shared store's latest record of this software (looked up after the cache). */
  storeRecord?: () => Promise<{ bytes: Buffer; label: string } | undefined>;
  previousManifest?: string;
  previousVersion?: string;
  release?: boolean;
  /** The current version (to notice a VERSION that did not change since the parent commit). */
  currentVersion?: string;
  /**
   * The VERSION file's content, when the version came from it: without any other source the
   * previous release is the compose file at the git ref it names (a dev build `1.1.0+sha+uuid`
   * deltas against the release tag `1.1.0`), as the helper does.
   */
  versionRef?: string;
  composeFile: string;
  repoRoot: string;
  /** Whether repoRoot is a git work tree. */
  inGit: boolean;
  warn?: (message: string) => void;
}

/** Run `git` with `args` in `cwd`; resolves stdout, or undefined when git fails (unknown rev/path). */
export function gitShow(cwd: string, spec: string): Promise<Buffer | undefined> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'git',
      ['-C', cwd, 'show', spec],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => {
        if (!err) return resolvePromise(stdout);
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(
            new OciDeltaError(
              'ERR_INPUT',
              'git is needed to read a previous release but is not installed',
              {},
            ),
          );
          return;
        }
        resolvePromise(undefined);
      },
    );
  });
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFileLimited(path, MAX_METADATA_FILE_SIZE, 'release record');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof OciDeltaError) throw err;
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot read ${path}: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
}

function fromMetadata(bytes: Buffer, label: string, source: PreviousSource): PreviousRelease {
  const meta = parseReleaseMetadata(bytes, label);
  const services = new Map<string, PreviousService>();
  for (const [name, s] of Object.entries(meta.services)) {
    services.set(name, { ref: s.image.ref, hash: s.image.hash, delivery: s.image.delivery });
  }
  return {
    source,
    label,
    version: meta.version,
    ...(meta.platform ? { platform: meta.platform } : {}),
    services,
  };
}

function fromCompose(
  bytes: Buffer,
  label: string,
  source: PreviousSource,
  version?: string,
): PreviousRelease {
  const compose = parseCompose(bytes, label);
  const services = new Map<string, PreviousService>();
  // A release described only by its compose file was pulled by the device from a registry.
  for (const s of compose.services) services.set(s.name, { ref: s.image, delivery: 'registry' });
  return { source, label, version, services };
}

async function fromGit(
  options: FindPreviousOptions,
  rev: string,
  source: PreviousSource,
): Promise<PreviousRelease | undefined> {
  const relPath = relative(options.repoRoot, options.composeFile).split(sep).join('/');
  const label = `git:${rev}:${relPath}`;
  const compose = await gitShow(options.repoRoot, `${rev}:${relPath}`);
  if (!compose) return undefined;
  const versionBytes = await gitShow(options.repoRoot, `${rev}:VERSION`);
  const version = versionBytes?.toString('utf8').trim().split('\n')[0]?.trim() || undefined;
  return fromCompose(compose, label, source, version);
}

/** The release at the git ref a version names: the tag `<version>`, else `v<version>`. */
async function fromVersionRef(
  options: FindPreviousOptions,
  version: string,
  source: PreviousSource,
): Promise<PreviousRelease | undefined> {
  for (const rev of [version, `v${version}`]) {
    // A version is a ref name here, never an option or a revision expression.
    if (!/^[\w.][\w.+-]*$/.test(rev)) return undefined;
    const prev = await fromGit(options, rev, source);
    if (prev) return prev;
  }
  return undefined;
}

/** Find the previous release, or undefined when there is none (every image ships full). */
export async function findPreviousRelease(
  options: FindPreviousOptions,
): Promise<PreviousRelease | undefined> {
  if (options.cacheMetadataFile) {
    const bytes = await readOptional(options.cacheMetadataFile);
    if (bytes) return fromMetadata(bytes, options.cacheMetadataFile, 'cache');
  }
  if (options.storeRecord) {
    const record = await options.storeRecord();
    if (record) return fromMetadata(record.bytes, record.label, 'store');
  }
  if (options.previousManifest) {
    const path = options.previousManifest;
    const bytes = await readOptional(path);
    if (!bytes) {
      throw new OciDeltaError('ERR_INPUT', `previous manifest not found: ${path}`, { path });
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      json = undefined;
    }
    if (looksLikeMetadata(json)) return fromMetadata(bytes, path, 'previous-manifest');
    const prev = fromCompose(bytes, path, 'previous-manifest');
    options.warn?.(
      `previous manifest ${path} is a compose file: its version is unknown, so the delta artifact has no version dependency`,
    );
    return prev;
  }
  if (options.previousVersion) {
    if (!options.inGit) {
      throw new OciDeltaError(
        'ERR_INPUT',
        `the previous version ${options.previousVersion} is looked up in git, but ${options.composeFile} is not in a git repository`,
        { path: options.composeFile, hint: 'previous-version' },
      );
    }
    const prev = await fromGit(options, options.previousVersion, 'git');
    if (!prev) {
      throw new OciDeltaError(
        'ERR_INPUT',
        `cannot read ${options.composeFile} at git revision ${options.previousVersion} (unknown revision, or the file did not exist there)`,
        { path: options.composeFile, rev: options.previousVersion },
      );
    }
    if (!prev.version) {
      options.warn?.(
        `no VERSION file at ${options.previousVersion}: the delta artifact has no version dependency`,
      );
    }
    return prev;
  }
  if (options.release && options.inGit) {
    // The previous release is the VERSION of HEAD's parent; its compose file is the one at the
    // git ref that version names (its release tag).
    const parentVersion = (await gitShow(options.repoRoot, 'HEAD^:VERSION'))
      ?.toString('utf8')
      .trim()
      .split('\n')[0]
      ?.trim();
    if (!parentVersion) {
      options.warn?.('no VERSION file at the parent commit: building full images');
      return undefined;
    }
    if (parentVersion === options.currentVersion) {
      options.warn?.(
        `VERSION did not change since the parent commit (${parentVersion}): no previous release, building full images`,
      );
      return undefined;
    }
    const prev = await fromVersionRef(options, parentVersion, 'release-parent');
    if (!prev) {
      options.warn?.(
        `the previous release ${parentVersion} (VERSION at the parent commit) has no git ref of that name: building full images`,
      );
      return undefined;
    }
    return { ...prev, version: parentVersion };
  }
  if (!options.release && options.inGit && options.versionRef) {
    const prev = await fromVersionRef(options, options.versionRef, 'git');
    if (!prev) {
      options.warn?.(
        `no git ref ${options.versionRef} (named by VERSION) holding ${options.composeFile}: no previous release, building full images`,
      );
      return undefined;
    }
    return { ...prev, version: prev.version ?? options.versionRef };
  }
  return undefined;
}
