/**
 * Typed errors shared by every ocidelta package. Callers switch on `code`, never on messages.
 * Each subclass carries the context a user needs (digest, path, ref, URL...).
 */

export type ErrorCode =
  | 'ERR_INVALID_DIGEST'
  | 'ERR_DIGEST_MISMATCH'
  | 'ERR_SIZE_MISMATCH'
  | 'ERR_INVALID_REFERENCE'
  | 'ERR_INVALID_PLATFORM'
  | 'ERR_PLATFORM_NOT_FOUND'
  | 'ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_INVALID_MANIFEST'
  | 'ERR_INVALID_LAYOUT'
  | 'ERR_BLOB_UNKNOWN'
  | 'ERR_MANIFEST_UNKNOWN'
  | 'ERR_NAME_UNKNOWN'
  | 'ERR_UNSAFE_PATH'
  | 'ERR_TRUNCATED'
  | 'ERR_INVALID_ARCHIVE'
  | 'ERR_INVALID_ARTIFACT'
  | 'ERR_ARTIFACT_CHECKSUM'
  | 'ERR_ARTIFACT_SIGNATURE'
  | 'ERR_ARTIFACT_TOO_LARGE'
  | 'ERR_INVALID_OPTIONS'
  | 'ERR_AUTH'
  | 'ERR_TOO_MANY_REQUESTS'
  | 'ERR_REGISTRY'
  | 'ERR_NETWORK'
  | 'ERR_VCDIFF'
  | 'ERR_SOURCE_TOO_LARGE'
  | 'ERR_NO_DEEP_DELTA'
  | 'ERR_DELTA_SELF_CHECK'
  | 'ERR_DEVICE_DECODE'
  | 'ERR_INPUT'
  | 'ERR_VERIFY'
  | 'ERR_MENDER_SERVER'
  | 'ERR_ABORTED';

/** Base class of every error ocidelta throws on purpose. */
export class OciDeltaError extends Error {
  readonly code: ErrorCode;
  /** Structured context (digest, path, ref, url, status...) for logs and `--json` output. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** Content did not hash to the expected digest. */
export class DigestMismatchError extends OciDeltaError {
  readonly expected: string;
  readonly actual: string;
  constructor(expected: string, actual: string, context: Record<string, unknown> = {}) {
    const where = typeof context.path === 'string' ? ` (${context.path})` : '';
    super('ERR_DIGEST_MISMATCH', `digest mismatch${where}: expected ${expected}, got ${actual}`, {
      ...context,
      expected,
      actual,
    });
    this.expected = expected;
    this.actual = actual;
  }
}

/** Content had a different length than declared. */
export class SizeMismatchError extends OciDeltaError {
  readonly expected: number;
  readonly actual: number;
  constructor(expected: number, actual: number, context: Record<string, unknown> = {}) {
    const where = typeof context.path === 'string' ? ` (${context.path})` : '';
    super('ERR_SIZE_MISMATCH', `size mismatch${where}: expected ${expected} bytes, got ${actual}`, {
      ...context,
      expected,
      actual,
    });
    this.expected = expected;
    this.actual = actual;
  }
}

/** True when `err` is an ocidelta error with the given code. */
export function isOciDeltaError(err: unknown, code?: ErrorCode): err is OciDeltaError {
  return err instanceof OciDeltaError && (code === undefined || err.code === code);
}
