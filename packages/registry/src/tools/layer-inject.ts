/**
 * Layer injection: pack a directory into a deterministic layer (see core's build), push it,
 * and append it to an image or replace the layer injected before. The injected layer is
 * tracked by two config labels, so a later injection replaces it in place; `rootfs.diff_ids`,
 * `history` (an empty_layer entry notes a replacement) and the labels are updated, and config
 * and manifest are pushed under the new tag. OCI and Docker media types are both kept as they
 * are. Nothing shells out: tar and gzip are done in-process.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Descriptor,
  diffTrees,
  forEachLimit,
  type Image,
  jsonBytes,
  layerBlobStream,
  MediaType,
  OciDeltaError,
  OciLayout,
  type Platform,
  type Progress,
  type Reference,
  resolveMtime,
  scanDirectory,
  toReference,
} from '@ocidelta/core';
import type { RegistryClient } from '../client.js';

export const INJECTED_DIFF_ID_LABEL = 'org.ocidelta.injected.diff_id';
export const INJECTED_DIGEST_LABEL = 'org.ocidelta.injected.digest';
/** The CVMFS injector's labels for the same two facts: images it prepared are recognised, and both sets are written. */
export const CVMFS_DIFF_ID_LABEL = 'cvmfs_injection_tar';
export const CVMFS_DIGEST_LABEL = 'cvmfs_injection_gz';

export interface LayerInjectOptions {
  /** Which image of an index (default: this host's platform). */
  platform?: Platform;
  /** mtime of the layer entries and history (seconds; default SOURCE_DATE_EPOCH, else 0). */
  mtime?: number;
  env?: NodeJS.ProcessEnv;
  /** Text for the history entry. */
  comment?: string;
  /** Keep the files' uid/gid in the layer (default: 0:0, reproducible). */
  preserveOwner?: boolean;
  /** Keep extended attributes of files and directories (PAX SCHILY.xattr; needs the optional fs-xattr). */
  xattrs?: boolean;
  /** Client for the target when it needs other credentials (default `client`). */
  destClient?: RegistryClient;
  signal?: AbortSignal;
  /** One event (unit items) per step; `item` is the digest written. */
  onProgress?: (p: Progress<'layer' | 'blob' | 'config' | 'manifest'>) => void;
}

export interface LayerInjectResult {
  target: string;
  digest: string;
  mediaType: string;
  /** Position of the injected layer in the new image. */
  layerIndex: number;
  layer: { digest: string; diffId: string; size: number };
  /** True when a previously injected layer was replaced (false: appended). */
  replaced: boolean;
}

/** Index of the layer marked by the injection labels, or undefined when the image has none. */
export function injectedLayerIndex(image: Image): number | undefined {
  const labels = image.config.config?.Labels ?? {};
  const diffId = labels[INJECTED_DIFF_ID_LABEL] ?? labels[CVMFS_DIFF_ID_LABEL];
  const digest = labels[INJECTED_DIGEST_LABEL] ?? labels[CVMFS_DIGEST_LABEL];
  if (diffId === undefined && digest === undefined) return undefined;
  const at = image.layers.findIndex(
    (l) => (digest === undefined || l.digest === digest) && (diffId === undefined || l.diffId === diffId),
  );
  if (at < 0) {
    throw new OciDeltaError(
      'ERR_INVALID_MANIFEST',
      `image ${image.digest} is labelled with an injected layer (${digest ?? diffId}) that is no longer among its layers; remove the ${INJECTED_DIGEST_LABEL} / ${INJECTED_DIFF_ID_LABEL} labels or start from the original image`,
      { digest: image.digest, injected: digest ?? diffId },
    );
  }
  return at;
}

/** Which history entry belongs to layer `n` (entries with empty_layer have no layer). */
function historyIndexOfLayer(history: readonly { empty_layer?: boolean }[], n: number): number | undefined {
  let seen = -1;
  for (const [i, h] of history.entries()) {
    if (h.empty_layer) continue;
    if (++seen === n) return i;
  }
  return undefined;
}

/**
 * Inject `dir` into the image `source` names and push the result to `target` (a tag).
 * Blobs the target repository lacks are mounted from the source repository or copied.
 */
export async function injectLayer(
  client: RegistryClient,
  source: Reference | string,
  dir: string,
  target: Reference | string,
  options: LayerInjectOptions = {},
): Promise<LayerInjectResult> {
  const src = toReference(source);
  const dest = toReference(target);
  const destClient = options.destClient ?? client;
  const image = await client.resolveImage(src, {
    ...(options.platform ? { platform: options.platform } : {}),
    signal: options.signal,
  });
  const previous = injectedLayerIndex(image);
  const mtime = resolveMtime(options.mtime, options.env);
  const created = new Date(mtime * 1000).toISOString().replace('.000Z', 'Z');
  const docker = image.mediaType === MediaType.DockerManifest;

  // Pack the directory into a temp layout (bounded memory), hashing as it goes.
  const tmp = await mkdtemp(join(tmpdir(), 'ocidelta-inject-'));
  try {
    const tree = await scanDirectory(dir, {
      signal: options.signal,
      owners: options.preserveOwner === true,
      xattrs: options.xattrs === true,
    });
    const produced = layerBlobStream(diffTrees(new Map(), tree), { mtime, signal: options.signal });
    const staging = await OciLayout.create(tmp);
    const blob = await staging.writeBlob(produced.stream, {}, { signal: options.signal });
    const diffId = produced.diffId().digest;
    options.onProgress?.({ phase: 'layer', item: blob.digest, done: 1, total: 1, unit: 'items' });
    const layerDesc: Descriptor = {
      mediaType: docker ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip,
      digest: blob.digest,
      size: blob.size,
    };

    // New config from the raw JSON, so fields we do not model survive.
    const config = JSON.parse(Buffer.from(image.configBytes).toString('utf8')) as Record<string, unknown> & {
      config?: Record<string, unknown> & { Labels?: Record<string, string> | null };
      container_config?: Record<string, unknown> & { Labels?: Record<string, string> | null };
      rootfs: { type: string; diff_ids?: string[] | null };
      history?: Record<string, unknown>[];
    };
    const diffIds = [...(config.rootfs.diff_ids ?? [])];
    const history = [...(config.history ?? [])];
    const layers = [...image.manifest.layers];
    const note = options.comment ?? `ocidelta layer inject ${dir.split('/').pop() ?? dir}`;
    let layerIndex: number;
    if (previous === undefined) {
      layerIndex = layers.length;
      layers.push(layerDesc);
      diffIds.push(diffId);
      history.push({ created, created_by: 'ocidelta layer inject', comment: note });
    } else {
      layerIndex = previous;
      layers[previous] = layerDesc;
      diffIds[previous] = diffId;
      const h = historyIndexOfLayer(history, previous);
      if (h !== undefined)
        history[h] = { ...history[h], created, created_by: 'ocidelta layer inject', comment: note };
      history.push({
        created,
        created_by: `ocidelta layer inject: replaced layer ${previous} (${image.layers[previous]?.digest})`,
        comment: note,
        empty_layer: true,
      });
    }
    const marks = {
      [INJECTED_DIFF_ID_LABEL]: diffId,
      [INJECTED_DIGEST_LABEL]: blob.digest,
      [CVMFS_DIFF_ID_LABEL]: diffId,
      [CVMFS_DIGEST_LABEL]: blob.digest,
    };
    const newConfig = {
      ...config,
      config: { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), ...marks } },
      // Docker configs also carry container_config: the injector labels it too.
      ...(config.container_config
        ? {
            container_config: {
              ...config.container_config,
              Labels: { ...(config.container_config.Labels ?? {}), ...marks },
            },
          }
        : {}),
      rootfs: { ...config.rootfs, diff_ids: diffIds },
      history,
    };
    const configBytes = jsonBytes(newConfig);
    const configDigest = await staging.writeBlob(configBytes);
    const manifest = JSON.parse(Buffer.from(image.manifestBytes).toString('utf8')) as Record<string, unknown>;
    const newManifest = {
      ...manifest,
      config: { ...image.manifest.config, digest: configDigest.digest, size: configDigest.size },
      layers,
    };
    const manifestBytes = jsonBytes(newManifest);

    // Blobs: the image's other layers (mounted or copied), the new layer, the config.
    const sameRegistry = src.registry === dest.registry;
    const kept = layers.filter((l) => l.digest !== blob.digest);
    await forEachLimit(
      kept,
      4,
      async (d, signal) => {
        await destClient.uploadBlob(
          dest,
          () => client.getBlob(src, d, { signal }),
          { digest: d.digest, size: d.size },
          { ...(sameRegistry ? { mountFrom: src } : {}), signal },
        );
        options.onProgress?.({ phase: 'blob', item: d.digest, done: 1, total: 1, unit: 'items' });
      },
      { signal: options.signal, what: `pushing layers to ${dest}` },
    );
    await destClient.uploadBlob(dest, async () => createReadStream(staging.blobPath(blob.digest)), blob, {
      signal: options.signal,
    });
    options.onProgress?.({ phase: 'blob', item: blob.digest, done: 1, total: 1, unit: 'items' });
    await destClient.uploadBlob(dest, configBytes, configDigest, { signal: options.signal });
    options.onProgress?.({ phase: 'config', item: configDigest.digest, done: 1, total: 1, unit: 'items' });
    const digest = await destClient.putManifest(dest, manifestBytes, image.mediaType, {
      signal: options.signal,
    });
    options.onProgress?.({ phase: 'manifest', item: digest, done: 1, total: 1, unit: 'items' });
    return {
      target: dest.toString(),
      digest,
      mediaType: image.mediaType,
      layerIndex,
      layer: { digest: blob.digest, diffId, size: blob.size },
      replaced: previous !== undefined,
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Resolve the image `ref` names and the layer to extract: `layer` when given, else the injected one. */
export async function resolveLayerToExtract(
  client: RegistryClient,
  ref: Reference | string,
  options: { layer?: number; platform?: Platform; signal?: AbortSignal } = {},
): Promise<{ image: Image; index: number }> {
  const r = toReference(ref);
  const image = await client.resolveImage(r, {
    ...(options.platform ? { platform: options.platform } : {}),
    signal: options.signal,
  });
  if (options.layer !== undefined) {
    const n = options.layer < 0 ? image.layers.length + options.layer : options.layer;
    if (!Number.isInteger(n) || n < 0 || n >= image.layers.length) {
      throw new OciDeltaError(
        'ERR_INVALID_OPTIONS',
        `${r} has ${image.layers.length} layers; layer ${options.layer} is out of range`,
        { ref: r.toString(), layer: options.layer, hint: 'layer-index' },
      );
    }
    return { image, index: n };
  }
  const index = injectedLayerIndex(image);
  if (index === undefined) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `${r} has no injected layer (no ${INJECTED_DIGEST_LABEL} or ${CVMFS_DIGEST_LABEL} label); choose one by its index`,
      { ref: r.toString(), reason: 'no-injected-layer', hint: 'layer-index' },
    );
  }
  return { image, index };
}
