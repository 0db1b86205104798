/** Small helpers shared by the release-engineering tools. */
import { isOciDeltaError, Reference } from '@ocidelta/core';
import { RegistryError } from '../errors.js';

/** The same repository pinned to `digest` only (no tag, so nothing is pushed under a tag). */
export function byDigest(ref: Reference, digest: string): Reference {
  return Reference.fromParts({ registry: ref.registry, repository: ref.repository, digest });
}

/** True for "does not exist" answers: manifest or repository unknown (404), or a 401 without access. */
export function isMissing(err: unknown, allowAuth: boolean): boolean {
  if (isOciDeltaError(err, 'ERR_MANIFEST_UNKNOWN') || isOciDeltaError(err, 'ERR_NAME_UNKNOWN')) return true;
  if (err instanceof RegistryError && err.status === 404) return true;
  return allowAuth && err instanceof RegistryError && err.status === 401;
}
