/**
 * `ocidelta inspect REF [--raw] [--platform P]`: show an image in a registry, like
 * `skopeo inspect`: the exact manifest bytes with --raw (of the platform's image with
 * --platform), else a JSON summary (digest, platform, layers, labels, env).
 */
import { parsePlatform, parseRegistryReference, selectManifest } from '@ocidelta/core';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import {
  type RegistryCliOptions,
  stringOption,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';

interface InspectCliOptions extends RegistryCliOptions {
  raw?: boolean;
  platform?: string;
}

export const inspectCommand: CommandDef = {
  path: ['inspect'],
  summary: 'Show an image or index in a registry (JSON summary, or the raw manifest)',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<ref>', 'Inspect REF')
        .option('--raw', 'Print the manifest exactly as the registry serves it')
        .option(
          '-p, --platform <os/arch[/variant]>',
          'From an index, the image of this platform (default: this machine)',
        ),
      { json: true },
    ).action(async (input: string, opts: InspectCliOptions) => {
      const ref = parseRegistryReference(input);
      const platformArg = stringOption(opts.platform, '--platform');
      const platform = platformArg !== undefined ? parsePlatform(platformArg) : undefined;
      return withClient(opts, io, [input], async (client) => {
        const top = await client.getManifest(ref);
        if (opts.raw) {
          let bytes = top.bytes;
          if (platform !== undefined) {
            const manifest = JSON.parse(top.bytes.toString('utf8')) as { manifests?: unknown };
            if (Array.isArray(manifest.manifests)) {
              const d = selectManifest(manifest as Parameters<typeof selectManifest>[0], platform);
              bytes = (await client.getManifest(ref.withDigest(d.digest))).bytes;
            }
          }
          io.stdout.write(bytes);
          return ExitCode.Ok;
        }
        const image = await client.resolveImage(ref.digest ? ref : ref.withDigest(top.digest), {
          ...(platform !== undefined ? { platform } : {}),
        });
        const c = image.config;
        writeJson(io, {
          Name: ref.name,
          ...(ref.tag !== undefined ? { Tag: ref.tag } : {}),
          Digest: top.digest,
          MediaType: top.mediaType,
          ...(top.digest !== image.digest
            ? { ImageDigest: image.digest, ImageMediaType: image.mediaType }
            : {}),
          Created: c.created,
          Architecture: c.architecture,
          ...(c.variant !== undefined ? { Variant: c.variant } : {}),
          Os: c.os,
          Config: image.configDigest,
          Labels: c.config?.Labels ?? null,
          Env: c.config?.Env ?? [],
          Layers: image.layers.map((l) => l.digest),
          LayersData: image.layers.map((l) => ({
            MIMEType: l.mediaType,
            Digest: l.digest,
            Size: l.size,
            DiffID: l.diffId,
          })),
        });
        return ExitCode.Ok;
      });
    });
  },
};
