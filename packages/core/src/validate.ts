/**
 * The one adapter from zod to ocidelta's errors: every schema check at a trust boundary (files,
 * registry answers, caller options) fails the same way, with the error code the caller picks, a
 * message naming every failing field (`<what>: <field>: <problem>; ...`) and the fields in
 * `details` (`field`: the first one, `issues`: all of them).
 */
import type { z } from 'zod';
import { type ErrorCode, OciDeltaError } from './errors.js';

export interface ValidateOptions {
  code: ErrorCode;
  /** What was checked, as the message's head (`invalid manifest`, `invalid option`). */
  what: string;
  /** More context for `details` (path, ref...). */
  details?: Record<string, unknown>;
}

/** `value` as `schema` describes it, or an OciDeltaError naming the failing fields. */
export function validate<T>(schema: z.ZodType<T>, value: unknown, options: ValidateOptions): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: fieldOf(i.path), message: i.message }));
  throw new OciDeltaError(
    options.code,
    `${options.what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { ...options.details, field: issues[0]?.path, issues },
  );
}

/** A zod issue's path as a dotted field name (`layers.0.digest`), `(root)` for the value itself. */
export function fieldOf(path: readonly PropertyKey[]): string {
  return path.map(String).join('.') || '(root)';
}
