/** `ocidelta tags REPO`: list a repository's tags (one per line, or JSON with --json). */
import { OciDeltaError, parseRegistryReference } from '@ocidelta/core';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  type RegistryCliOptions,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';

export const tagsCommand: CommandDef = {
  path: ['tags'],
  summary: 'List the tags of a repository',
  define(cli, io) {
    withRegistryOptions(cli.command('<repo>', 'List the tags of REPO (registry/repository)'), {
      json: true,
    }).action(async (input: string, opts: RegistryCliOptions) => {
      const ref = parseRegistryReference(input, 'repository');
      const text = input.startsWith('docker://') ? input.slice('docker://'.length) : input;
      // As skopeo list-tags: a repository, not an image; a tag or digest would be silently dropped.
      const named = text.includes('@') || text.lastIndexOf(':') > text.lastIndexOf('/');
      if (named) {
        throw new OciDeltaError(
          'ERR_INVALID_OPTIONS',
          `tags lists a repository: "${input}" names an image (${ref.digest !== undefined ? 'a digest' : `tag ${ref.tag}`}); give ${ref.name}`,
          { ref: input },
        );
      }
      return withClient(opts, io, [input], async (client) => {
        const tags = await client.listTags(ref);
        if (opts.json) writeJson(io, { Repository: ref.name, Tags: tags });
        else for (const tag of tags) io.stdout.write(`${tag}\n`);
        return ExitCode.Ok;
      });
    });
  },
};
