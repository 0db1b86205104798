/**
 * `ocidelta delete REF`: delete a manifest from its registry (skopeo delete). A tag is resolved
 * to its digest first, so every tag of that manifest goes; the registry must allow deletes
 * (distribution: storage.delete.enabled) and its garbage collection frees the blobs.
 */
import { parseRegistryReference } from '@ocidelta/core';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { type RegistryCliOptions, withClient, withRegistryOptions } from '../kit/registry-options.js';

export const deleteCommand: CommandDef = {
  path: ['delete'],
  summary: 'Delete an image manifest from a registry (by tag or digest)',
  define(cli, io) {
    withRegistryOptions(cli.command('<ref>', 'Delete the manifest REF names')).action(
      async (input: string, opts: RegistryCliOptions) => {
        const ref = parseRegistryReference(input);
        return withClient(opts, io, [input], async (client) => {
          await client.deleteManifest(ref, io.signal ? { signal: io.signal } : {});
          io.stderr.write(`deleted ${ref}\n`);
          return ExitCode.Ok;
        });
      },
    );
  },
};
