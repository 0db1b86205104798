/**
 * Stage 1 of the app pipeline, the release: the compose file (and that the per-service overrides
 * name its services), the version and names, the output file, the cache, and the previous
 * release (from the store, the cache or git).
 */
import { dirname, join } from 'node:path';
import { assertSafeFileName, type HintCode, isOciDeltaError, OciDeltaError } from '@ocidelta/core';
import { AppCache } from './cache.js';
import { type ComposeFile, readCompose } from './compose.js';
import type { ResolvedOptions } from './options.js';
import type { PlannedService } from './plan.js';
import { findPreviousRelease, type PreviousRelease } from './previous-release.js';
import type { ReleaseMetadata } from './release-metadata.js';
import type { ArtifactStore } from './store.js';
import {
  artifactFileFor,
  artifactNameFor,
  composeVersion,
  defaultSoftwareName,
  findRepo,
  readVersionFile,
} from './versioning.js';

/** What one run releases: read once, then only read. */
export interface Release {
  readonly compose: ComposeFile;
  readonly version: string;
  readonly softwareName: string;
  readonly artifactName: string;
  readonly artifactFile: string;
  readonly cache: AppCache | undefined;
  readonly previous: PreviousRelease | undefined;
}

export interface StageLog {
  info: (message: string, service?: string) => void;
  /** `hint`: a hint code the CLI renders as the options to use (library messages name none). */
  warn: (message: string, service?: string, hint?: HintCode) => void;
}

/** Every service file and service image must name a service of the compose file. */
function checkOverrides(opts: ResolvedOptions, compose: ComposeFile, log: StageLog): void {
  const serviceNames = new Set(compose.services.map((s) => s.name));
  for (const [kind, hint, map] of [
    ['an image file', 'service-file', opts.serviceFiles],
    ['an image reference', 'service-image', opts.serviceImages],
  ] as const) {
    for (const name of Object.keys(map)) {
      if (!serviceNames.has(name)) {
        throw new OciDeltaError(
          'ERR_INVALID_OPTIONS',
          `${kind} is given for service "${name}", but ${opts.composeFile} has no such service (services: ${[...serviceNames].join(', ')})`,
          { service: name, path: opts.composeFile, hint },
        );
      }
    }
  }
  for (const name of Object.keys(opts.serviceFiles)) {
    if (opts.serviceImages[name] !== undefined) {
      log.warn(
        `both an image file and an image reference are given: using the file ${opts.serviceFiles[name]}`,
        name,
        'service-file',
      );
    }
  }
}

/** Read the release the options describe, and find the release before it. */
export async function readRelease(
  opts: ResolvedOptions,
  store: ArtifactStore | undefined,
  log: StageLog,
): Promise<Release> {
  const compose = await readCompose(opts.composeFile);
  checkOverrides(opts, compose, log);
  const repo = await findRepo(dirname(opts.composeFile));
  const versionFile = opts.version === undefined ? await readVersionFile(repo.root) : undefined;
  const version = opts.version ?? composeVersion(versionFile!, { release: opts.release, head: repo.head });
  const softwareName = opts.manifestName ?? defaultSoftwareName(repo.root, opts.composeFile);
  assertSafeFileName(
    version,
    opts.version !== undefined ? 'version' : `version from ${join(repo.root, 'VERSION')}`,
  );
  assertSafeFileName(softwareName, 'software name');
  const artifactName = artifactNameFor(softwareName, version);
  if (opts.artifactFilename === undefined) assertSafeFileName(`${artifactName}.mender`, 'artifact name');
  const artifactFile = artifactFileFor(artifactName, opts.cwd, opts.artifactFilename);
  log.info(`${artifactName}: ${compose.services.length} service(s), platform ${opts.platform}`);

  const cache = opts.cache ? await AppCache.open(opts.cacheDir) : undefined;
  const storeRecord = async () => {
    try {
      return await store?.fetchRelease(softwareName, opts.signal);
    } catch (err) {
      if (!isOciDeltaError(err) || err.code === 'ERR_ABORTED') throw err;
      log.warn(`the store's release record of ${softwareName} is unusable (${err.message}): ignored`);
      return undefined;
    }
  };
  const previous = await findPreviousRelease({
    cacheMetadataFile: cache?.metadataFile(softwareName),
    ...(store ? { storeRecord } : {}),
    previousManifest: opts.previousManifest,
    previousVersion: opts.previousVersion,
    release: opts.release,
    currentVersion: version,
    ...(versionFile !== undefined ? { versionRef: versionFile } : {}),
    composeFile: opts.composeFile,
    repoRoot: repo.root,
    inGit: repo.gitDir !== undefined,
    warn: (m) => log.warn(m),
  });
  if (previous)
    log.info(`previous release ${previous.version ?? '(version unknown)'} from ${previous.label}`);
  else log.info('no previous release: every image ships full');
  return { compose, version, softwareName, artifactName, artifactFile, cache, previous };
}

/** What is (or would be) recorded as this release for the next run. */
export function releaseMetadataOf(
  release: Release,
  opts: ResolvedOptions,
  services: readonly PlannedService[],
): ReleaseMetadata {
  return {
    format: 'ocidelta-app-release',
    formatVersion: 1,
    softwareName: release.softwareName,
    artifactName: release.artifactName,
    version: release.version,
    platform: opts.platform,
    deviceStore: opts.deviceStore,
    createdAt: new Date().toISOString(),
    services: Object.fromEntries(
      services.map((p) => [
        p.plan.service,
        { image: { ref: p.plan.ref, hash: p.plan.hash, delivery: 'artifact' as const } },
      ]),
    ),
  };
}
