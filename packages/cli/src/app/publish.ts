/**
 * Stage 5 of the app pipeline, publish: upload the artifact to the Mender server, deploy it to a
 * device group, and record the release as the next run's previous release (cache and store).
 */
import { isOciDeltaError } from '@ocidelta/core';
import { MenderServer } from './mender-server.js';
import type { ResolvedOptions } from './options.js';
import type { AppEvent } from './progress.js';
import type { Release, StageLog } from './release.js';
import type { ReleaseMetadata } from './release-metadata.js';
import type { ArtifactStore } from './store.js';

export interface Published {
  uploaded: boolean;
  uploadSkippedExisting?: boolean;
  deployment?: { group: string; id?: string };
  recorded?: string;
  storeRecorded?: string;
}

interface PublishContext extends StageLog {
  opts: ResolvedOptions;
  release: Release;
  store: ArtifactStore | undefined;
  emit: (event: AppEvent) => void;
}

/** Upload and deploy with MENDER_PAT; without it, say so. */
async function uploadAndDeploy(ctx: PublishContext, artifactFile: string): Promise<Published> {
  const { opts, release } = ctx;
  if (!opts.menderPat) {
    ctx.info('MENDER_PAT is not set: upload skipped (artifact built only)');
    if (opts.deviceGroup)
      ctx.warn(
        `device group ${opts.deviceGroup} ignored: no MENDER_PAT to upload and deploy with`,
        undefined,
        'device-group',
      );
    return { uploaded: false };
  }
  const server = new MenderServer({
    host: opts.menderHost,
    token: opts.menderPat,
    signal: opts.signal,
    env: opts.env ?? process.env,
  });
  try {
    const up = await server.uploadArtifact(artifactFile, {
      skipExisting: opts.skipExisting,
      description: `ocidelta ${release.softwareName} ${release.version}`,
      onProgress: (done, total) =>
        ctx.emit({ type: 'progress', phase: 'upload', item: release.artifactName, done, total }),
    });
    ctx.info(
      up.uploaded
        ? `uploaded ${release.artifactName} to ${opts.menderHost}`
        : `${release.artifactName} already on the server: skipped`,
    );
    const out: Published = { uploaded: up.uploaded, uploadSkippedExisting: !up.uploaded };
    if (opts.deviceGroup) {
      const dep = await server.deployToGroup(
        opts.deviceGroup,
        release.artifactName,
        opts.deploymentName ?? `${release.artifactName}-${opts.deviceGroup}`,
      );
      out.deployment = { group: opts.deviceGroup, id: dep.id };
      ctx.info(`deployment ${dep.id ?? ''} created for group ${opts.deviceGroup}`);
    }
    return out;
  } finally {
    await server.close();
  }
}

/** Publish the written artifact: upload, deploy, record. */
export async function publish(
  ctx: PublishContext,
  artifactFile: string,
  metadata: ReleaseMetadata,
): Promise<Published> {
  const { opts, release, store } = ctx;
  const out = await uploadAndDeploy(ctx, artifactFile);
  // Without a token a group deployment could not happen; the helper records the release anyway
  // (it was meant to be deployed), with the warning above.
  const record =
    out.deployment !== undefined || opts.record || (!opts.menderPat && opts.deviceGroup !== undefined);
  if (!record) return out;
  if (release.cache) {
    out.recorded = await release.cache.writePrevious(metadata);
    ctx.info(`recorded ${release.version} as the previous release in ${out.recorded}`);
  }
  if (store) {
    try {
      await store.pushRelease(metadata, opts.signal);
      out.storeRecorded = store.repo.name;
      ctx.info(`recorded ${release.version} as the previous release in the store ${store.repo.name}`);
    } catch (err) {
      if (!isOciDeltaError(err) || err.code === 'ERR_ABORTED') throw err;
      ctx.warn(`could not record the release in the store ${store.repo.name}: ${err.message}`);
    }
  }
  return out;
}
