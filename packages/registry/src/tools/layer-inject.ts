/**
 * Layer injection: pack a directory into a deterministic layer (see core's build), push it,
 * and append it to an image or replace the layer injected before. The injected layer is
 * tracked by two config labels, so a later injection replaces it in place; `rootfs.diff_ids`,
 * `history` (an empty_layer entry notes a replacement) and the labels are updated with core's
 * mutate functions, and the result is pushed under the new tag with `writeImage`. OCI and
 * Docker media types are both kept as they are. Nothing shells out: tar and gzip are done
 * in-process.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  appendLayers,
  diffTrees,
  type Image,
  layerBlobStream,
  MediaType,
  OciDeltaError,
  OciLayout,
  type Platform,
  type Progress,
  type RawConfig,
  type Reference,
  replaceLayer,
  resolveMtime,
  scanDirectory,
  toReference,
  withConfig,
} from '@ocidelta/core';
import type { RegistryClient } from '../client.js';
import { writeImage } from '../transfer/write-image.js';

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
    const layer = {
      descriptor: {
        mediaType: docker ? MediaType.DockerLayerGzip : MediaType.OciLayerGzip,
        digest: blob.digest,
        size: blob.size,
      },
      diffId,
    };
    const note = options.comment ?? `ocidelta layer inject ${dir.split('/').pop() ?? dir}`;
    const layerIndex = previous ?? image.layers.length;
    const placed =
      previous === undefined
        ? await appendLayers(
            image,
            [{ ...layer, history: { created, created_by: 'ocidelta layer inject', comment: note } }],
            staging,
          )
        : await replaceLayer(image, previous, layer, staging);
    const marks = {
      [INJECTED_DIFF_ID_LABEL]: diffId,
      [INJECTED_DIGEST_LABEL]: blob.digest,
      [CVMFS_DIFF_ID_LABEL]: diffId,
      [CVMFS_DIGEST_LABEL]: blob.digest,
    };
    const injected = await withConfig(placed, (config) =>
      labelled(
        previous === undefined ? config : replacedHistory(config, previous, image, created, note),
        marks,
      ),
    );

    // Blobs: the image's other layers (mounted or streamed from the source), the new layer, the
    // config; then the manifest.
    const { digest } = await writeImage(destClient, injected, dest, {
      ...(src.registry === dest.registry ? { mountFrom: src } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      // One event per blob once it is in place: mounted, already there, or fully sent.
      onProgress: (e) => {
        const placed =
          e.phase === 'skip' || e.phase === 'mount' || (e.phase === 'blob' && e.done === e.total);
        if (!placed || e.item === undefined) return;
        options.onProgress?.({
          phase: e.item === injected.configDigest ? 'config' : 'blob',
          item: e.item,
          done: 1,
          total: 1,
          unit: 'items',
        });
      },
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

type LabelledConfig = RawConfig & {
  config?: Record<string, unknown> & { Labels?: Record<string, string> | null };
  container_config?: Record<string, unknown> & { Labels?: Record<string, string> | null };
};

/** `config` with `marks` added to its labels (and to a Docker config's container_config). */
function labelled(config: LabelledConfig, marks: Record<string, string>): RawConfig {
  return {
    ...config,
    config: { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), ...marks } },
    ...(config.container_config
      ? {
          container_config: {
            ...config.container_config,
            Labels: { ...(config.container_config.Labels ?? {}), ...marks },
          },
        }
      : {}),
  };
}

/** History after replacing layer `index`: its entry restamped, and a note of what was replaced. */
function replacedHistory(
  config: RawConfig,
  index: number,
  image: Image,
  created: string,
  note: string,
): RawConfig {
  const history = [...(config.history ?? [])];
  const h = historyIndexOfLayer(history, index);
  if (h !== undefined)
    history[h] = { ...history[h], created, created_by: 'ocidelta layer inject', comment: note };
  history.push({
    created,
    created_by: `ocidelta layer inject: replaced layer ${index} (${image.layers[index]?.digest})`,
    comment: note,
    empty_layer: true,
  });
  return { ...config, history };
}
