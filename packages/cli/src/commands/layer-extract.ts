/**
 * `ocidelta layer extract REF --dir DIR [--layer N]`: stream one layer of an image (by default
 * the injected one) into a directory, safely: no path traversal, whiteouts applied, symlinks
 * never followed out of DIR.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { extractLayer, OciDeltaError, parsePlatform } from '@ocidelta/core';
import { resolveLayerToExtract } from '@ocidelta/registry';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  type RegistryCliOptions,
  stringOption,
  wholeNumberOption,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';

interface ExtractCliOptions extends RegistryCliOptions {
  dir?: string;
  layer?: number | string;
  platform?: string;
}

export const layerExtractCommand: CommandDef = {
  path: ['layer', 'extract'],
  summary: 'Extract the injected (or any) layer of an image into a directory',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<ref>', 'Extract a layer of REF into --dir')
        .option('--dir <dir>', 'Directory to extract into (created when missing; required)')
        .option('--layer <n>', 'Layer number, from 0 (default: the injected layer)')
        .option(
          '-p, --platform <os/arch[/variant]>',
          'From an index, use this platform (default: this machine)',
        ),
      { json: true },
    ).action(async (ref: string, opts: ExtractCliOptions) => {
      const dir = stringOption(opts.dir, '--dir');
      if (dir === undefined)
        throw new OciDeltaError('ERR_INVALID_OPTIONS', 'layer extract needs --dir DIR', {});
      const layer = wholeNumberOption(opts.layer, '--layer', 'a layer number from 0');
      const platform = stringOption(opts.platform, '--platform');
      return withClient(opts, io, [ref], async (client) => {
        const found = await resolveLayerToExtract(client, ref, {
          ...(layer !== undefined ? { layer } : {}),
          ...(platform !== undefined ? { platform: parsePlatform(platform) } : {}),
        }).catch(async (err: unknown) => {
          // As the CVMFS injector's unpack: nothing injected yet is an empty directory, not an error.
          if (!(err instanceof OciDeltaError) || err.details.reason !== 'no-injected-layer') throw err;
          const target = resolve(io.cwd, dir);
          await mkdir(target, { recursive: true });
          io.stderr.write(`note: ${ref} has no injected layer: ${target} is left empty\n`);
          if (opts.json) writeJson(io, { dir: target, layer: null, files: 0 });
          return undefined;
        });
        if (!found) return ExitCode.Ok;
        const { image, index } = found;
        const chosen = image.layers[index];
        if (!chosen) throw new OciDeltaError('ERR_INVALID_OPTIONS', `no layer ${index} in ${ref}`, {});
        const target = resolve(io.cwd, dir);
        const counts = await extractLayer(chosen, target, {
          onWarning: (w) => io.stderr.write(`warning: ${w}\n`),
        });
        if (opts.json)
          writeJson(io, { image: image.digest, layer: index, digest: chosen.digest, dir: target, ...counts });
        else io.stdout.write(`${chosen.digest}\n`);
        return ExitCode.Ok;
      });
    });
  },
};
