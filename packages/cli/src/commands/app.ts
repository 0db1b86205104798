/**
 * `ocidelta app [COMPOSE_FILE]`: build a Mender `app` artifact from a compose file, with deep
 * deltas against the previous release, and optionally upload and deploy it. A thin wrapper
 * over `buildAppArtifact`: options in, progress rendered, summary out.
 */
import { join, resolve } from 'node:path';
import { exists, OciDeltaError, writeFileAtomic } from '@ocidelta/core';
import { ARTIFACT_COMPRESSIONS } from '@ocidelta/core/mender';
import { DEVICE_STORES, EFFORTS } from '@ocidelta/delta';
import type { CAC } from 'cac';
import { type BuildAppResult, buildAppArtifact, COMPOSE_FILE_NAMES } from '../app/build-app-artifact.js';
import { DEFAULT_MENDER_HOST, type LogLevel } from '../app/options.js';
import { appRenderer } from '../app/progress.js';
import { renderReport } from '../app/report.js';
import { summaryTable } from '../app/results.js';
import { type CliIO, type CommandDef, ExitCode } from '../command.js';
import { choiceOption } from '../kit/args.js';
import { progressFor } from '../kit/progress.js';
import { intOption, timeoutsOption, writeJson } from '../kit/registry-options.js';
import { formatIecBytes, parseByteSize } from '../kit/size.js';

/** Options that take two values (`-f NAME FILE`); rewritten to `NAME=FILE` before cac parses. */
const PAIR_FLAGS = new Set(['-f', '--service-file', '-i', '--service-image']);

/**
 * Join `--service-file NAME FILE` into `--service-file NAME=FILE`, and read `-h URL` as the
 * helper does: `--mender-host URL` (a bare `-h` still asks for help) (pure).
 */
export function joinPairArgs(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const after = argv[i + 2];
    if (a === '-h' && next !== undefined && !next.startsWith('-')) {
      out.push('--mender-host', next);
      i += 1;
    } else if (
      PAIR_FLAGS.has(a) &&
      next !== undefined &&
      !next.includes('=') &&
      after !== undefined &&
      !after.startsWith('-')
    ) {
      out.push(a, `${next}=${after}`);
      i += 2;
    } else out.push(a);
  }
  return out;
}

function list(value: unknown): string[] {
  if (value === undefined || value === false) return [];
  return (Array.isArray(value) ? value : [value]).map(String).filter((s) => s !== '' && s !== 'true');
}

function pairs(value: unknown, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list(value)) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) {
      throw new OciDeltaError(
        'ERR_INVALID_OPTIONS',
        `${flag} needs a service name and a value: ${flag} NAME VALUE`,
        {
          option: flag,
        },
      );
    }
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

const DEFAULT_COMPOSE = COMPOSE_FILE_NAMES;

async function findCompose(cwd: string): Promise<string> {
  for (const name of DEFAULT_COMPOSE) if (await exists(join(cwd, name))) return name;
  throw new OciDeltaError(
    'ERR_INPUT',
    `no compose file given and none of ${DEFAULT_COMPOSE.join(', ')} in ${cwd}`,
    { path: cwd },
  );
}

/** The helper's level names (any case) and ours: DEBUG, INFO, WARNING/WARN, ERROR, CRITICAL. */
const LEVEL_NAMES: Record<string, LogLevel> = {
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'error',
};

function verbosity(level: unknown, v: unknown): LogLevel {
  const named = typeof level === 'string' ? LEVEL_NAMES[level.toLowerCase()] : undefined;
  if (level !== undefined && named === undefined) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `--log-level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case), not ${String(level)}`,
      { option: '--log-level' },
    );
  }
  const base = named ?? 'info';
  const count = Array.isArray(v) ? v.length : v ? 1 : 0;
  const order: LogLevel[] = ['error', 'warn', 'info', 'debug'];
  return order[Math.min(order.length - 1, order.indexOf(base) + count)]!;
}

/** The human summary printed after a run. */
export function formatSummary(r: BuildAppResult): string {
  const lines = [summaryTable(r.services), ''];
  if (r.dryRun) lines.push(`dry run: ${r.artifactName} not written`);
  else lines.push(`artifact: ${r.artifactFile} (${formatIecBytes(r.artifactSize)})`);
  lines.push(`name: ${r.artifactName}  version: ${r.version}`);
  if (r.dependsOnVersion) lines.push(`depends on: ${r.softwareName} ${r.dependsOnVersion}`);
  if (r.uploaded) lines.push('uploaded: yes');
  else if (r.uploadSkippedExisting) lines.push('uploaded: already on the server (skipped)');
  if (r.deployment)
    lines.push(`deployment: ${r.deployment.id ?? '(created)'} to group ${r.deployment.group}`);
  if (r.recorded) lines.push(`recorded as previous release: ${r.recorded}`);
  return `${lines.join('\n')}\n`;
}

type Opts = Record<string, unknown>;

/** `--sign-key FILE` or `-k/--key FILE` (mender-artifact's spelling); both at once is a usage error. */
function signKeyOf(o: Opts): string | undefined {
  if (o.signKey !== undefined && o.key !== undefined && o.signKey !== o.key) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', '--sign-key and -k/--key name the same key: give one', {
      option: '--key',
    });
  }
  const value = o.signKey ?? o.key;
  if (value !== undefined && (typeof value !== 'string' || value === '')) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', '-k/--key needs one file', { option: '--key' });
  }
  return value;
}

async function run(composeArg: string | undefined, o: Opts, io: CliIO): Promise<number> {
  const deviceTypes = list(o.deviceType);
  if (deviceTypes.length === 0) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', '-t/--device-type is required (repeat it for several)', {
      option: '--device-type',
    });
  }
  if (typeof o.platform !== 'string' || o.platform === '') {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', '-p/--platform is required (e.g. linux/arm64)', {
      option: '--platform',
    });
  }
  const level = verbosity(o.logLevel, o.verbose);
  const json = o.json === true;
  const view = progressFor(io, { json, quiet: level === 'error' || level === 'warn' }, { title: 'app' });
  const renderer = appRenderer(view, io.stderr, json && level === 'info' ? 'warn' : level);
  try {
    const result = await buildAppArtifact({
      composeFile: composeArg ?? (await findCompose(io.cwd)),
      deviceTypes,
      platform: o.platform,
      manifestName: o.manifestName as string | undefined,
      previousVersion: o.previousVersion as string | undefined,
      previousManifest: o.previousManifest as string | undefined,
      release: o.release === true,
      serviceFiles: pairs(o.serviceFile, '--service-file'),
      serviceImages: pairs(o.serviceImage, '--service-image'),
      delta: o.delta !== false,
      requireDelta: o.requireDelta === true,
      ...(typeof o.store === 'string' ? { store: o.store } : {}),
      cache: o.cache !== false,
      cacheDir: o.cacheDir as string | undefined,
      artifactFilename: o.artifactFilename as string | undefined,
      deviceGroup: o.deviceGroup as string | undefined,
      menderHost: (o.menderHost as string | undefined) ?? DEFAULT_MENDER_HOST,
      menderPat: io.env.MENDER_PAT || undefined,
      skipExisting: o.skipExisting === true,
      ...(typeof o.deploymentName === 'string' ? { deploymentName: o.deploymentName } : {}),
      record: o.record === true,
      deviceStore: choiceOption(o.deviceStore, DEVICE_STORES, '--device-store'),
      ...(o.deviceWindow !== undefined
        ? { deviceWindow: parseByteSize(String(o.deviceWindow), '--device-window') }
        : {}),
      compression: choiceOption(o.compression, ARTIFACT_COMPRESSIONS, '--compression'),
      ...(o.jobs !== undefined ? { jobs: intOption(o.jobs, '--jobs') } : {}),
      ...(o.effort !== undefined ? { effort: choiceOption(o.effort, EFFORTS, '--effort') } : {}),
      signKey: signKeyOf(o),
      dryRun: o.dryRun === true,
      registry: {
        insecure: list(o.insecure),
        insecureAll: o.insecure === true || (Array.isArray(o.insecure) && o.insecure.includes(true)),
        creds: o.creds as string | undefined,
        authfile: o.authfile as string | undefined,
        ...(o.timeout !== undefined ? { timeouts: timeoutsOption(o.timeout as string) } : {}),
      },
      cwd: io.cwd,
      env: io.env,
      ...(io.signal ? { signal: io.signal } : {}),
      onEvent: renderer.onEvent,
    });
    renderer.finish();
    if (typeof o.report === 'string') {
      const file = resolve(io.cwd, o.report);
      await writeFileAtomic(file, Buffer.from(renderReport(result)), io.signal ? { signal: io.signal } : {});
      io.stderr.write(`report: ${file}\n`);
    }
    if (json) writeJson(io, result);
    else io.stdout.write(formatSummary(result));
    return ExitCode.Ok;
  } finally {
    renderer.finish();
  }
}

export const appCommand: CommandDef = {
  path: ['app'],
  summary: 'Build a Mender app artifact (deep deltas) from a compose file; upload and deploy it',
  define(cli: CAC, io: CliIO) {
    const parse = cli.parse.bind(cli);
    cli.parse = ((argv: string[], opts?: { run?: boolean }) =>
      parse(joinPairArgs(argv), opts)) as typeof cli.parse;
    cli
      .command(
        '[compose-file]',
        'Compose file (default: compose.yaml / docker-compose.yml in the current directory)',
      )
      .option('-t, --device-type <type>', 'Compatible device type (required; repeatable)')
      .option('-p, --platform <platform>', 'Image platform, e.g. linux/arm64 (required)')
      .option('-m, --manifest-name <name>', 'Application/software name (default: <repo dir>-<compose dir>)')
      .option(
        '--previous-version <rev>',
        'Git revision holding the previous release (compose file + VERSION)',
      )
      .option('--previous-manifest <file>', 'Previous release: ocidelta metadata JSON or a compose file')
      .option('-r, --release', 'Release build: version = VERSION file (no +sha+uuid suffix)')
      .option('-f, --service-file <name file>', 'Take a service image from a docker/OCI archive (repeatable)')
      .option('-i, --service-image <name ref>', 'Override a service image reference (repeatable)')
      .option('--delta', 'Build deep deltas against the previous release (--no-delta: every image full)', {
        default: true,
      })
      .option(
        '--require-delta',
        'Fail instead of shipping a full image when a previous service gets no deep delta (other than for size)',
      )
      .option(
        '--store <repository>',
        'Registry repository shared by build runners: deltas and release records',
      )
      .option('--cache', 'Use the cache (--no-cache: neither read nor write it)', { default: true })
      .option(
        '--cache-dir <dir>',
        'Cache directory (env OCIDELTA_CACHE_DIR or MENDER_HELPER_CACHE_DIR, else $XDG_CACHE_HOME/ocidelta)',
      )
      .option('-a, --artifact-filename <file>', 'Output file (default: <artifact name>.mender)')
      .option('-g, --device-group <group>', 'Deploy to this device group after upload (needs MENDER_PAT)')
      .option('--mender-host <url>', `Mender server (default: ${DEFAULT_MENDER_HOST})`)
      .option('--deployment-name <name>', 'Name of the deployment (default: <artifact name>-<group>)')
      .option('--skip-existing', 'An artifact already on the server is not an error')
      .option('--record', 'Record this release as the previous one in the cache without deploying')
      .option('--device-store <store>', 'Device image store: classic (default) or containerd')
      .option(
        '--device-window <size>',
        "The device xdelta3's -B (default 64MiB; set it when the app module's XDELTA_ARGS pass -B)",
      )
      .option('--compression <c>', 'Artifact compression: gzip (default), xz (smaller, slower), none, zstd')
      .option(
        '-j, --jobs <n>',
        'Encode workers per delta layer (default: available CPUs; up to ~64 MiB each)',
      )
      .option('--effort <level>', 'Delta match effort: fast, default or best (slower, slightly smaller)')
      .option('--sign-key <file>', 'PEM private key (RSA or ECDSA P-256) to sign the artifact')
      .option('-k, --key <file>', "The same as --sign-key (mender-artifact's name)")
      .option('--dry-run', 'Plan only: show which services are full, delta or unchanged, with sizes')
      .option('--json', 'Print the result as JSON on stdout')
      .option(
        '--report <file>',
        'Also write a self-contained HTML report of the release (sizes per service and layer)',
      )
      .option(
        '--insecure [registry]',
        'Allow plain http (and unverified TLS) to this registry, or to every registry named when given no value (repeatable; loopback always allowed)',
      )
      .option('--creds <user:password>', 'Registry credentials')
      .option('--authfile <file>', 'Docker-style auth file')
      .option('--timeout <seconds>', 'Give up on a silent registry after this long (default 30; connect 15)')
      .option('-l, --log-level <level>', 'error, warn, info (default) or debug')
      .option('-v, --verbose', 'More output (repeatable)')
      .action((composeFile: string | undefined, o: Opts) => run(composeFile, o, io));
  },
};
