/**
 * The release metadata ocidelta records after a deployment (`previous_artifact.json`): per
 * service the image ref, its manifest digest ("hash") and how the device got the image, so the
 * next build knows what to diff against and which `.source` names a containerd store uses.
 * Pure: schema, parse and serialize only.
 */
import { type Digest, OciDeltaError, validate } from '@ocidelta/core';
import { CURRENT_ORIGINS, type CurrentOrigin, DEVICE_STORES, type DeviceStore } from '@ocidelta/delta';
import { z } from 'zod';

/**
 * How the device got an image: pulled from a registry, or loaded from one of our artifacts (the
 * deep delta's `currentOrigin`).
 */
export type Delivery = CurrentOrigin;

export interface ServiceRecord {
  ref: string;
  /** Manifest digest of the platform image (`sha256:...`). */
  hash: Digest;
  delivery: Delivery;
}

export interface ReleaseMetadata {
  format: 'ocidelta-app-release';
  formatVersion: 1;
  softwareName: string;
  artifactName: string;
  version: string;
  platform: string;
  deviceStore: DeviceStore;
  createdAt: string;
  services: Record<string, { image: ServiceRecord }>;
}

const Hash = z
  .string()
  .regex(/^(sha256:)?[0-9a-f]{64}$/, 'expected a sha256 digest')
  .transform((h) => (h.startsWith('sha256:') ? h : `sha256:${h}`) as Digest);

const Schema = z.object({
  format: z.literal('ocidelta-app-release').default('ocidelta-app-release'),
  formatVersion: z.literal(1).default(1),
  softwareName: z.string().default(''),
  artifactName: z.string().default(''),
  version: z.string().min(1),
  platform: z.string().default(''),
  deviceStore: z.enum(DEVICE_STORES).default('classic'),
  createdAt: z.string().default(''),
  services: z.record(
    z.string(),
    z.object({
      image: z.object({
        ref: z.string().min(1),
        hash: Hash,
        delivery: z.enum(CURRENT_ORIGINS).default('registry'),
      }),
    }),
  ),
});

/** True when `value` looks like release metadata (a JSON object with `services` and `version`). */
export function looksLikeMetadata(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'services' in value && 'version' in value;
}

/** Parse metadata JSON bytes; ERR_INPUT naming `path` and the bad field. */
export function parseReleaseMetadata(bytes: Buffer | string, path: string): ReleaseMetadata {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (err) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `invalid JSON in release metadata ${path}`,
      { path },
      { cause: err },
    );
  }
  return validate(Schema, value, {
    code: 'ERR_INPUT',
    what: `invalid release metadata ${path}`,
    details: { path },
  }) as ReleaseMetadata;
}

/** Serialize metadata (pretty JSON with a trailing newline, stable key order). */
export function serializeReleaseMetadata(meta: ReleaseMetadata): string {
  const services: ReleaseMetadata['services'] = {};
  for (const name of Object.keys(meta.services).sort()) services[name] = meta.services[name]!;
  return `${JSON.stringify({ ...meta, services }, null, 2)}\n`;
}
