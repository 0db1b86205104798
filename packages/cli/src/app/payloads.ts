/**
 * Stages 3 and 4 of the app pipeline: the payloads (an image.img per image, full docker-archive
 * or deep delta, built two at a time; then images.tar.gz and manifests.tar.gz) and the Mender
 * artifact around them.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type Digest, forEachLimit, OciDeltaError } from '@ocidelta/core';
import { writeArtifact } from '@ocidelta/core/mender';
import { appMetaData, type ImagePayload, writeImagesTarGz, writeManifestsTarGz } from './app-payload.js';
import { rewriteImages } from './compose.js';
import { buildImagePayload, type ImageBuildContext } from './image-builder.js';
import type { ResolvedOptions } from './options.js';
import type { ReleasePlan } from './plan.js';
import type { AppEvent } from './progress.js';
import type { Release, StageLog } from './release.js';
import type { PayloadOutcome } from './results.js';
import { versionProvideKey } from './versioning.js';

/** File names `docker compose` looks for, in its order of preference. */
export const COMPOSE_FILE_NAMES: readonly string[] = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yaml',
  'docker-compose.yml',
];

/** Build image.img files `concurrency` at a time (deltas are CPU-bound); the first failure stops the others. */
export async function buildPayloads(
  ctx: ImageBuildContext,
  plan: ReleasePlan,
  concurrency: number,
  signal: AbortSignal | undefined,
): Promise<{ payloads: ImagePayload[]; outcomes: ReadonlyMap<Digest, PayloadOutcome> }> {
  const payloads: ImagePayload[] = [];
  const outcomes = new Map<Digest, PayloadOutcome>();
  await forEachLimit(
    [...plan.images],
    concurrency,
    async ([hash, group], sig) => {
      const built = await buildImagePayload(ctx, hash, group, sig);
      payloads.push(built.payload);
      outcomes.set(hash, built.outcome);
    },
    { ...(signal ? { signal } : {}), what: 'building the image payloads' },
  );
  return { payloads, outcomes };
}

/** images.tar.gz and manifests.tar.gz in `work`; returns their paths. */
export async function writePayloadTars(
  work: string,
  release: Release,
  payloads: ImagePayload[],
  finalRefs: ReadonlyMap<string, string>,
  ctx: StageLog & {
    emit: (event: AppEvent) => void;
    signal: AbortSignal | undefined;
    /** gzip level of images.tar.gz (0 stores: the artifact's compression does the work). */
    imagesLevel: number;
  },
): Promise<{ imagesTgz: string; manifestsTgz: string }> {
  const { signal } = ctx;
  const imagesTgz = join(work, 'images.tar.gz');
  const manifestsTgz = join(work, 'manifests.tar.gz');
  await writeImagesTarGz(imagesTgz, payloads, {
    signal,
    level: ctx.imagesLevel,
    onProgress: (id, done, total) =>
      ctx.emit({ type: 'progress', phase: 'write', item: `images.tar.gz ${id.slice(0, 12)}`, done, total }),
  });
  // The device runs `docker compose` in manifests/: it only finds the default file names.
  const given = basename(release.compose.path);
  const composeName = COMPOSE_FILE_NAMES.includes(given) ? given : 'docker-compose.yml';
  if (composeName !== given)
    ctx.info(`shipping ${given} as manifests/${composeName} (a name docker compose finds)`);
  await writeManifestsTarGz(
    manifestsTgz,
    [{ name: composeName, data: rewriteImages(release.compose, new Map(finalRefs)) }],
    { signal },
  );
  return { imagesTgz, manifestsTgz };
}

/** Write the Mender artifact of the release around the two payload tars. */
export async function writeAppArtifact(
  opts: ResolvedOptions,
  release: Release,
  files: { imagesTgz: string; manifestsTgz: string; imageIds: string[] },
  dependsOnVersion: string | undefined,
  ctx: StageLog & { emit: (event: AppEvent) => void },
): Promise<void> {
  const { artifactName, softwareName, version } = release;
  const signingKey = opts.signKey ? await readKey(opts.signKey) : undefined;
  await writeArtifact(release.artifactFile, {
    type: 'app',
    artifactName,
    deviceTypes: opts.deviceTypes,
    softwareName,
    softwareVersion: version,
    depends: dependsOnVersion ? { [versionProvideKey(softwareName)]: dependsOnVersion } : undefined,
    metaData: appMetaData(softwareName, opts.platform, files.imageIds, version) as unknown as Record<
      string,
      unknown
    >,
    files: [
      { name: 'images.tar.gz', path: files.imagesTgz },
      { name: 'manifests.tar.gz', path: files.manifestsTgz },
    ],
    compression: opts.compression,
    signingKey,
    signal: opts.signal,
    onWarning: (m) => ctx.warn(m),
    onProgress: (e) =>
      ctx.emit({
        type: 'progress',
        phase: 'artifact',
        item: `${artifactName} (${e.phase})`,
        done: e.overall?.done ?? e.done,
        ...(e.overall?.total !== undefined ? { total: e.overall.total } : {}),
      }),
  });
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
