/**
 * `buildAppArtifact(options)`: the app pipeline as a library function. Compose file -> per
 * service image (registry or archive) -> plan against the previous release -> image.img per
 * image (full docker-archive or deep delta) -> images.tar.gz + manifests.tar.gz -> Mender
 * artifact -> optional upload, deployment and release record. Emits progress events.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeWorkDir, sweepLeftovers, throwIfAborted } from '@ocidelta/core';
import { writableCompression } from '@ocidelta/core/mender';
import { DEFAULT_SOURCE_WINDOW } from '@ocidelta/delta';
import { registryClientFor } from '../kit/registry-client.js';
import { imageIdOf } from './app-payload.js';
import type { ImageBuildContext } from './image-builder.js';
import type { ImageResolver } from './image-sources.js';
import { type AppOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { buildPayloads, writeAppArtifact, writePayloadTars } from './payloads.js';
import type { ReleasePlan } from './plan.js';
import { prepareServices } from './prepare-services.js';
import type { PreviousRelease } from './previous-release.js';
import type { AppEvent, AppEventListener } from './progress.js';
import { publish } from './publish.js';
import { createRegistryResolver } from './registry-resolver.js';
import { type Release, readRelease, releaseMetadataOf, type StageLog } from './release.js';
import type { ReleaseMetadata } from './release-metadata.js';
import { assertNoFallback, dependsOnVersionOf, type ServiceResult, serviceResult } from './results.js';
import { ArtifactStore } from './store.js';

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
  services: ServiceResult[];
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

export { COMPOSE_FILE_NAMES } from './payloads.js';

/**
 * Build (and optionally upload and deploy) the app artifact described by `options`. This
 * function owns the registry clients: the resolver (created on first use, an injected one is the
 * caller's) and the store's client are closed when it returns.
 */
export async function buildAppArtifact(options: BuildAppOptions): Promise<BuildAppResult> {
  const resolved = resolveOptions(options);
  const env = options.env ?? process.env;
  const warnings: string[] = [];
  const emit = (e: AppEvent) => options.onEvent?.(e);
  const log: StageLog = {
    info: (message, service) => emit({ type: 'log', level: 'info', message, service }),
    warn: (message, service, hint) => {
      warnings.push(service ? `[${service}] ${message}` : message);
      emit({ type: 'log', level: 'warn', message, service, ...(hint ? { hint } : {}) });
    },
  };
  // xz where it cannot be written is gzip, said once before anything is built (the payloads
  // depend on it: images.tar.gz is stored inside xz).
  const opts = { ...resolved, compression: writableCompression(resolved.compression, log.warn) };
  // The shared store has its own client (its credentials come from the docker config per registry).
  const storeClient = options.store
    ? registryClientFor(options.registry ?? {}, [options.store], env)
    : undefined;
  let own: Promise<ImageResolver> | undefined;
  try {
    const store = storeClient ? new ArtifactStore(storeClient, options.store!) : undefined;
    const release = await readRelease(opts, store, log);
    const resolver = () => {
      if (options.resolver) return Promise.resolve(options.resolver);
      // `insecureAll` expands to every registry the release names.
      own ??= createRegistryResolver(opts.registry ?? {}, registryRefsOf(opts, release), env);
      return own;
    };
    const stages = { opts, release, store, emit, log, concurrency: options.concurrency ?? 2 };
    return { ...(await buildRelease(stages, resolver)), warnings };
  } finally {
    if (own) await (await own.catch(() => undefined))?.close?.();
    await storeClient?.close();
  }
}

/** Every image reference the release names (new and previous). */
function registryRefsOf(opts: ResolvedOptions, release: Release): string[] {
  return [
    ...release.compose.services.map((s) => opts.serviceImages[s.name] ?? s.image),
    ...[...(release.previous?.services.values() ?? [])].map((s) => s.ref),
  ];
}

interface Stages {
  opts: ResolvedOptions;
  release: Release;
  store: ArtifactStore | undefined;
  emit: (event: AppEvent) => void;
  log: StageLog;
  concurrency: number;
}

/** Plan, build the payloads and the artifact, publish. */
async function buildRelease(
  stages: Stages,
  resolver: () => Promise<ImageResolver>,
): Promise<Omit<BuildAppResult, 'warnings'>> {
  const { opts, release, store, emit, log } = stages;
  const { previous, cache } = release;
  const plan = await prepareServices(
    { opts, previous, cache, resolver, emit, info: log.info, warn: log.warn },
    release.compose.services,
  );
  const metadata = releaseMetadataOf(release, opts, plan.services);
  const planned = plan.services.map((s) => serviceResult(s.plan));
  const summary = (services: ServiceResult[], dependsOnVersion: string | undefined) => ({
    softwareName: release.softwareName,
    version: release.version,
    artifactName: release.artifactName,
    previous: previous
      ? { source: previous.source, label: previous.label, version: previous.version }
      : undefined,
    dependsOnVersion,
    services,
    dryRun: opts.dryRun === true,
    metadata,
  });
  if (opts.compression === 'zstd') {
    log.warn(
      'compression zstd: Mender clients 3.x cannot read it (they refuse header.tar.zst); use gzip (default) or none for them',
    );
  }
  if (opts.requireDelta) assertNoFallback(planned);
  if (opts.dryRun)
    return { ...summary(planned, dependsOnVersionOf(planned, previous?.version)), uploaded: false };
  if (planned.some((p) => p.mode !== 'full') && previous && !previous.version) {
    log.warn('the previous version is unknown: the delta artifact does not depend on it');
  }
  const written = await writeRelease(stages, plan);
  const result = summary(written.services, written.dependsOnVersion);
  const artifactSize = (await stat(release.artifactFile)).size;
  const published = await publish({ opts, release, store, emit, ...log }, release.artifactFile, metadata);
  return { ...result, artifactFile: release.artifactFile, artifactSize, ...published };
}

/**
 * The payloads and the artifact, in a work dir beside the output (what killed runs left beside
 * it goes first). Returns the services as shipped and the version the artifact depends on.
 */
async function writeRelease(
  stages: Stages,
  plan: ReleasePlan,
): Promise<{ services: ServiceResult[]; dependsOnVersion: string | undefined }> {
  const { opts, release, store, emit, log } = stages;
  const { signal } = opts;
  const outDir = dirname(release.artifactFile);
  for (const path of await sweepLeftovers(outDir))
    log.info(`removed ${path}, left by a run that was stopped`);
  const workDir = await makeWorkDir(outDir, 'work');
  try {
    const ctx: ImageBuildContext = {
      work: workDir.path,
      cache: release.cache,
      deviceStore: opts.deviceStore,
      platform: opts.platform,
      deviceWindow: opts.deviceWindow ?? DEFAULT_SOURCE_WINDOW,
      ...(opts.jobs !== undefined ? { jobs: opts.jobs } : {}),
      ...(opts.effort !== undefined ? { effort: opts.effort } : {}),
      ...(store ? { store } : {}),
      emit,
      warn: log.warn,
    };
    const { payloads, outcomes } = await buildPayloads(ctx, plan, stages.concurrency, signal);
    throwIfAborted(signal, 'building the app artifact');
    const services = plan.services.map((s) => serviceResult(s.plan, outcomes.get(s.plan.hash)));
    if (opts.requireDelta) assertNoFallback(services);
    // Inside an xz artifact, images.tar.gz is a stored gzip stream (still what the device's
    // `tar -xzf` reads): xz compresses the images once, better than gzip inside gzip.
    const tars = await writePayloadTars(workDir.path, release, payloads, plan.finalRefs, {
      ...log,
      emit,
      signal,
      imagesLevel: opts.compression === 'xz' ? 0 : 6,
    });
    // Deltas that fell back to full images no longer tie the artifact to the previous version.
    const dependsOnVersion = dependsOnVersionOf(services, release.previous?.version);
    const imageIds = payloads.map(imageIdOf);
    await writeAppArtifact(opts, release, { ...tars, imageIds }, dependsOnVersion, { ...log, emit });
    log.info(`wrote ${release.artifactFile}`);
    return { services, dependsOnVersion };
  } finally {
    await workDir.remove();
  }
}
