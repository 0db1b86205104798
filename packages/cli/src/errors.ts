/**
 * Every error code the CLI can report: core's, plus those @ocidelta/registry and @ocidelta/delta
 * declare (their type-only imports below bring their declarations in), plus the CLI's own.
 */
import type {} from '@ocidelta/core/errors';
import type {} from '@ocidelta/delta';
import type {} from '@ocidelta/registry';

declare module '@ocidelta/core/errors' {
  /** The app pipeline's hint codes (the CLI renders each as its options: kit/hints.ts). */
  interface HintCodes {
    /** An image archive for a service, instead of its compose image. */
    'service-file': true;
    /** Another image reference for a service. */
    'service-image': true;
    /** Which release the new one is a delta from. */
    'previous-version': true;
    /** Where the cache lives, or no cache. */
    'cache-dir': true;
    /** Skip an artifact the Mender server has already. */
    'skip-existing': true;
    /** A device group to deploy to. */
    'device-group': true;
    /** The current image archives an installation is checked against. */
    'current-archive': true;
    /** Ship deep deltas or fail. */
    'require-delta': true;
    /** The shared store repository. */
    store: true;
  }
  interface ErrorCodes {
    /** The Mender management API refused a request or answered unexpectedly. */
    ERR_MENDER_SERVER: true;
    /** An image failed a published check (`verify`). */
    ERR_VERIFY: true;
  }
}
