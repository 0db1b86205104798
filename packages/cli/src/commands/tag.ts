/**
 * `ocidelta tag REF NEWTAG...`: give an image more tags in its repository (crane tag, regctl
 * tag): the manifest is fetched (digest-verified) and put under each new tag; no blob moves.
 */
import { OciDeltaError, parseRegistryReference } from '@ocidelta/core';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  type RegistryCliOptions,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';

const TAG_RE = /^[\w][\w.-]{0,127}$/;

export const tagCommand: CommandDef = {
  path: ['tag'],
  summary: 'Add tags to an image in its repository (the manifest only; no blob is copied)',
  define(cli, io) {
    withRegistryOptions(cli.command('<ref> [...tags]', 'Tag the image REF also as each TAG'), {
      json: true,
    }).action(async (input: string, tags: string[], opts: RegistryCliOptions) => {
      if (tags.length === 0) throw new OciDeltaError('ERR_INVALID_OPTIONS', 'give at least one new tag', {});
      const bad = tags.find((t) => !TAG_RE.test(t));
      if (bad !== undefined) {
        throw new OciDeltaError(
          'ERR_INVALID_OPTIONS',
          `"${bad}" is not a tag (letters, digits, _ . -; a tag, not a reference)`,
          {
            tag: bad,
          },
        );
      }
      const ref = parseRegistryReference(input);
      return withClient(opts, io, [input], async (client) => {
        const m = await client.getManifest(ref, io.signal ? { signal: io.signal } : {});
        const tagged: string[] = [];
        for (const tag of tags) {
          const target = ref.withTag(tag);
          await client.putManifest(target, m.bytes, m.mediaType, io.signal ? { signal: io.signal } : {});
          tagged.push(target.toString());
        }
        if (opts.json) writeJson(io, { digest: m.digest, tagged });
        else for (const t of tagged) io.stdout.write(`${t}\n`);
        return ExitCode.Ok;
      });
    });
  },
};
