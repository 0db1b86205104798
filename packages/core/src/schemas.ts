/**
 * zod schemas for OCI / Docker manifests, indexes, configs and descriptors. Data from disk or
 * the network is parsed here (the trust boundary) and trusted afterwards.
 */
import { z } from 'zod';
import { OciDeltaError } from './errors.js';
import { isSchema1MediaType, MediaType } from './media-types.js';
import { validate } from './validate.js';

const digestString = z.string().regex(/^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/, 'invalid digest');
const annotations = z.record(z.string(), z.string());

export const PlatformSchema = z.object({
  architecture: z.string().min(1),
  os: z.string().min(1),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});
export type PlatformSpec = z.infer<typeof PlatformSchema>;

export const DescriptorSchema = z.object({
  mediaType: z.string().min(1),
  digest: digestString,
  size: z.number().int().nonnegative(),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  data: z.string().optional(),
  platform: PlatformSchema.optional(),
  artifactType: z.string().optional(),
});
export type Descriptor = z.infer<typeof DescriptorSchema>;

export const ImageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MediaType.OciManifest, MediaType.DockerManifest]).optional(),
  artifactType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type ImageManifest = z.infer<typeof ImageManifestSchema>;

export const IndexManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.enum([MediaType.OciIndex, MediaType.DockerManifestList]).optional(),
  artifactType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: annotations.optional(),
});
export type IndexManifest = z.infer<typeof IndexManifestSchema>;

const nullableStrings = z.array(z.string()).nullable().optional();
const emptyObjectMap = z.record(z.string(), z.object({}).loose()).nullable().optional();

export const ContainerConfigSchema = z
  .object({
    User: z.string().optional(),
    ExposedPorts: emptyObjectMap,
    Env: nullableStrings,
    Entrypoint: nullableStrings,
    Cmd: nullableStrings,
    Volumes: emptyObjectMap,
    WorkingDir: z.string().optional(),
    Labels: z.record(z.string(), z.string()).nullable().optional(),
    StopSignal: z.string().optional(),
    ArgsEscaped: z.boolean().optional(),
    Healthcheck: z
      .object({
        Test: z.array(z.string()).optional(),
        Interval: z.number().optional(),
        Timeout: z.number().optional(),
        StartPeriod: z.number().optional(),
        StartInterval: z.number().optional(),
        Retries: z.number().optional(),
      })
      .optional(),
    OnBuild: nullableStrings,
    Shell: nullableStrings,
  })
  .loose();
export type ContainerConfig = z.infer<typeof ContainerConfigSchema>;

export const HistorySchema = z.object({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type History = z.infer<typeof HistorySchema>;

export const ImageConfigSchema = z
  .object({
    created: z.string().optional(),
    author: z.string().optional(),
    architecture: z.string(),
    os: z.string(),
    'os.version': z.string().optional(),
    'os.features': z.array(z.string()).optional(),
    variant: z.string().optional(),
    config: ContainerConfigSchema.optional(),
    rootfs: z.object({
      type: z.literal('layers'),
      // Go writers marshal an empty slice as null (or omit it) for images without layers.
      diff_ids: z
        .array(digestString)
        .nullish()
        .transform((v) => v ?? []),
    }),
    history: z.array(HistorySchema).optional(),
  })
  .loose();
export type ImageConfig = z.infer<typeof ImageConfigSchema>;

/** A parsed manifest of either kind, tagged. */
export type AnyManifest =
  | { kind: 'image'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; manifest: IndexManifest };

function parseJson(bytes: Uint8Array | string, what: string, context: Record<string, unknown>): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new OciDeltaError(
      'ERR_INVALID_MANIFEST',
      `${what} is not valid JSON: ${(err as Error).message}`,
      context,
      {
        cause: err,
      },
    );
  }
}

/** Parse with a schema, throwing ERR_INVALID_MANIFEST naming `what` and the failing fields. */
export function parseWith<T>(
  schema: z.ZodType<T>,
  value: unknown,
  what: string,
  context: Record<string, unknown> = {},
): T {
  return validate(schema, value, { code: 'ERR_INVALID_MANIFEST', what: `invalid ${what}`, details: context });
}

/**
 * Parse manifest bytes of any supported kind. `mediaType` (from a Content-Type header or a
 * descriptor) wins over the `mediaType` field. Docker schema1 is rejected with
 * ERR_UNSUPPORTED_MEDIA_TYPE naming the media type.
 */
export function parseManifest(
  bytes: Uint8Array | string,
  mediaType?: string,
  context: Record<string, unknown> = {},
): AnyManifest {
  const json = parseJson(bytes, 'manifest', context);
  const obj = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  const declared = typeof obj.mediaType === 'string' ? obj.mediaType : undefined;
  // A Content-Type header may carry parameters (`; charset=utf-8`).
  const given = mediaType?.split(';')[0]?.trim();
  let mt = given && given !== 'application/json' ? given : declared;
  if (isSchema1MediaType(mt) || obj.schemaVersion === 1) {
    throw new OciDeltaError(
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      `Docker schema1 manifests are not supported (media type ${mt ?? MediaType.DockerSchema1}); re-push the image with a current Docker or skopeo`,
      { ...context, mediaType: mt ?? MediaType.DockerSchema1 },
    );
  }
  if (mt === undefined) mt = Array.isArray(obj.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  if (mt === MediaType.OciIndex || mt === MediaType.DockerManifestList) {
    return { kind: 'index', mediaType: mt, manifest: parseWith(IndexManifestSchema, json, 'index', context) };
  }
  if (mt === MediaType.OciManifest || mt === MediaType.DockerManifest) {
    return {
      kind: 'image',
      mediaType: mt,
      manifest: parseWith(ImageManifestSchema, json, 'manifest', context),
    };
  }
  throw new OciDeltaError('ERR_UNSUPPORTED_MEDIA_TYPE', `unsupported manifest media type ${mt}`, {
    ...context,
    mediaType: mt,
  });
}

/** Parse image config bytes. */
export function parseImageConfig(
  bytes: Uint8Array | string,
  context: Record<string, unknown> = {},
): ImageConfig {
  return parseWith(ImageConfigSchema, parseJson(bytes, 'image config', context), 'image config', context);
}
