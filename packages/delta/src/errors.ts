/** The error codes @ocidelta/delta adds to core's `ErrorCodes` (thrown as OciDeltaError). */
import type {} from '@ocidelta/core/errors';

declare module '@ocidelta/core/errors' {
  interface ErrorCodes {
    /** A VCDIFF stream is malformed or does not match its source. */
    ERR_VCDIFF: true;
    /** A source is larger than the encoder or the device can index. */
    ERR_SOURCE_TOO_LARGE: true;
    /** No deep delta can be built for a pair of images (the caller ships the full image). */
    ERR_NO_DEEP_DELTA: true;
    /** A delta failed its own decode check before it was written. */
    ERR_DELTA_SELF_CHECK: true;
    /** A delta would not decode on the device (its xdelta3 limits). */
    ERR_DEVICE_DECODE: true;
  }
}
