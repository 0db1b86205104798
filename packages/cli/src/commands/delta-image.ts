/**
 * `ocidelta delta image`: build a deep-delta image.img (docs/delta.md, "Deep deltas of images") from the current and
 * the new image, each an image archive file (docker-archive or oci-archive), an OCI layout
 * directory, or a registry reference (an index is narrowed to `--platform`).
 */
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  type Image,
  OciDeltaError,
  openImage,
  type Platform,
  parseImageRef,
  parsePlatform,
  writeThroughFile,
} from '@ocidelta/core';
import {
  buildDeepDelta,
  CURRENT_ORIGINS,
  type CurrentOrigin,
  DEFAULT_SOURCE_WINDOW,
  DEVICE_STORES,
  type DeepDeltaOptions,
  type DeviceStore,
  EFFORTS,
  verifyDeepDelta,
} from '@ocidelta/delta';
import { type RegistryClient, registryStore } from '@ocidelta/registry';
import type { DeltaKey } from '../app/delta-key.js';
import { ArtifactStore } from '../app/store.js';
import type { CliIO, CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { choiceOption } from '../kit/args.js';
import { withProgress } from '../kit/progress.js';
import {
  createClient,
  intOption,
  type RegistryCliOptions,
  withRegistryOptions,
  writeJson,
} from '../kit/registry-options.js';
import { formatIecBytes, parseByteSize } from '../kit/size.js';

/** A path-looking input that does not exist is a missing file, never a registry lookup. */
/** True when `input` names a registry image (it needs a client). */
function isRegistryInput(input: string): boolean {
  return parseImageRef(input, '.').transport === 'docker';
}

/** Where to get images that are neither files nor directories. */
export interface ImageInputContext {
  cwd: string;
  /** Registry client for references; when absent a non-file input is an error. */
  client?: () => RegistryClient;
  platform?: Platform;
  signal?: AbortSignal;
}

/**
 * Open an image named as skopeo names them (see `parseImageRef`): a layout or archive, or a
 * registry reference through the client. `what` names the option in errors.
 */
export async function openImageInput(input: string, ctx: ImageInputContext, what: string): Promise<Image> {
  const { client } = ctx;
  try {
    const opened = await openImage(input, {
      cwd: ctx.cwd,
      ...(ctx.platform ? { platform: ctx.platform } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(client ? { registry: () => registryStore(client()) } : {}),
    });
    return opened.image;
  } catch (err) {
    if (!(err instanceof OciDeltaError) || err.code === 'ERR_ABORTED') throw err;
    throw new OciDeltaError(err.code, `${what} ${input}: ${err.message}`, err.details, { cause: err });
  }
}

/** `os/arch[/variant]` of an image's config (the delta key's platform when --platform is not given). */
function platformOf(image: Image): string {
  const c = image.config as { os?: string; architecture?: string; variant?: string };
  return [c.os ?? 'linux', c.architecture ?? 'unknown', ...(c.variant ? [c.variant] : [])].join('/');
}

function toList(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

interface Options extends RegistryCliOptions {
  platform?: string;
  current?: string;
  new?: string;
  output?: string;
  deviceStore?: string;
  currentOrigin?: string;
  repoTag?: string | string[];
  maxSourceSize?: number;
  jobs?: number;
  effort?: string;
  deviceWindow?: string;
  tmpDir?: string;
  json?: boolean;
  store?: string;
}

async function run(opts: Options, io: CliIO): Promise<number> {
  for (const [flag, v] of [
    ['--current', opts.current],
    ['--new', opts.new],
    ['-o/--output', opts.output],
  ] as const) {
    if (typeof v !== 'string' || v === '') {
      throw new OciDeltaError('ERR_INVALID_OPTIONS', `${flag} is required`, { option: flag });
    }
  }
  const deviceStore =
    choiceOption<DeviceStore>(opts.deviceStore, DEVICE_STORES, '--device-store') ?? 'classic';
  const currentOrigin =
    choiceOption<CurrentOrigin>(opts.currentOrigin, CURRENT_ORIGINS, '--current-origin') ?? 'registry';
  choiceOption(opts.effort, EFFORTS, '--effort'); // checked before any pull
  if (opts.platform !== undefined && typeof opts.platform !== 'string') {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', '--platform needs a value like linux/arm64', {
      option: '--platform',
    });
  }
  let client: RegistryClient | undefined;
  const ctx: ImageInputContext = {
    cwd: io.cwd,
    client: () => {
      client ??= createClient(opts, io, [
        ...[opts.current!, opts.new!].filter(isRegistryInput).map((r) => r.replace(/^docker:\/\//, '')),
        ...(typeof opts.store === 'string' ? [opts.store] : []),
      ]);
      return client;
    },
    ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  };
  try {
    return await buildFrom(opts, ctx, io, deviceStore, currentOrigin);
  } finally {
    await client?.close();
  }
}

/** What the command's options say of the encoder (source limit, workers, effort). */
function encoderOptions(opts: Options): Pick<DeepDeltaOptions, 'maxSourceSize' | 'jobs' | 'effort'> {
  return {
    ...(opts.maxSourceSize !== undefined
      ? { maxSourceSize: parseByteSize(String(opts.maxSourceSize), '--max-source-size') }
      : {}),
    ...(opts.jobs !== undefined ? { jobs: intOption(opts.jobs, '--jobs') } : {}),
    ...(opts.effort !== undefined ? { effort: choiceOption(opts.effort, EFFORTS, '--effort') } : {}),
  };
}

async function buildFrom(
  opts: Options,
  ctx: ImageInputContext,
  io: CliIO,
  deviceStore: DeviceStore,
  currentOrigin: CurrentOrigin,
): Promise<number> {
  if (opts.output === '-') {
    // image.img on stdout: built in a temp file, then streamed; the summary goes to stderr.
    if (opts.json) {
      throw new OciDeltaError('ERR_INVALID_OPTIONS', '-o - writes image.img to stdout: leave out --json', {
        option: '--json',
      });
    }
    return writeThroughFile(
      io.stdout,
      'image.img',
      (file) =>
        buildFrom({ ...opts, output: file }, ctx, { ...io, stdout: io.stderr }, deviceStore, currentOrigin),
      {
        ...(opts.tmpDir ? { tmpDir: resolve(io.cwd, opts.tmpDir) } : {}),
        ...(io.signal ? { signal: io.signal } : {}),
      },
    );
  }
  const current = await openImageInput(opts.current!, ctx, '--current');
  const next = await openImageInput(opts.new!, ctx, '--new');
  const out = resolve(io.cwd, opts.output!);
  const sourceWindow =
    opts.deviceWindow !== undefined
      ? parseByteSize(String(opts.deviceWindow), '--device-window')
      : DEFAULT_SOURCE_WINDOW;
  const tmpDir = opts.tmpDir ? resolve(io.cwd, opts.tmpDir) : undefined;
  const store = typeof opts.store === 'string' ? new ArtifactStore(ctx.client!(), opts.store) : undefined;
  const key: DeltaKey = {
    from: current.digest,
    to: next.digest,
    deviceStore,
    delivery: deviceStore === 'classic' ? 'registry' : currentOrigin,
    repoTags: toList(opts.repoTag),
    platform: opts.platform ?? platformOf(next),
    sourceWindow,
  };
  if (store) {
    try {
      const info = await store.fetchDelta(key, out, {});
      if (info) {
        await verifyDeepDelta(current, next, out, {
          deviceStore,
          currentOrigin,
          sourceWindow,
        });
        if (opts.json) writeJson(io, { ...info, deltaFrom: 'store' }, { compact: true });
        else
          io.stdout.write(
            `wrote ${out} (${formatIecBytes(info.size)}) from the store ${store.repo.name}, verified\n`,
          );
        return ExitCode.Ok;
      }
    } catch (err) {
      await rm(out, { force: true });
      if (!(err instanceof OciDeltaError) || err.code === 'ERR_ABORTED') throw err;
      io.stderr.write(`ocidelta: warning: the store's delta is unusable (${err.message}): computing it\n`);
    }
  }
  const result = await withProgress(io, opts, { title: 'delta' }, (onProgress) =>
    buildDeepDelta(current, next, out, {
      ...(onProgress ? { onProgress } : {}),
      deviceStore,
      currentOrigin,
      repoTags: toList(opts.repoTag),
      sourceWindow,
      ...encoderOptions(opts),
      ...(tmpDir ? { tmpDir } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
    }),
  );
  if (store) {
    const info = {
      ...key,
      fromRef: opts.current!,
      toRef: opts.new!,
      size: result.size,
      createdAt: new Date().toISOString(),
      device: result.device,
    };
    await store.pushDelta(info, out).catch((err: unknown) => {
      if (!(err instanceof OciDeltaError) || err.code === 'ERR_ABORTED') throw err;
      io.stderr.write(`ocidelta: warning: could not push the delta to the store: ${err.message}\n`);
    });
  }
  return reportBuilt(io, opts, out, result, {
    deviceStore,
    currentOrigin,
    ...(store ? { deltaFrom: 'computed' } : {}),
  });
}

/** Print what `delta image` built: JSON, or one line per layer and a summary. */
function reportBuilt(
  io: CliIO,
  opts: Options,
  out: string,
  result: Awaited<ReturnType<typeof buildDeepDelta>>,
  extra: { deviceStore: DeviceStore; currentOrigin: CurrentOrigin; deltaFrom?: 'computed' },
): number {
  if (opts.json) {
    writeJson(io, { ...result, ...extra }, { compact: true });
    return ExitCode.Ok;
  }
  for (const l of result.layers) {
    const what = l.unchanged ? 'unchanged' : `from ${l.sourcePath}`;
    io.stdout.write(
      `layer ${l.index} ${l.diffId.slice(0, 19)}  ${formatIecBytes(l.uncompressedSize)} -> delta ${formatIecBytes(l.deltaSize)}  (${what}; device reads ${formatIecBytes(l.device.sourceBytesRead)}, ${l.device.sourceAccess})\n`,
    );
  }
  io.stdout.write(
    `wrote ${out} (${formatIecBytes(result.size)}, device store ${extra.deviceStore}; device xdelta3 reads ${formatIecBytes(result.device.sourceBytesRead)} of source, needs ${formatIecBytes(result.device.decoderMemory)})\n`,
  );
  return ExitCode.Ok;
}

export const deltaImageCommand: CommandDef = {
  path: ['delta', 'image'],
  summary: 'Build a deep-delta image.img (per-layer VCDIFFs the device rebuilds with xdelta3)',
  define(cli, io) {
    const cmd = cli
      .command('', 'Build a deep-delta image.img')
      .option(
        '--current <image>',
        'Current image: registry reference, archive file (docker/oci-archive) or OCI layout dir',
      )
      .option('--new <image>', 'New image: registry reference, archive file or OCI layout dir')
      .option('-o, --output <file>', 'Where to write image.img')
      .option('--device-store <mode>', 'Device image store: classic or containerd (default classic)')
      .option(
        '--current-origin <origin>',
        'containerd only: registry (pulled) or artifact (loaded from an artifact) (default registry)',
      )
      .option('--repo-tag <name>', 'RepoTags of the new image in the archive (repeatable)')
      .option('--max-source-size <size>', 'Largest decompressed current layer to encode against (e.g. 4GiB)')
      .option('-j, --jobs <n>', 'Encode workers per layer (default: available CPUs; up to ~64 MiB each)')
      .option('--effort <level>', 'Match effort: fast, default or best (slower, slightly smaller)')
      .option(
        '--device-window <size>',
        "The device xdelta3's -B (default 64MiB; match the app module's XDELTA_ARGS)",
      )
      .option('--tmp-dir <dir>', 'Directory for temporary files')
      .option(
        '--store <repository>',
        'Registry repository shared by build runners: reuse and share the delta',
      )
      .option(
        '-p, --platform <os/arch[/variant]>',
        'From an index, use this platform (default: this machine)',
      )
      .option('--json', 'Print the result as JSON')
      .option('-q, --quiet', 'No progress output')
      .example(
        'ocidelta delta image --current app-1.tar --new app-2.tar -o image.img --device-store containerd',
      )
      .example(
        'ocidelta delta image --current registry.example/app:1 --new registry.example/app:2 -o image.img',
      );
    withRegistryOptions(cmd).action((opts: Options) => run(opts, io));
  },
};
