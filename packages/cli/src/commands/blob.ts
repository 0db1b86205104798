/**
 * `ocidelta blob REPO@DIGEST [-o FILE]` and `ocidelta config REF [--platform P]`: fetch one blob
 * (streamed, checked against its digest; -o written to a temp name and renamed only when it
 * matched) or an image's config JSON.
 */
import { OciDeltaError, parsePlatform, parseRegistryReference } from '@ocidelta/core';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { writeOutput } from '../kit/output.js';
import {
  type RegistryCliOptions,
  stringOption,
  withClient,
  withRegistryOptions,
} from '../kit/registry-options.js';

export const blobCommand: CommandDef = {
  path: ['blob'],
  summary: 'Fetch one blob by digest (checked against it) to stdout or a file',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<ref>', 'REPO@DIGEST of the blob')
        .option('-o, --output <file>', 'Write it here instead of stdout'),
    ).action(async (input: string, opts: RegistryCliOptions & { output?: string }) => {
      const ref = parseRegistryReference(input);
      if (ref.digest === undefined) {
        throw new OciDeltaError('ERR_INVALID_OPTIONS', `blob needs REPO@DIGEST (got ${input})`, {
          ref: input,
        });
      }
      const digest = ref.digest;
      const output = stringOption(opts.output, '--output');
      return withClient(opts, io, [input], async (client) => {
        const head = await client.headBlob(ref, digest, io.signal ? { signal: io.signal } : {});
        if (!head)
          throw new OciDeltaError('ERR_BLOB_UNKNOWN', `${ref.name}@${digest}: blob unknown`, { digest });
        const stream = await client.getBlob(
          ref,
          { digest, size: head.size },
          io.signal ? { signal: io.signal } : {},
        );
        await writeOutput(io, stream, output);
        return ExitCode.Ok;
      });
    });
  },
};

export const configCommand: CommandDef = {
  path: ['config'],
  summary: "Print an image's config JSON (verified against its digest)",
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<ref>', 'The image (or index: see --platform)')
        .option('-p, --platform <os/arch[/variant]>', 'From an index, this platform (default: this machine)'),
    ).action(async (input: string, opts: RegistryCliOptions & { platform?: string }) => {
      const ref = parseRegistryReference(input);
      const platform = stringOption(opts.platform, '--platform');
      return withClient(opts, io, [input], async (client) => {
        const image = await client.resolveImage(ref, {
          ...(platform !== undefined ? { platform: parsePlatform(platform) } : {}),
          ...(io.signal ? { signal: io.signal } : {}),
        });
        io.stdout.write(Buffer.from(image.configBytes));
        io.stdout.write('\n');
        return ExitCode.Ok;
      });
    });
  },
};
