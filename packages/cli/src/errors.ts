/**
 * Every error code the CLI can report: core's, plus those @ocidelta/registry and @ocidelta/delta
 * declare (their type-only imports below bring their declarations in), plus the CLI's own.
 */
import type {} from '@ocidelta/core/errors';
import type {} from '@ocidelta/delta';
import type {} from '@ocidelta/registry';

declare module '@ocidelta/core/errors' {
  interface ErrorCodes {
    /** The Mender management API refused a request or answered unexpectedly. */
    ERR_MENDER_SERVER: true;
    /** An image failed a published check (`verify`). */
    ERR_VERIFY: true;
  }
}
