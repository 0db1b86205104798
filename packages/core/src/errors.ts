/**
 * Typed errors shared by every ocidelta package. Callers switch on `code`, never on messages.
 * Each subclass carries the context a user needs (digest, path, ref, URL...).
 */

/**
 * The error codes core throws, as keys. Each other package adds its own codes to this
 * interface by declaration merging (`declare module '@ocidelta/core/errors'`), so `ErrorCode` is the
 * union of the codes of the packages a program imports (the CLI: all of them).
 */
export interface ErrorCodes {
  ERR_INVALID_DIGEST: true;
  ERR_DIGEST_MISMATCH: true;
  ERR_SIZE_MISMATCH: true;
  ERR_INVALID_REFERENCE: true;
  ERR_INVALID_PLATFORM: true;
  ERR_PLATFORM_NOT_FOUND: true;
  ERR_UNSUPPORTED_MEDIA_TYPE: true;
  ERR_UNSUPPORTED_COMPRESSION: true;
  ERR_INVALID_MANIFEST: true;
  ERR_INVALID_LAYOUT: true;
  ERR_BLOB_UNKNOWN: true;
  ERR_MANIFEST_UNKNOWN: true;
  ERR_UNSAFE_PATH: true;
  ERR_TRUNCATED: true;
  ERR_INVALID_ARCHIVE: true;
  ERR_INVALID_ARTIFACT: true;
  ERR_ARTIFACT_CHECKSUM: true;
  ERR_ARTIFACT_SIGNATURE: true;
  ERR_ARTIFACT_TOO_LARGE: true;
  ERR_INVALID_OPTIONS: true;
  ERR_INPUT: true;
  ERR_ABORTED: true;
}

export type ErrorCode = keyof ErrorCodes;

/**
 * Hint codes: what a user can change to get past an error or a warning, carried as
 * `details.hint`. Library messages say what to change in words and name no command-line option;
 * a front end renders the code its own way (the CLI: as its options). Packages add their codes
 * by declaration merging, as with {@link ErrorCodes}.
 */
export interface HintCodes {
  /** Extended attributes need an optional native module: build without them. */
  'extended-attributes': true;
}

export type HintCode = keyof HintCodes;

/** The hint code an error carries (`details.hint`), if any. */
export function hintOf(err: unknown): string | undefined {
  if (!(err instanceof OciDeltaError)) return undefined;
  const hint = err.details.hint;
  return typeof hint === 'string' ? hint : undefined;
}

/** The brand every ocidelta error carries, shared by every installed copy of core. */
const BRAND: unique symbol = Symbol.for('ocidelta.error') as never;

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
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `err instanceof OciDeltaError` holds for an error of any installed copy of core (two
   * versions in one dependency tree still agree); a subclass checks its own prototype chain, or
   * the brand and its name for a copy from another core.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: the receiver is the class on the right of instanceof (a subclass too)
    return isInstance(this, value);
  }
}

function isInstance(target: { name: string; prototype: unknown }, value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Function.prototype[Symbol.hasInstance].call(target, value)) return true;
  const branded = (value as { [BRAND]?: unknown })[BRAND] === true;
  return branded && (target === OciDeltaError || (value as Error).name === target.name);
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
