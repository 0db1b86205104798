/**
 * `buildAppArtifact(options)`: the app pipeline as a library function. Compose file -> per
 * service image (registry or archive) -> plan against the previous release -> image.img per
 * image (full docker-archive or deep delta) -> images.tar.gz + manifests.tar.gz -> Mender
 * artifact -> optional upload, deployment and release record. Emits progress events.
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeWorkDir, sweepLeftovers, throwIfAborted } from '@ocidelta/core';
import { DEFAULT_SOURCE_WINDOW } from '@ocidelta/delta';
import type { ImageBuildContext } from './image-builder.js';
import type { ImageResolver } from './image-sources.js';
import { type AppOptions, type RegistryAccess, resolveOptions } from './options.js';
import { buildPayloads, writeAppArtifact, writePayloadTars } from './payloads.js';
import { assertNoFallback, groupSharedImages, type ServicePlan } from './plan.js';
import { prepareServices } from './prepare-services.js';
import type { PreviousRelease } from './previous-release.js';
import type { AppEvent, AppEventListener } from './progress.js';
import { publish } from './publish.js';
import { createRegistryResolver, expandInsecure, registryClientFor } from './registry-resolver.js';
import { readRelease, releaseMetadataOf } from './release.js';
import type { ReleaseMetadata } from './release-metadata.js';
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

export { COMPOSE_FILE_NAMES } from './payloads.js';

/** Build (and optionally upload and deploy) the app artifact described by `options`. */
export async function buildAppArtifact(options: BuildAppOptions): Promise<BuildAppResult> {
  const env = options.env ?? process.env;
  // The shared store has its own client (its credentials come from the docker config per registry).
  const storeClient = options.store
    ? registryClientFor(expandInsecure(options.registry ?? {}, [options.store]), env)
    : undefined;
  // The registry resolver is created on first use and closed here (an injected one is the caller's).
  let own: Promise<ImageResolver> | undefined;
  const resolverFor = (access: () => RegistryAccess) => () => {
    if (options.resolver) return Promise.resolve(options.resolver);
    own ??= createRegistryResolver(access(), env);
    return own;
  };
  try {
    const store = storeClient ? new ArtifactStore(storeClient, options.store!) : undefined;
    return await build(options, resolverFor, store);
  } finally {
    if (own) await (await own.catch(() => undefined))?.close?.();
    await storeClient?.close();
  }
}

async function build(
  options: BuildAppOptions,
  resolverFor: (access: () => RegistryAccess) => () => Promise<ImageResolver>,
  store: ArtifactStore | undefined,
): Promise<BuildAppResult> {
  const opts = resolveOptions(options);
  const { signal } = opts;
  const warnings: string[] = [];
  const emit = (e: AppEvent) => options.onEvent?.(e);
  const log = {
    info: (message: string, service?: string) => emit({ type: 'log', level: 'info', message, service }),
    warn: (message: string, service?: string) => {
      warnings.push(service ? `[${service}] ${message}` : message);
      emit({ type: 'log', level: 'warn', message, service });
    },
  };

  // 1. The release: compose file, version, names, previous release.
  const release = await readRelease(opts, store, log);
  const { compose, previous, cache } = release;

  // 2. The plan: every service's new and current image (three services at a time).
  const resolver = resolverFor(() =>
    // `insecureAll` expands to every registry the release names.
    expandInsecure(opts.registry ?? {}, [
      ...compose.services.map((s) => opts.serviceImages[s.name] ?? s.image),
      ...[...(previous?.services.values() ?? [])].map((s) => s.ref),
    ]),
  );
  const { prepared, finalRefs } = await prepareServices(
    { opts, previous, cache, resolver, emit, info: log.info, warn: log.warn },
    compose.services,
  );
  const groups = groupSharedImages(prepared);
  const dependsOn = () => (prepared.some((p) => p.plan.mode !== 'full') ? previous?.version : undefined);
  const metadata = releaseMetadataOf(release, opts, prepared);
  const result: BuildAppResult = {
    softwareName: release.softwareName,
    version: release.version,
    artifactName: release.artifactName,
    previous: previous
      ? { source: previous.source, label: previous.label, version: previous.version }
      : undefined,
    dependsOnVersion: dependsOn(),
    services: prepared.map((p) => p.plan),
    dryRun: opts.dryRun === true,
    uploaded: false,
    metadata,
    warnings,
  };
  if (opts.compression === 'zstd') {
    log.warn(
      'compression zstd: Mender clients 3.x cannot read it (they refuse header.tar.zst); use gzip (default) or none for them',
    );
  }
  if (opts.requireDelta) assertNoFallback(result.services);
  if (opts.dryRun) return result;
  if (prepared.some((p) => p.plan.mode !== 'full') && previous && !previous.version) {
    log.warn('the previous version is unknown: the delta artifact does not depend on it');
  }

  // 3 and 4. Payloads and the artifact, in a work dir beside the output. What killed runs left
  // beside the output (work directories, partial artifacts) goes first.
  const outDir = dirname(release.artifactFile);
  for (const path of await sweepLeftovers(outDir))
    log.info(`removed ${path}, left by a run that was stopped`);
  const workDir = await makeWorkDir(outDir, 'work');
  try {
    const ctx: ImageBuildContext = {
      work: workDir.path,
      cache,
      deviceStore: opts.deviceStore,
      platform: opts.platform,
      deviceWindow: opts.deviceWindow ?? DEFAULT_SOURCE_WINDOW,
      ...(store ? { store } : {}),
      emit,
      warn: log.warn,
    };
    const payloads = await buildPayloads(ctx, groups, options.concurrency ?? 2, signal);
    throwIfAborted(signal, 'building the app artifact');
    if (opts.requireDelta) assertNoFallback(prepared.map((p) => p.plan));
    const tars = await writePayloadTars(workDir.path, release, payloads, finalRefs, { ...log, emit, signal });
    // Deltas that fell back to full images no longer tie the artifact to the previous version.
    result.dependsOnVersion = dependsOn();
    const imageIds = payloads.map((x) => x.id);
    await writeAppArtifact(opts, release, { ...tars, imageIds }, result.dependsOnVersion, { ...log, emit });
    result.artifactFile = release.artifactFile;
    result.artifactSize = (await stat(release.artifactFile)).size;
    log.info(`wrote ${release.artifactFile}`);
  } finally {
    await workDir.remove();
  }

  // 5. Upload, deploy, record.
  Object.assign(
    result,
    await publish({ opts, release, store, emit, ...log }, release.artifactFile, metadata),
  );
  return result;
}
