/**
 * Options of the app pipeline (`buildAppArtifact` and `ocidelta app`): one typed object,
 * validated with zod, with the defaults of the original tool (cache dir from the environment,
 * hosted Mender, classic device store, gzip).
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { validate } from '@ocidelta/core';
import { ARTIFACT_COMPRESSIONS, type ArtifactCompression } from '@ocidelta/core/mender';
import { DEVICE_STORES, type DeviceStore, EFFORTS, type Effort } from '@ocidelta/delta';
import { z } from 'zod';

export const DEFAULT_MENDER_HOST = 'https://hosted.mender.io';

/** How the device stores images; only changes the `.source` paths of deep deltas (docs/app.md, "Device store"). */
/** The artifact's compression (core's type: none, gzip, xz, zstd). */
export type { ArtifactCompression, DeviceStore };
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** Registry access options passed through to the registry client. */
import type { RegistryAccess } from '../kit/registry-client.js';

export type { RegistryAccess };

/** Everything `buildAppArtifact` accepts. Paths are resolved against `cwd`. */
export interface AppOptions {
  /** The compose file (YAML). */
  composeFile: string;
  /** Device types the artifact is compatible with (at least one). */
  deviceTypes: string[];
  /** Platform of the images, e.g. `linux/arm64` or `linux/arm/v7`. */
  platform: string;
  /** Software (application) name; default `<repo dir>-<compose dir>`. */
  manifestName?: string;
  /** Version string; default from the VERSION file (see `release`). */
  version?: string;
  /** Git revision holding the previous release's compose file. */
  previousVersion?: string;
  /** Previous release: our metadata JSON or a compose file. */
  previousManifest?: string;
  /** Release build: version = VERSION file, no `+sha+uuid` suffix. */
  release?: boolean;
  /** Service name -> `docker save` / OCI archive file holding its image. */
  serviceFiles?: Record<string, string>;
  /** Service name -> image reference overriding the compose file. */
  serviceImages?: Record<string, string>;
  /**
   * A registry repository shared by build runners (`registry.example.com/ocidelta/store`): deep
   * deltas and release records are looked up there after the local cache and pushed there.
   */
  store?: string;
  /** Build deep deltas against the previous release (default true). */
  delta?: boolean;
  /**
   * Fail (ERR_NO_DEEP_DELTA) instead of shipping a full image when a service of the previous
   * release cannot get a deep delta for any reason other than the delta being larger.
   */
  requireDelta?: boolean;
  /** Use the cache (default true). */
  cache?: boolean;
  cacheDir?: string;
  /** Output file; default `<artifact name>.mender` in `cwd`. */
  artifactFilename?: string;
  deviceGroup?: string;
  menderHost?: string;
  /** Personal access token; without it the artifact is only built. */
  menderPat?: string;
  /** Deployment name (default: `<artifact name>-<group>`, so names never collide across groups). */
  deploymentName?: string;
  skipExisting?: boolean;
  /** Record the release as "previous" in the cache even without a deployment. */
  record?: boolean;
  deviceStore?: DeviceStore;
  /**
   * The device xdelta3's `-B` in bytes (default 64 MiB, the app module's default; set it when the
   * module's XDELTA_ARGS pass a larger `-B`). Deltas against a source the device decompresses keep
   * every copy within it.
   */
  deviceWindow?: number;
  compression?: ArtifactCompression;
  /**
   * Encode workers per deep-delta layer (default: the machine's available parallelism). Each adds
   * up to about 64 MiB of memory; 1 encodes in the main thread. Artifacts are the same for any number.
   */
  jobs?: number;
  /** The delta encoder's match effort: fast, default or best (slower, a little smaller). */
  effort?: Effort;
  /** PEM private key file to sign the artifact with. */
  signKey?: string;
  /** Plan only: resolve and size, write nothing. */
  dryRun?: boolean;
  registry?: RegistryAccess;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

const Options = z.object({
  composeFile: z.string().min(1),
  deviceTypes: z.array(z.string().min(1)).min(1, 'at least one device type is required'),
  platform: z.string().regex(/^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/i, 'expected os/arch[/variant]'),
  manifestName: z
    .string()
    .regex(/^[\w\-.,]+$/, 'only letters, digits and - . , _ are allowed')
    .optional(),
  version: z.string().min(1).optional(),
  deviceStore: z.enum(DEVICE_STORES).optional(),
  deviceWindow: z
    .number()
    .int()
    .min(1 << 16)
    .max(2 ** 31)
    .optional(),
  compression: z.enum(ARTIFACT_COMPRESSIONS).optional(),
  jobs: z.number().int().min(1).max(256).optional(),
  effort: z.enum(EFFORTS).optional(),
  menderHost: z.url().optional(),
  deviceGroup: z.string().min(1).optional(),
});

/** Options after validation and defaults. */
export interface ResolvedOptions extends AppOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  composeFile: string;
  delta: boolean;
  cache: boolean;
  cacheDir: string;
  menderHost: string;
  deviceStore: DeviceStore;
  compression: ArtifactCompression;
  serviceFiles: Record<string, string>;
  serviceImages: Record<string, string>;
}

/**
 * The cache directory: `OCIDELTA_CACHE_DIR`, else `MENDER_HELPER_CACHE_DIR` (the helper's, so a
 * team switching keeps its recorded releases), else `$XDG_CACHE_HOME/ocidelta`, else
 * `~/.cache/ocidelta`.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.OCIDELTA_CACHE_DIR) return env.OCIDELTA_CACHE_DIR;
  if (env.MENDER_HELPER_CACHE_DIR) return env.MENDER_HELPER_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'ocidelta');
  return join(env.HOME || homedir(), '.cache', 'ocidelta');
}

/** Validate `options`, apply defaults and resolve paths. Throws ERR_INVALID_OPTIONS naming the field. */
export function resolveOptions(options: AppOptions): ResolvedOptions {
  validate(Options, options, { code: 'ERR_INVALID_OPTIONS', what: 'invalid option' });
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(cwd, p));
  const serviceFiles: Record<string, string> = {};
  for (const [name, file] of Object.entries(options.serviceFiles ?? {})) serviceFiles[name] = abs(file);
  return {
    ...options,
    cwd,
    env,
    composeFile: abs(options.composeFile),
    previousManifest: options.previousManifest ? abs(options.previousManifest) : undefined,
    artifactFilename: options.artifactFilename ? abs(options.artifactFilename) : undefined,
    signKey: options.signKey ? abs(options.signKey) : undefined,
    delta: options.delta ?? true,
    cache: options.cache ?? true,
    cacheDir: abs(options.cacheDir ?? defaultCacheDir(env)),
    menderHost: (options.menderHost ?? DEFAULT_MENDER_HOST).replace(/\/+$/, ''),
    menderPat: options.menderPat ?? (env.MENDER_PAT || undefined),
    deviceStore: options.deviceStore ?? 'classic',
    compression: options.compression ?? 'gzip',
    serviceFiles,
    serviceImages: { ...(options.serviceImages ?? {}) },
  };
}
