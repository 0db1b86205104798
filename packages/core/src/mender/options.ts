/**
 * Options of the Mender artifact writer: the public option types, their zod schema (the trust
 * boundary: options may come from a CLI, a config file or a service), and normalisation into
 * the resolved form the header builders and the writer use.
 */

import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { OciDeltaError } from '../errors.js';
import type { Progress } from '../progress.js';
import { validate } from '../validate.js';

/** Compression of `header.tar` and `data/0000.tar` (the same for both, as mender-artifact does). */
export const ARTIFACT_COMPRESSIONS = ['none', 'gzip', 'xz', 'zstd'] as const;
export type ArtifactCompression = (typeof ARTIFACT_COMPRESSIONS)[number];

/** A payload file: a path on disk, or a named stream factory (called once per pass). */
export interface ArtifactPayloadFile {
  /** Name inside the artifact (`data/0000/<name>`); defaults to the basename of `path`. */
  name?: string;
  /** Read the content from this file. */
  path?: string;
  /** Open the content; called once, or twice (a counting pass first) when `size` is not given. */
  open?: () => Promise<Readable> | Readable;
  /** Size in bytes (checked while writing); without it a stream is read once more to count it. */
  size?: number;
  /** Expected sha256 (hex) of the content, checked while writing. */
  sha256?: string;
}

/**
 * Progress of {@link writeArtifact}: `hash` counts streams without `size`, `write` writes the
 * data; `item` is the payload file, `done` its bytes so far, `overall` all payload bytes.
 */
export type ArtifactProgress = Progress<'hash' | 'write'>;

/** Options of {@link writeArtifact}, named after `mender-artifact write module-image` flags. */
export interface WriteArtifactOptions {
  /** Payload type, i.e. the update module name (`-T`), e.g. `app`. */
  type: string;
  /** Artifact name (`-n`), provided as `artifact_name`. */
  artifactName: string;
  /** Compatible device types (`-t`, one or more). */
  deviceTypes: string[];
  /** Group the artifact provides (`-g`). */
  artifactGroup?: string;
  /** Artifact names this artifact depends on (`-N`). */
  dependsArtifactName?: string[];
  /** Groups this artifact depends on (`-G`). */
  dependsGroups?: string[];
  /** Type-info provides (`-p KEY:VALUE`). */
  provides?: Record<string, string>;
  /** Type-info depends (`-d KEY:VALUE`); a value may also be a list of strings. */
  depends?: Record<string, string | string[]>;
  /** Software name for `rootfs-image.<name>.version` (default: the payload type). */
  softwareName?: string;
  /** Software version (default: the artifact name). */
  softwareVersion?: string;
  /** Replaces `rootfs-image` in the software version key and the default clears. */
  softwareFilesystem?: string;
  /** Do not add the default software version provide (nor the default clears). */
  noDefaultSoftwareVersion?: boolean;
  /**
   * When `provides` already has the software version key: true lets the software version win,
   * false keeps the `provides` value. Default: true when softwareName, softwareVersion or
   * softwareFilesystem is given (mender-artifact decides by flag order, the CLI does too).
   */
  softwareVersionOverridesProvides?: boolean;
  /** Do not add the default `clears_artifact_provides` entry. */
  noDefaultClearsProvides?: boolean;
  /** Extra `clears_artifact_provides` entries (`--clears-provides`). */
  clearsProvides?: string[];
  /** The payload meta-data (`-m`): a JSON object; omitted from the artifact when empty. */
  metaData?: Record<string, unknown>;
  /** Payload files (`-f`), in order. */
  files: Array<string | ArtifactPayloadFile>;
  /**
   * Default `gzip`. `xz` (what mender-artifact calls `lzma`) needs the optional native module
   * lzma-native: where it does not load, gzip is written and `onWarning` says so. `zstd` needs a
   * Node runtime whose zlib has zstd (Node >= 22.15).
   */
  compression?: ArtifactCompression;
  /**
   * gzip level (0-9; 0 stores), default 6 = Go's `gzip.DefaultCompression`, what mender-artifact uses; for
   * xz the preset (0-9), default 6 (xz's own default).
   */
  compressionLevel?: number;
  /** xz encoder threads (default: the machine's available parallelism). */
  compressionThreads?: number;
  /** PEM private key (RSA or ECDSA P-256; PKCS#1, SEC1 or PKCS#8) to sign the manifest with. */
  signingKey?: string;
  /** Fail (and leave no output) when the artifact would exceed this many bytes. */
  maxArtifactSize?: number;
  /** Call `onWarning` when the artifact exceeds this many bytes. */
  warnArtifactSize?: number;
  /** Modification time of the tar entries (default: the Unix epoch, for reproducible output). */
  mtime?: Date | number;
  onWarning?: (message: string) => void;
  onProgress?: (event: ArtifactProgress) => void;
  signal?: AbortSignal;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_STRING = 256;

/** A printable, non-empty string of at most 256 characters (what mender-artifact accepts). */
const printable = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .min(1, `${what} must not be empty`)
    .max(MAX_STRING, `${what} is longer than ${MAX_STRING} characters`)
    .refine((s) => !CONTROL.test(s), `${what} contains control characters`);

/** Basename of a payload file: what the Go reader and the device accept. */
export const PAYLOAD_NAME = /^[\w\-.,]+$/;

const payloadFileSchema = z.union([
  z.string().min(1, 'file path must not be empty'),
  z.object({
    name: z.string().optional(),
    path: z.string().min(1).optional(),
    open: z.custom<() => Promise<Readable> | Readable>((v) => typeof v === 'function').optional(),
    size: z.number().int().nonnegative().optional(),
    sha256: z
      .string()
      .regex(/^[a-f0-9]{64}$/, 'sha256 must be 64 lowercase hex characters')
      .optional(),
  }),
]);

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function').optional();

/** The zod schema of {@link WriteArtifactOptions}. */
export const WriteArtifactOptionsSchema = z.object({
  type: printable('type'),
  artifactName: printable('artifactName').refine(
    (s) => !/\s/.test(s),
    'artifactName must not contain whitespace',
  ),
  deviceTypes: z.array(printable('deviceTypes[]')).min(1, 'at least one device type is required'),
  artifactGroup: printable('artifactGroup').optional(),
  dependsArtifactName: z.array(printable('dependsArtifactName[]')).optional(),
  dependsGroups: z.array(printable('dependsGroups[]')).optional(),
  provides: z.record(printable('provides key'), printable('provides value')).optional(),
  depends: z
    .record(
      printable('depends key'),
      z.union([printable('depends value'), z.array(printable('depends value'))]),
    )
    .optional(),
  softwareName: printable('softwareName').optional(),
  softwareVersion: printable('softwareVersion').optional(),
  softwareFilesystem: printable('softwareFilesystem').optional(),
  noDefaultSoftwareVersion: z.boolean().optional(),
  softwareVersionOverridesProvides: z.boolean().optional(),
  noDefaultClearsProvides: z.boolean().optional(),
  clearsProvides: z.array(printable('clearsProvides[]')).optional(),
  metaData: z
    .record(z.string(), z.unknown())
    .refine((v) => !Array.isArray(v), 'metaData must be a JSON object')
    .optional(),
  files: z.array(payloadFileSchema),
  compression: z
    .enum(ARTIFACT_COMPRESSIONS, { error: `compression must be one of ${ARTIFACT_COMPRESSIONS.join(', ')}` })
    .optional(),
  compressionLevel: z.number().int().min(0).max(9).optional(),
  compressionThreads: z.number().int().min(1).max(256).optional(),
  signingKey: z.string().min(1).optional(),
  maxArtifactSize: z.number().int().positive().optional(),
  warnArtifactSize: z.number().int().positive().optional(),
  mtime: z.union([z.date(), z.number().nonnegative()]).optional(),
  onWarning: fn,
  onProgress: fn,
  signal: z.custom<AbortSignal>((v) => v instanceof AbortSignal).optional(),
});

/** A payload file after validation: a name and a way to open it. */
export interface ResolvedPayloadFile {
  name: string;
  path?: string;
  open?: () => Promise<Readable> | Readable;
  size?: number;
  sha256?: string;
}

/** Validate options with zod; throws ERR_INVALID_OPTIONS naming the field. */
export function parseWriteArtifactOptions(options: WriteArtifactOptions): WriteArtifactOptions {
  validate(WriteArtifactOptionsSchema, options, {
    code: 'ERR_INVALID_OPTIONS',
    what: 'invalid artifact option',
  });
  return options;
}

/** Turn `files` into named payload files and check their names (unique, `^[\w\-.,]+$`, <= 100). */
export function resolvePayloadFiles(files: WriteArtifactOptions['files']): ResolvedPayloadFile[] {
  const seen = new Set<string>();
  return files.map((f, i) => {
    const file: ArtifactPayloadFile = typeof f === 'string' ? { path: f } : f;
    if (!file.path && !file.open) {
      throw new OciDeltaError(
        'ERR_INVALID_OPTIONS',
        `invalid artifact option files.${i}: needs a path or open()`,
        {
          field: `files.${i}`,
        },
      );
    }
    const name = file.name ?? basename(file.path ?? '');
    if (!PAYLOAD_NAME.test(name) || name.length > 100) {
      throw new OciDeltaError(
        'ERR_INVALID_OPTIONS',
        `invalid payload file name "${name}": must match ^[\\w\\-.,]+$ and be at most 100 characters`,
        { field: `files.${i}`, name },
      );
    }
    if (seen.has(name)) {
      throw new OciDeltaError('ERR_INVALID_OPTIONS', `duplicate payload file name "${name}"`, {
        field: `files.${i}`,
        name,
      });
    }
    seen.add(name);
    const out: ResolvedPayloadFile = { name };
    if (file.path !== undefined) out.path = file.path;
    if (file.open !== undefined) out.open = file.open;
    if (file.size !== undefined) out.size = file.size;
    if (file.sha256 !== undefined) out.sha256 = file.sha256;
    return out;
  });
}

/**
 * Split `KEY:VALUE` arguments on the first colon (mender-artifact's `-p`/`-d` semantics);
 * later keys win. Throws ERR_INVALID_OPTIONS naming the flag when a colon is missing.
 */
export function parseKeyValues(args: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const colon = arg.indexOf(':');
    if (colon < 0) {
      throw new OciDeltaError(
        'ERR_INVALID_OPTIONS',
        `${flag} argument must have a delimiting colon: ${arg}`,
        {
          field: flag,
          value: arg,
        },
      );
    }
    out[arg.slice(0, colon)] = arg.slice(colon + 1);
  }
  return out;
}
