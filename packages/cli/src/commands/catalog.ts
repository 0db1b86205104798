/** `ocidelta catalog REGISTRY`: the repositories of a registry (`/v2/_catalog`, all pages). */
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  type RegistryCliOptions,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';

export const catalogCommand: CommandDef = {
  path: ['catalog'],
  summary: 'List the repositories of a registry',
  define(cli, io) {
    withRegistryOptions(cli.command('<registry>', 'List the repositories of REGISTRY (host[:port])'), {
      json: true,
    }).action(async (input: string, opts: RegistryCliOptions) => {
      const registry = input.replace(/^docker:\/\//, '').replace(/\/+$/, '');
      return withClient(opts, io, [`${registry}/x`], async (client) => {
        const repos = await client.catalog({ registry, ...(io.signal ? { signal: io.signal } : {}) });
        if (opts.json) writeJson(io, { Registry: registry, Repositories: repos });
        else for (const r of repos) io.stdout.write(`${r}\n`);
        return ExitCode.Ok;
      });
    });
  },
};
