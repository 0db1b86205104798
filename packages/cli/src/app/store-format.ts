/**
 * How the build-farm store lays out deltas and release records in a registry repository, as
 * OCI artifacts (pure: tags, manifests, parsing). A deep delta is an image manifest with
 * `artifactType` application/vnd.ocidelta.deep-delta.v1, its config the delta's record (key,
 * sizes, device cost) and its one layer the image.img, tagged `delta-<key id>`; a release
 * record is an artifact of type application/vnd.ocidelta.release.v1 whose config is the
 * release metadata, tagged `release-<software>-<version>` and `release-<software>-latest`.
 * Tags, not the referrers API: the store is its own repository (a referrer's subject must be in
 * the same repository) and distribution 2.8 has no referrers API.
 */
import { createHash } from 'node:crypto';
import { type Digest, jsonBytes, OciDeltaError } from '@ocidelta/core';
import { CURRENT_ORIGINS, DEVICE_STORES } from '@ocidelta/delta';
import { z } from 'zod';
import { type DeltaInfo, type DeltaKey, deltaKeyId } from './delta-key.js';

export const DELTA_ARTIFACT_TYPE = 'application/vnd.ocidelta.deep-delta.v1';
export const DELTA_CONFIG_TYPE = 'application/vnd.ocidelta.deep-delta.config.v1+json';
export const DELTA_IMAGE_TYPE = 'application/vnd.ocidelta.deep-delta.image.v1.tar';
export const RELEASE_ARTIFACT_TYPE = 'application/vnd.ocidelta.release.v1';
export const RELEASE_CONFIG_TYPE = 'application/vnd.ocidelta.release.config.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const CREATED = 'org.opencontainers.image.created';

/** Largest record (config blob) the store reads: they are JSON documents of a few KB. */
export const MAX_RECORD_SIZE = 1024 * 1024;

/** The tag of the delta for `key`: `delta-` and 40 hex digits of the key id. */
export function deltaTag(key: DeltaKey): string {
  return `delta-${deltaKeyId(key).slice(0, 40)}`;
}

/** A tag-safe form of `text` (`[A-Za-z0-9_.-]`), with a hash suffix when anything was changed or cut. */
function tagPart(text: string, max: number): string {
  const safe = text.replace(/[^A-Za-z0-9_.-]/g, '_');
  if (safe === text && safe.length <= max) return safe;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 8);
  return `${safe.slice(0, max - 9)}-${hash}`;
}

/** The tags of a release record: per version, and the moving `latest`. */
export function releaseTags(softwareName: string, version: string): { version: string; latest: string } {
  const name = tagPart(softwareName, 50);
  return { version: `release-${name}-v${tagPart(version, 60)}`, latest: `release-${name}-latest` };
}

export interface Blob {
  mediaType: string;
  digest: Digest;
  size: number;
}

function descriptor(mediaType: string, digest: Digest, size: number): Blob {
  return { mediaType, digest, size };
}

/** The manifest of a delta artifact. */
export function deltaManifest(record: Blob, image: Blob, createdAt: string): Buffer {
  return jsonBytes({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: DELTA_ARTIFACT_TYPE,
    config: descriptor(DELTA_CONFIG_TYPE, record.digest, record.size),
    layers: [descriptor(DELTA_IMAGE_TYPE, image.digest, image.size)],
    annotations: { [CREATED]: createdAt },
  });
}

/** The manifest of a release record artifact (no layers: the record is the config). */
export function releaseManifest(record: Blob, createdAt: string): Buffer {
  return jsonBytes({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: RELEASE_ARTIFACT_TYPE,
    config: descriptor(RELEASE_CONFIG_TYPE, record.digest, record.size),
    layers: [],
    annotations: { [CREATED]: createdAt },
  });
}

const Desc = z.object({
  mediaType: z.string(),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
});
const StoreManifest = z.object({
  schemaVersion: z.literal(2),
  artifactType: z.string().optional(),
  config: Desc,
  layers: z.array(Desc),
  annotations: z.record(z.string(), z.string()).optional(),
});

export type StoreEntryKind = 'delta' | 'release';

export interface ParsedStoreManifest {
  kind: StoreEntryKind;
  record: Blob;
  /** The image.img (deltas). */
  image?: Blob;
  createdAt?: string;
}

/** Parse a store manifest; ERR_INVALID_MANIFEST for anything that is not one of ours. */
export function parseStoreManifest(bytes: Uint8Array, where: string): ParsedStoreManifest {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    value = undefined;
  }
  const r = StoreManifest.safeParse(value);
  const m = r.success ? r.data : undefined;
  const type = m?.artifactType ?? m?.config.mediaType;
  const asBlob = (d: z.infer<typeof Desc>): Blob => ({ ...d, digest: d.digest as Digest });
  const createdAt = m?.annotations?.[CREATED];
  if (m && (type === DELTA_ARTIFACT_TYPE || type === DELTA_CONFIG_TYPE) && m.layers.length === 1) {
    return {
      kind: 'delta',
      record: asBlob(m.config),
      image: asBlob(m.layers[0]!),
      ...(createdAt ? { createdAt } : {}),
    };
  }
  if (m && (type === RELEASE_ARTIFACT_TYPE || type === RELEASE_CONFIG_TYPE)) {
    return { kind: 'release', record: asBlob(m.config), ...(createdAt ? { createdAt } : {}) };
  }
  throw new OciDeltaError('ERR_INVALID_MANIFEST', `${where} is not an ocidelta store entry`, { ref: where });
}

const DeltaRecord = z.object({
  from: z.string(),
  to: z.string(),
  deviceStore: z.enum(DEVICE_STORES),
  delivery: z.enum(CURRENT_ORIGINS),
  repoTags: z.array(z.string()).optional(),
  platform: z.string(),
  sourceWindow: z.number().int().positive(),
  fromRef: z.string(),
  toRef: z.string(),
  size: z.number().int().nonnegative(),
  createdAt: z.string(),
  device: z.object({ sourceBytesRead: z.number(), decoderMemory: z.number() }).optional(),
});

/** Parse a delta record (the config blob); ERR_INVALID_MANIFEST when it is not one. */
export function parseDeltaRecord(bytes: Uint8Array, where: string): DeltaInfo {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    value = undefined;
  }
  const r = DeltaRecord.safeParse(value);
  if (!r.success) {
    throw new OciDeltaError('ERR_INVALID_MANIFEST', `${where}: not a deep-delta record`, { ref: where });
  }
  return r.data as DeltaInfo;
}
