/**
 * `ocidelta image build SPEC.yaml --output oci:DIR | oci-archive:FILE | docker-archive:FILE |
 * docker://REPO [--format oci|docker]`: build the images a YAML spec lists (layers from
 * directories, parents from the spec, local layouts/archives or a registry), reproducibly
 * (SOURCE_DATE_EPOCH or --mtime), and write or push them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  type BuildResult,
  buildImages,
  type ImageFormat,
  OciDeltaError,
  OciLayout,
  parseImageRef,
  parseReference,
  type Reference,
  readBuildSpec,
  writeBuildOutput,
} from '@ocidelta/core';
import type { CliIO, CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { type Pushed, pushBuilt } from '../kit/build-push.js';
import { withProgress } from '../kit/progress.js';
import {
  type RegistryCliOptions,
  stringOption,
  wholeNumberOption,
  withClient,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';

interface BuildCliOptions extends RegistryCliOptions {
  output?: string;
  format?: string;
  mtime?: number | string;
}

export const imageBuildCommand: CommandDef = {
  path: ['image', 'build'],
  summary: 'Build images from directories described by a YAML spec',
  define(cli, io) {
    withRegistryOptions(
      cli
        .command('<spec>', 'Build the images SPEC lists')
        .option(
          '--output <dest>',
          'oci:DIR, oci-archive:FILE, docker-archive:FILE or docker://REPO (required)',
        )
        .option('--format <format>', "Media types: oci or docker (default: the spec's mode, else oci)")
        .option('--mtime <seconds>', 'Timestamp of every entry (default SOURCE_DATE_EPOCH, else 0)'),
      { json: true },
    ).action((specFile: string, opts: BuildCliOptions) => runBuild(specFile, opts, io));
  },
};

/** `image build SPEC --output DEST`: build, then write to DEST or push. */
async function runBuild(specFile: string, opts: BuildCliOptions, io: CliIO): Promise<number> {
  const output = stringOption(opts.output, '--output');
  if (output === undefined) throw new OciDeltaError('ERR_INVALID_OPTIONS', 'image build needs --output', {});
  const formatOption = stringOption(opts.format, '--format') as ImageFormat | undefined;
  if (formatOption !== undefined && formatOption !== 'oci' && formatOption !== 'docker') {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', `--format must be oci or docker (got ${formatOption})`, {
      option: '--format',
    });
  }
  const mtime = wholeNumberOption(opts.mtime, '--mtime', 'seconds since the epoch');
  const specPath = resolve(io.cwd, specFile);
  const spec = await readBuildSpec(specPath);
  const target = parseImageRef(output, io.cwd);
  if (target.transport === 'path') {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `--output ${output}: say what to write: oci:DIR, oci-archive:FILE, docker-archive:FILE or docker://REPO`,
      { option: '--output' },
    );
  }
  const parentRefs = spec.images.flatMap((i) =>
    typeof i.parent === 'string' ? [parseImageRef(i.parent, dirname(specPath))] : [],
  );
  const registryRefs = [
    ...parentRefs.flatMap((l) => (l.transport === 'docker' ? [l.ref] : [])),
    ...(target.transport === 'docker' ? [target.ref] : []),
  ];
  return withClient(opts, io, registryRefs, async (client) => {
    const tmp = await mkdtemp(join(tmpdir(), 'ocidelta-build-'));
    const parents: Reference[] = [];
    try {
      const store = await OciLayout.create(target.transport === 'oci' ? target.path : join(tmp, 'store'));
      const built = await withProgress(io, opts, { title: 'build' }, (onProgress) =>
        buildImages(spec, {
          store,
          baseDir: dirname(specPath),
          ...(formatOption !== undefined ? { format: formatOption } : {}),
          ...(mtime !== undefined ? { mtime } : {}),
          env: io.env,
          ...(io.signal ? { signal: io.signal } : {}),
          resolveParent: (ref, platform, signal) => {
            const parsed = parseReference(ref);
            parents.push(parsed);
            return client.resolveImage(parsed, {
              ...(platform ? { platform } : {}),
              ...(signal ? { signal } : {}),
            });
          },
          ...(onProgress ? { onProgress } : {}),
        }),
      );
      try {
        let pushed: Pushed | undefined;
        if (target.transport === 'docker')
          pushed = await pushBuilt(client, built, parseReference(target.ref), parents);
        else
          await writeBuildOutput(built.images, target, {
            ...(built.annotations ? { annotations: built.annotations } : {}),
          });
        reportBuild(io, opts, output, built, pushed);
      } finally {
        await built.close();
      }
      return ExitCode.Ok;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
}

/** Print what was built: digests and tags, or JSON. */
function reportBuild(
  io: CliIO,
  opts: BuildCliOptions,
  output: string,
  built: BuildResult,
  pushed: Pushed | undefined,
): void {
  const images = built.images.map(({ image, tags }) => ({
    digest: image.digest,
    mediaType: image.mediaType,
    platform: [image.config.os, image.config.architecture, image.config.variant].filter(Boolean).join('/'),
    tags,
    layers: image.layers.map((l) => l.digest),
    ...(pushed ? { pushed: pushed.images.get(image) ?? [] } : {}),
  }));
  const indexes = built.entries.flatMap((e) =>
    'index' in e
      ? [
          {
            tag: e.ref,
            digest: e.index.digest,
            mediaType: e.index.mediaType,
            images: e.images.map((i) => i.digest),
            ...(pushed ? { pushed: pushed.indexes.find((p) => p.digest === e.index.digest)?.ref } : {}),
          },
        ]
      : [],
  );
  const format = built.format;
  if (opts.json) writeJson(io, { output, format, images, indexes });
  else {
    for (const i of images) io.stdout.write(`${i.digest}${i.tags.length ? ` ${i.tags.join(',')}` : ''}\n`);
    for (const i of indexes) io.stdout.write(`${i.digest} ${i.tag} (index of ${i.images.length})\n`);
  }
}
