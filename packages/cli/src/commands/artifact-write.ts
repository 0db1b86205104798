/**
 * `ocidelta artifact write module-image`: a drop-in for `mender-artifact write module-image`
 * (same flags, same artifact), backed by the @ocidelta/core streaming writer.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { OciDeltaError, sweepLeftovers } from '@ocidelta/core';
import {
  ARTIFACT_COMPRESSIONS,
  type ArtifactCompression,
  parseKeyValues,
  softwareVersionProvide,
  type WriteArtifactOptions,
  writeArtifact,
  writeArtifactTo,
} from '@ocidelta/core/mender';
import type { CliIO, CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { type FlagSpec, parseArgs } from '../kit/args.js';
import { withProgress } from '../kit/progress.js';
import { parseByteSize } from '../kit/size.js';

/** A flag of `write module-image`: how it parses, and how `--help` shows it. */
interface WriteFlag extends FlagSpec {
  /** The value's name in --help (none for booleans). */
  arg?: string;
  help: string;
}

/** mender-artifact's `write module-image` flags, its short letters included. */
const FLAGS: WriteFlag[] = [
  {
    long: 'type',
    short: 'T',
    kind: 'string',
    arg: 'type',
    help: 'Payload type: the update module name (required)',
  },
  {
    long: 'device-type',
    short: 't',
    kind: 'list',
    arg: 'type',
    help: 'Compatible device type (required, repeatable)',
  },
  { long: 'artifact-name', short: 'n', kind: 'string', arg: 'name', help: 'Artifact name (required)' },
  {
    long: 'output-path',
    short: 'o',
    kind: 'string',
    arg: 'file',
    help: 'Output file (default artifact.mender; - for stdout)',
  },
  { long: 'file', short: 'f', kind: 'list', arg: 'file', help: 'Payload file (repeatable)' },
  { long: 'meta-data', short: 'm', kind: 'string', arg: 'file', help: 'Meta-data JSON file' },
  { long: 'provides-group', short: 'g', kind: 'string', arg: 'group', help: 'Group the artifact provides' },
  {
    long: 'artifact-name-depends',
    short: 'N',
    kind: 'list',
    arg: 'name',
    help: 'Artifact name this depends on (repeatable)',
  },
  {
    long: 'depends-groups',
    short: 'G',
    kind: 'list',
    arg: 'group',
    help: 'Group this depends on (repeatable)',
  },
  {
    long: 'depends',
    short: 'd',
    kind: 'list',
    arg: 'KEY:VALUE',
    help: 'type-info artifact_depends entry (repeatable)',
  },
  {
    long: 'provides',
    short: 'p',
    kind: 'list',
    arg: 'KEY:VALUE',
    help: 'type-info artifact_provides entry (repeatable)',
  },
  {
    long: 'clears-provides',
    kind: 'list',
    arg: 'pattern',
    help: 'clears_artifact_provides entry (repeatable)',
  },
  {
    long: 'software-name',
    kind: 'string',
    arg: 'name',
    help: 'Name in rootfs-image.NAME.version (default: the type)',
  },
  {
    long: 'software-version',
    kind: 'string',
    arg: 'version',
    help: 'Software version (default: the artifact name)',
  },
  { long: 'software-filesystem', kind: 'string', arg: 'fs', help: 'Used instead of rootfs-image' },
  { long: 'no-default-software-version', kind: 'bool', help: 'Do not add the software version provide' },
  {
    long: 'no-default-clears-provides',
    kind: 'bool',
    help: 'Do not add the default clears_artifact_provides',
  },
  {
    long: 'compression',
    kind: 'string',
    arg: 'kind',
    help: 'none, gzip (default), xz (or lzma) or zstd (Node.js >= 22.15)',
  },
  {
    long: 'key',
    short: 'k',
    kind: 'string',
    arg: 'file',
    help: 'PEM private key to sign with (RSA or ECDSA P-256)',
  },
  { long: 'no-progress', kind: 'bool', help: 'No progress output' },
  { long: 'max-artifact-size', kind: 'string', arg: 'size', help: 'Fail above this size (e.g. 500MB)' },
  { long: 'warn-artifact-size', kind: 'string', arg: 'size', help: 'Warn above this size' },
];

/**
 * Short letters that mean something else everywhere else in ocidelta (-p platform, -g device
 * group, -m manifest name): `artifact write` takes these flags by their long names only;
 * `mender-artifact write module-image` keeps mender-artifact's letters.
 */
const OTHER_MEANING: Record<string, string> = { p: '--platform', g: '--device-group', m: '--manifest-name' };
const OCIDELTA_FLAGS: WriteFlag[] = FLAGS.map(({ short, ...f }) =>
  short === undefined || short in OTHER_MEANING ? f : { ...f, short },
);

/** `-p`, `-g`, `-m` given to `artifact write`: what to write instead. */
const OTHER_MEANING_HINTS: Record<string, string> = Object.fromEntries(
  Object.entries(OTHER_MEANING).map(([letter, meaning]) => [
    `-${letter}`,
    `-${letter} is ${meaning} in ocidelta: write --${FLAGS.find((f) => f.short === letter)?.long} here, or run \`ocidelta mender-artifact write module-image\` to keep mender-artifact's short options`,
  ]),
);

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', `${flag} is required`, { option: flag });
  }
  return value;
}

/**
 * mender-artifact's rule for a `-p KEY:...` that names the software version key: the later of
 * the `-p` and the last `--software-*` flag wins.
 */
function softwareOverridesProvides(argv: readonly string[], key: string): boolean {
  let lastProvides = -1;
  let lastSoftware = -1;
  argv.forEach((token, i) => {
    if (/^--software-(name|version|filesystem)(=|$)/.test(token)) lastSoftware = i;
    const value =
      token === '-p' || token === '--provides'
        ? argv[i + 1]
        : /^(-p|--provides)=/.test(token)
          ? token.slice(token.indexOf('=') + 1)
          : undefined;
    if (value?.startsWith(`${key}:`)) lastProvides = i;
  });
  if (lastProvides < 0) return true;
  if (lastSoftware < 0) return false;
  return lastSoftware > lastProvides;
}

async function readMetaData(file: string): Promise<Record<string, unknown>> {
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new OciDeltaError('ERR_INPUT', `-m/--meta-data ${file}: ${(err as Error).message}`, { path: file });
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new OciDeltaError('ERR_INPUT', `-m/--meta-data ${file}: invalid JSON: ${(err as Error).message}`, {
      path: file,
    });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new OciDeltaError('ERR_INPUT', `-m/--meta-data ${file}: must be a JSON object`, { path: file });
  }
  return json as Record<string, unknown>;
}

/** Build writer options from mender-artifact style arguments (exported for tests). */
export async function writeOptionsFromArgs(
  argv: readonly string[],
  io: CliIO,
  flags: 'ocidelta' | 'mender-artifact' = 'ocidelta',
): Promise<{ output: string; options: WriteArtifactOptions; progress: boolean }> {
  const a = parseArgs(argv, flags === 'ocidelta' ? OCIDELTA_FLAGS : FLAGS);
  if (a.positionals.length > 0) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', `unexpected argument ${a.positionals[0]}`, {});
  }
  const s = a.strings;
  // mender-artifact calls xz `lzma`: both names work.
  const asked = s.compression ?? 'gzip';
  const compression = (asked === 'lzma' ? 'xz' : asked) as ArtifactCompression;
  if (!(ARTIFACT_COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `--compression ${compression} is not supported: use none, gzip, xz (lzma) or zstd`,
      { option: '--compression' },
    );
  }
  if (compression === 'zstd') {
    io.stderr.write(
      'ocidelta: warning: --compression zstd: Mender clients 3.x cannot read it (they refuse header.tar.zst); use gzip or none for them\n',
    );
  }
  // `-o -`: the artifact goes to stdout (built in a temp file first, then streamed).
  const output = s['output-path'] === '-' ? '-' : resolve(io.cwd, s['output-path'] ?? 'artifact.mender');
  const options: WriteArtifactOptions = {
    type: required(s.type, '-T/--type'),
    artifactName: required(s['artifact-name'], '-n/--artifact-name'),
    deviceTypes: a.lists['device-type'] ?? [],
    files: (a.lists.file ?? []).map((f) => resolve(io.cwd, f)),
    compression,
  };
  if (options.deviceTypes.length === 0) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', '-t/--device-type is required', {
      option: '--device-type',
    });
  }
  if (s['provides-group'] !== undefined) options.artifactGroup = s['provides-group'];
  if (a.lists['artifact-name-depends']) options.dependsArtifactName = a.lists['artifact-name-depends'];
  if (a.lists['depends-groups']) options.dependsGroups = a.lists['depends-groups'];
  if (a.lists.provides) options.provides = parseKeyValues(a.lists.provides, '-p/--provides');
  if (a.lists.depends) options.depends = parseKeyValues(a.lists.depends, '-d/--depends');
  if (a.lists['clears-provides']) options.clearsProvides = a.lists['clears-provides'];
  if (s['software-name'] !== undefined) options.softwareName = s['software-name'];
  if (s['software-version'] !== undefined) options.softwareVersion = s['software-version'];
  if (s['software-filesystem'] !== undefined) options.softwareFilesystem = s['software-filesystem'];
  if (a.bools['no-default-software-version']) options.noDefaultSoftwareVersion = true;
  if (a.bools['no-default-clears-provides']) options.noDefaultClearsProvides = true;
  const [key] = Object.keys(softwareVersionProvide(options));
  if (key !== undefined && options.provides?.[key]) {
    options.softwareVersionOverridesProvides = softwareOverridesProvides(argv, key);
  }
  if (s['meta-data'] !== undefined) options.metaData = await readMetaData(resolve(io.cwd, s['meta-data']));
  if (s.key !== undefined) {
    const keyFile = resolve(io.cwd, s.key);
    options.signingKey = await readFile(keyFile, 'utf8').catch((err: unknown) => {
      throw new OciDeltaError('ERR_INPUT', `-k/--key ${keyFile}: ${(err as Error).message}`, {
        path: keyFile,
      });
    });
  }
  if (s['max-artifact-size'] !== undefined) {
    options.maxArtifactSize = parseByteSize(s['max-artifact-size'], '--max-artifact-size');
  }
  if (s['warn-artifact-size'] !== undefined) {
    options.warnArtifactSize = parseByteSize(s['warn-artifact-size'], '--warn-artifact-size');
  }
  return { output, options, progress: a.bools['no-progress'] !== true };
}

/** `write module-image` under `path`, with ocidelta's or mender-artifact's short letters. */
function writeCommand(path: string[], flags: 'ocidelta' | 'mender-artifact', summary: string): CommandDef {
  return {
    path,
    summary,
    ...(flags === 'ocidelta' ? { unknownOptionHints: OTHER_MEANING_HINTS } : {}),
    define(cli, io) {
      const cmd = cli.command('', 'Write a Mender artifact v3 module-image artifact');
      for (const f of flags === 'ocidelta' ? OCIDELTA_FLAGS : FLAGS) {
        const name = `${f.short ? `-${f.short}, ` : ''}--${f.long}${f.arg ? ` <${f.arg}>` : ''}`;
        cmd.option(name, f.help, f.long.startsWith('no-') ? { default: false } : undefined);
      }
      cmd
        .example(
          `ocidelta ${path.join(' ')} -T app -t raspberrypi4 -n web-1.0 -f images.tar.gz -o web.mender`,
        )
        .action(async () => {
          const { output, options, progress } = await writeOptionsFromArgs(cli.rawArgs.slice(2), io, flags);
          options.onWarning = (m) => io.stderr.write(`ocidelta: warning: ${m}\n`);
          if (io.signal) options.signal = io.signal;
          const toStdout = output === '-';
          // Partial artifacts a killed run left beside the output.
          if (!toStdout) await sweepLeftovers(dirname(output));
          const result = await withProgress(io, { quiet: !progress }, { title: 'artifact' }, (onProgress) => {
            const all = { ...options, ...(onProgress ? { onProgress } : {}) };
            return toStdout ? writeArtifactTo(io.stdout, all) : writeArtifact(output, all);
          });
          const said = `(${result.size} bytes${result.signed ? ', signed' : ''})`;
          if (toStdout) io.stderr.write(`wrote the artifact to stdout ${said}\n`);
          else io.stdout.write(`wrote ${result.path} ${said}\n`);
          return ExitCode.Ok;
        });
    },
  };
}

export const artifactWriteCommand = writeCommand(
  ['artifact', 'write', 'module-image'],
  'ocidelta',
  "Write a Mender artifact for an update module (mender-artifact's flags; -p/-g/-m by long name)",
);

/** mender-artifact's command line as it is, short letters included: a drop-in in scripts. */
export const menderArtifactWriteCommand = writeCommand(
  ['mender-artifact', 'write', 'module-image'],
  'mender-artifact',
  'mender-artifact write module-image, flag for flag (its -p provides, -g provides-group, -m meta-data)',
);
