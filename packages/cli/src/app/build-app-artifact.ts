/**
 * `buildAppArtifact(options)`: the app pipeline as a library function. Compose file -> per
 * service image (registry or archive) -> plan against the previous release -> image.img per
 * image (full docker-archive or deep delta) -> images.tar.gz + manifests.tar.gz -> Mender
 * artifact -> optional upload, deployment and release record. Emits progress events.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  assertSafeFileName,
  isOciDeltaError,
  makeWorkDir,
  OciDeltaError,
  sweepLeftovers,
  writeArtifact,
} from '@ocidelta/core';
import { DEFAULT_SOURCE_WINDOW } from '@ocidelta/delta';
import { appMetaData, type ImagePayload, writeImagesTarGz, writeManifestsTarGz } from './app-payload.js';
import { AppCache } from './cache.js';
import { readCompose, rewriteImages } from './compose.js';
import { buildImagePayload, type ImageBuildContext, type Prepared } from './image-builder.js';
import type { ImageResolver } from './image-sources.js';
import { MenderServer } from './mender-server.js';
import { type AppOptions, resolveOptions } from './options.js';
import { assertNoFallback, type ServicePlan } from './plan.js';
import { prepareServices } from './prepare-services.js';
import { findPreviousRelease, type PreviousRelease } from './previous-release.js';
import type { AppEvent, AppEventListener } from './progress.js';
import { createRegistryResolver, expandInsecure, registryClientFor } from './registry-resolver.js';
import type { ReleaseMetadata } from './release-metadata.js';
import { runLimited } from './run-limited.js';
import { ArtifactStore } from './store.js';
import {
  artifactFileFor,
  artifactNameFor,
  composeVersion,
  defaultSoftwareName,
  findRepo,
  readVersionFile,
  versionProvideKey,
} from './versioning.js';

export interface BuildAppOptions extends AppOptions {
  /** Progress and log events. */
  onEvent?: AppEventListener;
  /** How registry refs are resolved (default: the @ocidelta/registry client). */
  resolver?: ImageResolver;
  /** How many image.img files are built at once (default 2). */
  concurrency?: number;
}

export interface BuildAppResult {
  softwareName: string;
  version: string;
  artifactName: string;
  /** The written artifact (undefined in a dry run). */
  artifactFile?: string;
  artifactSize?: number;
  previous?: { source: PreviousRelease['source']; label: string; version?: string };
  /** The version the artifact depends on (delta artifacts). */
  dependsOnVersion?: string;
  services: ServicePlan[];
  dryRun: boolean;
  uploaded: boolean;
  /** False when the server already had the artifact and it was skipped. */
  uploadSkippedExisting?: boolean;
  deployment?: { group: string; id?: string };
  /** Path of the recorded previous-release metadata, when recorded. */
  recorded?: string;
  /** The store repository the release record was pushed to. */
  storeRecorded?: string;
  /** The release metadata (what is or would be recorded). */
  metadata: ReleaseMetadata;
  warnings: string[];
}

/** File names `docker compose` looks for, in its order of preference. */
export const COMPOSE_FILE_NAMES: readonly string[] = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yaml',
  'docker-compose.yml',
];

/** Build (and optionally upload and deploy) the app artifact described by `options`. */
export async function buildAppArtifact(options: BuildAppOptions): Promise<BuildAppResult> {
  let ownResolver: Promise<ImageResolver> | undefined;
  // The shared store has its own client (its credentials come from the docker config per registry).
  const storeClient = options.store
    ? registryClientFor(expandInsecure(options.registry ?? {}, [options.store]), options.env ?? process.env)
    : undefined;
  try {
    const store = storeClient ? new ArtifactStore(storeClient, options.store!) : undefined;
    return await build(
      options,
      (create) => {
        ownResolver ??= create();
        return ownResolver;
      },
      store,
    );
  } finally {
    // Close the registry clients this call created (an injected resolver belongs to the caller).
    if (ownResolver) await (await ownResolver.catch(() => undefined))?.close?.();
    await storeClient?.close();
  }
}

async function build(
  options: BuildAppOptions,
  defaultResolver: (create: () => Promise<ImageResolver>) => Promise<ImageResolver>,
  store: ArtifactStore | undefined,
): Promise<BuildAppResult> {
  const opts = resolveOptions(options);
  const { signal } = opts;
  const warnings: string[] = [];
  const emit = (e: AppEvent) => options.onEvent?.(e);
  const info = (message: string, service?: string) => emit({ type: 'log', level: 'info', message, service });
  const warn = (message: string, service?: string) => {
    warnings.push(service ? `[${service}] ${message}` : message);
    emit({ type: 'log', level: 'warn', message, service });
  };

  const compose = await readCompose(opts.composeFile);
  const serviceNames = new Set(compose.services.map((s) => s.name));
  for (const [kind, map] of [
    ['--service-file', opts.serviceFiles],
    ['--service-image', opts.serviceImages],
  ] as const) {
    for (const name of Object.keys(map)) {
      if (!serviceNames.has(name)) {
        throw new OciDeltaError(
          'ERR_INVALID_OPTIONS',
          `${kind} ${name}: no service "${name}" in ${opts.composeFile} (services: ${[...serviceNames].join(', ')})`,
          { service: name, path: opts.composeFile },
        );
      }
    }
  }
  for (const name of Object.keys(opts.serviceFiles)) {
    if (opts.serviceImages[name] !== undefined) {
      warn(`both --service-file and --service-image given: using the file ${opts.serviceFiles[name]}`, name);
    }
  }

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
  info(`${artifactName}: ${compose.services.length} service(s), platform ${opts.platform}`);

  const cache = opts.cache ? await AppCache.open(opts.cacheDir) : undefined;
  const previous = await findPreviousRelease({
    cacheMetadataFile: cache?.metadataFile(softwareName),
    ...(store
      ? {
          storeRecord: async () => {
            try {
              return await store.fetchRelease(softwareName, signal);
            } catch (err) {
              if (!isOciDeltaError(err) || err.code === 'ERR_ABORTED') throw err;
              warn(`the store's release record of ${softwareName} is unusable (${err.message}): ignored`);
              return undefined;
            }
          },
        }
      : {}),
    previousManifest: opts.previousManifest,
    previousVersion: opts.previousVersion,
    release: opts.release,
    currentVersion: version,
    ...(versionFile !== undefined ? { versionRef: versionFile } : {}),
    composeFile: opts.composeFile,
    repoRoot: repo.root,
    inGit: repo.gitDir !== undefined,
    warn: (m) => warn(m),
  });
  if (previous) info(`previous release ${previous.version ?? '(version unknown)'} from ${previous.label}`);
  else info('no previous release: every image ships full');

  /** Registry access; `insecureAll` expands to every registry the release names. */
  const registryAccess = () =>
    expandInsecure(opts.registry ?? {}, [
      ...compose.services.map((s) => opts.serviceImages[s.name] ?? s.image),
      ...[...(previous?.services.values() ?? [])].map((s) => s.ref),
    ]);

  let resolverPromise: Promise<ImageResolver> | undefined;
  const resolver = () => {
    resolverPromise ??= options.resolver
      ? Promise.resolve(options.resolver)
      : defaultResolver(() => createRegistryResolver(registryAccess(), opts.env));
    return resolverPromise;
  };

  // 1. Resolve every service's new and current image and plan it (three services at a time).
  const { prepared, finalRefs } = await prepareServices(
    { opts, previous, cache, resolver, emit, info, warn },
    compose.services,
  );

  // Services sharing one image must agree on how it ships (one images/<id>/ directory).
  const byHash = new Map<string, Prepared[]>();
  for (const p of prepared) byHash.set(p.plan.hash, [...(byHash.get(p.plan.hash) ?? []), p]);
  for (const group of byHash.values()) {
    const first = group[0]!;
    if (group.some((p) => p.plan.mode !== first.plan.mode || p.plan.currentHash !== first.plan.currentHash)) {
      for (const p of group) {
        if (p.plan.mode !== 'full') {
          p.plan.mode = 'full';
          p.plan.reason = 'image shared with another service that has a different previous image';
          p.plan.fallback = p.plan.reason;
          p.current = undefined;
        }
      }
    }
  }

  const depends = prepared.some((p) => p.plan.mode !== 'full') ? previous?.version : undefined;
  const metadata: ReleaseMetadata = {
    format: 'ocidelta-app-release',
    formatVersion: 1,
    softwareName,
    artifactName,
    version,
    platform: opts.platform,
    deviceStore: opts.deviceStore,
    createdAt: new Date().toISOString(),
    services: Object.fromEntries(
      prepared.map((p) => [
        p.plan.service,
        { image: { ref: p.plan.ref, hash: p.plan.hash, delivery: 'artifact' as const } },
      ]),
    ),
  };
  const result: BuildAppResult = {
    softwareName,
    version,
    artifactName,
    previous: previous
      ? { source: previous.source, label: previous.label, version: previous.version }
      : undefined,
    dependsOnVersion: depends,
    services: prepared.map((p) => p.plan),
    dryRun: opts.dryRun === true,
    uploaded: false,
    metadata,
    warnings,
  };
  if (opts.compression === 'zstd') {
    warn(
      'compression zstd: Mender clients 3.x cannot read it (they refuse header.tar.zst); use gzip (default) or none for them',
    );
  }
  if (opts.requireDelta) assertNoFallback(result.services);
  if (opts.dryRun) return result;
  if (prepared.some((p) => p.plan.mode !== 'full') && previous && !previous.version) {
    warn('the previous version is unknown: the delta artifact does not depend on it');
  }

  // 2. Build image.img per image, the payload tars and the artifact, in a work dir beside the output.
  // What killed runs left beside the output (work directories, partial artifacts) goes first.
  for (const path of await sweepLeftovers(dirname(artifactFile)))
    info(`removed ${path}, left by a run that was stopped`);
  const workDir = await makeWorkDir(dirname(artifactFile), 'work');
  const work = workDir.path;
  try {
    const payloads: ImagePayload[] = [];
    const ctx: ImageBuildContext = {
      work,
      cache,
      deviceStore: opts.deviceStore,
      platform: opts.platform,
      deviceWindow: opts.deviceWindow ?? DEFAULT_SOURCE_WINDOW,
      ...(store ? { store } : {}),
      emit,
      warn,
    };
    // Build image.img files two at a time (deltas are CPU-bound); the first failure stops the others.
    const inner = new AbortController();
    const forward = () => inner.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    try {
      await runLimited([...byHash], options.concurrency ?? 2, async ([hash, group]) => {
        try {
          payloads.push(await buildImagePayload(ctx, hash, group, inner.signal));
        } catch (err) {
          inner.abort(err);
          throw err;
        }
      });
    } finally {
      signal?.removeEventListener('abort', forward);
    }
    signal?.throwIfAborted();
    if (opts.requireDelta) assertNoFallback(prepared.map((p) => p.plan));

    const imagesTgz = join(work, 'images.tar.gz');
    const manifestsTgz = join(work, 'manifests.tar.gz');
    await writeImagesTarGz(imagesTgz, payloads, {
      signal,
      onProgress: (id, done, total) =>
        emit({ type: 'progress', phase: 'write', item: `images.tar.gz ${id.slice(0, 12)}`, done, total }),
    });
    // The device runs `docker compose` in manifests/: it only finds the default file names.
    const given = basename(compose.path);
    const composeName = COMPOSE_FILE_NAMES.includes(given) ? given : 'docker-compose.yml';
    if (composeName !== given)
      info(`shipping ${given} as manifests/${composeName} (a name docker compose finds)`);
    await writeManifestsTarGz(
      manifestsTgz,
      [{ name: composeName, data: rewriteImages(compose, finalRefs) }],
      { signal },
    );

    // Deltas that fell back to full images no longer tie the artifact to the previous version.
    const anyDelta = prepared.some((p) => p.plan.mode !== 'full');
    result.dependsOnVersion = anyDelta ? previous?.version : undefined;
    const meta = appMetaData(
      softwareName,
      opts.platform,
      payloads.map((x) => x.id),
      version,
    );
    const signingKey = opts.signKey ? await readKey(opts.signKey) : undefined;
    await writeArtifact(artifactFile, {
      type: 'app',
      artifactName,
      deviceTypes: opts.deviceTypes,
      softwareName,
      softwareVersion: version,
      depends:
        anyDelta && previous?.version ? { [versionProvideKey(softwareName)]: previous.version } : undefined,
      metaData: meta as unknown as Record<string, unknown>,
      files: [
        { name: 'images.tar.gz', path: imagesTgz },
        { name: 'manifests.tar.gz', path: manifestsTgz },
      ],
      compression: opts.compression,
      signingKey,
      signal,
      onWarning: (m) => warn(m),
      onProgress: (e) =>
        emit({
          type: 'progress',
          phase: 'artifact',
          item: `${artifactName} (${e.phase})`,
          done: e.overall?.done ?? e.done,
          ...(e.overall?.total !== undefined ? { total: e.overall.total } : {}),
        }),
    });
    result.artifactFile = artifactFile;
    result.artifactSize = (await stat(artifactFile)).size;
    info(`wrote ${artifactFile}`);
  } finally {
    await workDir.remove();
  }

  // 3. Upload, deploy, record.
  if (opts.menderPat) {
    const server = new MenderServer({
      host: opts.menderHost,
      token: opts.menderPat,
      signal,
      env: opts.env ?? process.env,
    });
    try {
      const up = await server.uploadArtifact(result.artifactFile!, {
        skipExisting: opts.skipExisting,
        description: `ocidelta ${softwareName} ${version}`,
        onProgress: (done, total) =>
          emit({ type: 'progress', phase: 'upload', item: artifactName, done, total }),
      });
      result.uploaded = up.uploaded;
      result.uploadSkippedExisting = !up.uploaded;
      info(
        up.uploaded
          ? `uploaded ${artifactName} to ${opts.menderHost}`
          : `${artifactName} already on the server: skipped`,
      );
      if (opts.deviceGroup) {
        const dep = await server.deployToGroup(
          opts.deviceGroup,
          artifactName,
          opts.deploymentName ?? `${artifactName}-${opts.deviceGroup}`,
        );
        result.deployment = { group: opts.deviceGroup, id: dep.id };
        info(`deployment ${dep.id ?? ''} created for group ${opts.deviceGroup}`);
      }
    } finally {
      await server.close();
    }
  } else {
    info('MENDER_PAT is not set: upload skipped (artifact built only)');
    if (opts.deviceGroup)
      warn(`--device-group ${opts.deviceGroup} ignored: no MENDER_PAT to upload and deploy with`);
  }
  // Without a token a group deployment could not happen; the helper records the release anyway
  // (it was meant to be deployed), with the warning above.
  const record =
    result.deployment !== undefined || opts.record || (!opts.menderPat && opts.deviceGroup !== undefined);
  if (cache && record) {
    result.recorded = await cache.writePrevious(metadata);
    info(`recorded ${version} as the previous release in ${result.recorded}`);
  }
  if (store && record) {
    try {
      await store.pushRelease(metadata, signal);
      result.storeRecorded = store.repo.name;
      info(`recorded ${version} as the previous release in the store ${store.repo.name}`);
    } catch (err) {
      if (!isOciDeltaError(err) || err.code === 'ERR_ABORTED') throw err;
      warn(`could not record the release in the store ${store.repo.name}: ${err.message}`);
    }
  }
  return result;
}

async function readKey(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `cannot read signing key ${path}: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
}
