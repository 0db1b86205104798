/**
 * `ocidelta layer inject REF --dir DIR --to REF`: pack DIR into a deterministic layer and
 * append it to the image (or replace the layer injected before), pushing under `--to`.
 */
import { resolve } from 'node:path';
import { OciDeltaError, parsePlatform } from '@ocidelta/core';
import { injectLayer } from '@ocidelta/registry';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  type RegistryCliOptions,
  stringOption,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';

interface InjectCliOptions extends RegistryCliOptions {
  dir?: string;
  to?: string;
  platform?: string;
  comment?: string;
  preserveOwner?: boolean;
  xattrs?: boolean;
}

export const layerInjectCommand: CommandDef = {
  path: ['layer', 'inject'],
  summary: 'Add a directory to an image as a layer (replacing the one injected before)',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<ref>', 'Inject --dir into the image REF and push it as --to')
        .option('--dir <dir>', 'Directory to pack into the layer (required)')
        .option('--to <ref>', 'Reference to push the new image to (required)')
        .option(
          '-p, --platform <os/arch[/variant]>',
          'From an index, use this platform (default: this machine)',
        )
        .option('--comment <text>', 'Comment for the history entry')
        .option('--preserve-owner', "Keep the files' uid/gid in the layer (default 0:0, reproducible)")
        .option('--xattrs', 'Keep extended attributes of files and directories (default: none)'),
      { json: true },
    ).action(async (ref: string, opts: InjectCliOptions) => {
      const dir = stringOption(opts.dir, '--dir');
      const to = stringOption(opts.to, '--to');
      if (dir === undefined || to === undefined) {
        throw new OciDeltaError('ERR_INVALID_OPTIONS', 'layer inject needs --dir DIR and --to REF', {});
      }
      const platform = stringOption(opts.platform, '--platform');
      const comment = stringOption(opts.comment, '--comment');
      return withClient(opts, io, [ref, to], async (client) => {
        const result = await injectLayer(client, ref, resolve(io.cwd, dir), to, {
          ...(platform !== undefined ? { platform: parsePlatform(platform) } : {}),
          ...(comment !== undefined ? { comment } : {}),
          preserveOwner: opts.preserveOwner === true,
          xattrs: opts.xattrs === true,
          env: io.env,
          ...(io.signal ? { signal: io.signal } : {}),
        });
        if (opts.json) writeJson(io, result);
        else {
          io.stderr.write(
            `${result.replaced ? 'replaced' : 'appended'} layer ${result.layerIndex}: ${result.layer.digest}\n`,
          );
          io.stdout.write(`${result.digest}\n`);
        }
        return ExitCode.Ok;
      });
    });
  },
};
