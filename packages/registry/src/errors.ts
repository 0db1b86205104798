/**
 * Typed registry errors: maps an HTTP status and a Distribution API error body
 * (`{"errors":[{"code","message","detail"}]}`) to an `OciDeltaError` code, carrying the
 * reference, URL, status and the registry's own error code. Pure functions, no I/O.
 */
import { type ErrorCode, type HintCode, OciDeltaError } from '@ocidelta/core';
import { z } from 'zod';

declare module '@ocidelta/core/errors' {
  interface HintCodes {
    /** Credentials for a registry: given, from an auth file, or a login. */
    credentials: true;
    /** A registry serving plain HTTP must be marked insecure. */
    'insecure-registry': true;
    /** Which layer of an image to work on (by index). */
    'layer-index': true;
  }
  interface ErrorCodes {
    /** The registry refused the credentials, or a token could not be obtained. */
    ERR_AUTH: true;
    /** The registry answered 429 after every retry. */
    ERR_TOO_MANY_REQUESTS: true;
    /** Any other error the registry reported. */
    ERR_REGISTRY: true;
    /** The connection failed (DNS, TLS, reset, timeout). */
    ERR_NETWORK: true;
    /** The repository does not exist. */
    ERR_NAME_UNKNOWN: true;
  }
}

/** One entry of a Distribution API error body. */
export const RegistryErrorEntrySchema = z
  .object({
    code: z.string().optional(),
    message: z.string().optional(),
    detail: z.unknown().optional(),
  })
  .loose();
export type RegistryErrorEntry = z.infer<typeof RegistryErrorEntrySchema>;

const ErrorBodySchema = z.object({ errors: z.array(RegistryErrorEntrySchema) }).loose();

/** What the request was about; decides the code of a bare 404. */
export type RegistryResource = 'manifest' | 'blob' | 'upload' | 'tags' | 'catalog' | 'ping' | 'token';

/** Context of a failed request, copied into the error's `details`. */
export interface RegistryErrorContext {
  /** Image reference or repository the request was for (`localhost:5000/app:1`). */
  ref?: string;
  /** Request URL (never contains credentials). */
  url?: string;
  /** HTTP method. */
  method?: string;
  resource?: RegistryResource;
  /** Digest concerned, if any. */
  digest?: string;
  /** What the user can change (rendered by the front end). */
  hint?: HintCode;
}

/** An error reported by (or about) a registry. */
export class RegistryError extends OciDeltaError {
  /** HTTP status, when there was a response. */
  readonly status: number | undefined;
  /** First registry error code of the body (`MANIFEST_UNKNOWN`, `DENIED`...), when present. */
  readonly registryCode: string | undefined;
  readonly ref: string | undefined;
  readonly url: string | undefined;
  /** All error entries the registry returned. */
  readonly registryErrors: readonly RegistryErrorEntry[];

  constructor(
    code: ErrorCode,
    message: string,
    context: RegistryErrorContext & { status?: number; registryErrors?: RegistryErrorEntry[] } = {},
    options?: { cause?: unknown },
  ) {
    const { registryErrors = [], ...rest } = context;
    const registryCode = registryErrors.find((e) => e.code)?.code;
    super(code, message, { ...rest, registryCode, registryErrors }, options);
    this.status = context.status;
    this.registryCode = registryCode;
    this.ref = context.ref;
    this.url = context.url;
    this.registryErrors = registryErrors;
  }
}

/** Parse an error body; returns [] when the body is not a Distribution error document. */
export function parseErrorBody(body: string | Uint8Array | undefined): RegistryErrorEntry[] {
  if (body === undefined || body.length === 0) return [];
  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [];
  }
  const r = ErrorBodySchema.safeParse(json);
  return r.success ? r.data.errors : [];
}

const CODE_MAP: Record<string, ErrorCode> = {
  UNAUTHORIZED: 'ERR_AUTH',
  DENIED: 'ERR_AUTH',
  MANIFEST_UNKNOWN: 'ERR_MANIFEST_UNKNOWN',
  BLOB_UNKNOWN: 'ERR_BLOB_UNKNOWN',
  BLOB_UPLOAD_UNKNOWN: 'ERR_BLOB_UNKNOWN',
  MANIFEST_BLOB_UNKNOWN: 'ERR_BLOB_UNKNOWN',
  NAME_UNKNOWN: 'ERR_NAME_UNKNOWN',
  TOOMANYREQUESTS: 'ERR_TOO_MANY_REQUESTS',
  DIGEST_INVALID: 'ERR_DIGEST_MISMATCH',
  SIZE_INVALID: 'ERR_SIZE_MISMATCH',
  MANIFEST_INVALID: 'ERR_INVALID_MANIFEST',
};

/** The ocidelta error code for a status and the registry's error entries. */
export function errorCodeFor(
  status: number,
  entries: readonly RegistryErrorEntry[],
  resource?: RegistryResource,
): ErrorCode {
  if (status === 401 || status === 403) return 'ERR_AUTH';
  if (status === 429) return 'ERR_TOO_MANY_REQUESTS';
  if (status === 415) return 'ERR_UNSUPPORTED_MEDIA_TYPE';
  for (const e of entries) {
    const mapped = e.code === undefined ? undefined : CODE_MAP[e.code];
    if (mapped !== undefined) return mapped;
  }
  if (status === 404) {
    if (resource === 'manifest') return 'ERR_MANIFEST_UNKNOWN';
    if (resource === 'blob' || resource === 'upload') return 'ERR_BLOB_UNKNOWN';
    if (resource === 'tags') return 'ERR_NAME_UNKNOWN';
  }
  return 'ERR_REGISTRY';
}

const SUMMARY: Partial<Record<ErrorCode, string>> = {
  ERR_AUTH: 'authentication or authorization failed',
  ERR_MANIFEST_UNKNOWN: 'manifest unknown',
  ERR_BLOB_UNKNOWN: 'blob unknown',
  ERR_NAME_UNKNOWN: 'repository unknown',
  ERR_TOO_MANY_REQUESTS: 'too many requests',
  ERR_DIGEST_MISMATCH: 'digest rejected by the registry',
  ERR_SIZE_MISMATCH: 'size rejected by the registry',
  ERR_INVALID_MANIFEST: 'manifest rejected by the registry',
  ERR_UNSUPPORTED_MEDIA_TYPE: 'unsupported media type',
};

/** Build the typed error for an unexpected response. */
export function responseError(
  status: number,
  body: string | Uint8Array | undefined,
  context: RegistryErrorContext,
  hint?: string,
): RegistryError {
  const entries = parseErrorBody(body);
  const code = errorCodeFor(status, entries, context.resource);
  const what = context.ref ?? context.url ?? 'registry';
  const registrySays = entries
    .map((e) => [e.code, e.message].filter(Boolean).join(': '))
    .filter(Boolean)
    .join('; ');
  let summary = SUMMARY[code] ?? 'unexpected response';
  if (code === 'ERR_REGISTRY' && status === 405) {
    summary = 'operation not supported by the registry';
    if (context.method === 'DELETE') hint ??= 'deletion may be disabled on this registry';
  }
  let message = `${what}: ${summary} (${context.method ?? 'request'} ${context.url ?? ''} -> HTTP ${status}`;
  message += registrySays ? `; registry says ${registrySays})` : ')';
  if (hint) message += `; ${hint}`;
  return new RegistryError(code, message, { ...context, status, registryErrors: entries });
}

/** Error for a connection-level failure (after retries). */
export function networkError(err: unknown, context: RegistryErrorContext): RegistryError {
  const cause = err as { code?: string; message?: string };
  const detail = [cause?.code, cause?.message].filter(Boolean).join(' ');
  return new RegistryError(
    'ERR_NETWORK',
    `${context.ref ?? context.url ?? 'registry'}: network error (${context.method ?? 'request'} ${context.url ?? ''}: ${detail || String(err)})`,
    context,
    { cause: err },
  );
}

/** Error for an aborted operation. */
export function abortError(context: RegistryErrorContext, reason?: unknown): RegistryError {
  return new RegistryError(
    'ERR_ABORTED',
    `${context.ref ?? context.url ?? 'registry request'}: aborted`,
    context,
    { cause: reason },
  );
}
