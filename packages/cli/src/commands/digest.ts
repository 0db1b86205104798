/**
 * `ocidelta digest REF [--platform P]`: the digest a tag points at (a HEAD request, nothing
 * downloaded), or with --platform the digest of that platform's image in an index.
 */
import {
  isIndexMediaType,
  OciDeltaError,
  parsePlatform,
  parseRegistryReference,
  selectManifest,
} from '@ocidelta/core';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  type RegistryCliOptions,
  stringOption,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';

interface DigestCliOptions extends RegistryCliOptions {
  platform?: string;
}

export const digestCommand: CommandDef = {
  path: ['digest'],
  summary: 'Print the manifest digest a reference points at',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<ref>', 'Resolve REF to a digest')
        .option('-p, --platform <os/arch[/variant]>', "From an index, the digest of this platform's image"),
      { json: true },
    ).action(async (input: string, opts: DigestCliOptions) => {
      const ref = parseRegistryReference(input);
      const platformArg = stringOption(opts.platform, '--platform');
      return withClient(opts, io, [input], async (client) => {
        let found = await client.headManifest(ref);
        if (!found) {
          throw new OciDeltaError('ERR_MANIFEST_UNKNOWN', `${ref}: manifest unknown`, {
            ref: ref.toString(),
          });
        }
        if (platformArg !== undefined && isIndexMediaType(found.mediaType)) {
          const m = await client.getManifest(ref.withDigest(found.digest));
          const index = JSON.parse(m.bytes.toString('utf8')) as Parameters<typeof selectManifest>[0];
          const d = selectManifest(index, parsePlatform(platformArg));
          found = { digest: d.digest as typeof found.digest, mediaType: d.mediaType, size: d.size };
        }
        if (opts.json)
          writeJson(io, {
            Name: ref.toString(),
            Digest: found.digest,
            MediaType: found.mediaType,
            Size: found.size,
          });
        else io.stdout.write(`${found.digest}\n`);
        return ExitCode.Ok;
      });
    });
  },
};
