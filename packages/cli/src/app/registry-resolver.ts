/**
 * The default `ImageResolver`: the @ocidelta/registry client. A tag resolves with a HEAD when
 * the registry returns an image manifest, else through the index for the wanted platform.
 */
import {
  type Digest,
  formatPlatform,
  isIndexMediaType,
  OciDeltaError,
  parseManifest,
  parsePlatform,
  platformMatches,
  Reference,
  selectManifest,
} from '@ocidelta/core';
import { registryClientFor } from '../kit/registry-client.js';
import type { ImageResolver } from './image-sources.js';
import type { RegistryAccess } from './options.js';

function parseRef(ref: string): Reference {
  return Reference.parse(ref);
}

export async function createRegistryResolver(
  access: RegistryAccess,
  refs: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<ImageResolver> {
  const client = registryClientFor(access, refs, env);
  return {
    async resolve(ref, platform, signal) {
      const r = parseRef(ref);
      const head = await client.headManifest(r, { signal });
      if (!head) {
        throw new OciDeltaError('ERR_MANIFEST_UNKNOWN', `image not found: ${ref} (no such tag or digest)`, {
          ref,
        });
      }
      if (!isIndexMediaType(head.mediaType)) return head.digest;
      const m = await client.getManifest(r.withDigest(head.digest), { signal });
      const parsed = parseManifest(m.bytes, m.mediaType, { ref });
      if (parsed.kind !== 'index') return m.digest;
      return selectManifest(parsed.manifest, parsePlatform(platform)).digest as Digest;
    },
    async image(ref, digest, platform, signal) {
      const image = await client.resolveImage(parseRef(ref).withDigest(digest), {
        platform: parsePlatform(platform),
        signal,
      });
      const have = {
        os: image.config.os,
        architecture: image.config.architecture,
        variant: image.config.variant,
      };
      if (!platformMatches(parsePlatform(platform), have)) {
        throw new OciDeltaError(
          'ERR_PLATFORM_NOT_FOUND',
          `${ref} is a ${formatPlatform(have)} image, not ${platform}`,
          { ref, platform },
        );
      }
      return image;
    },
    close: () => client.close(),
  };
}
