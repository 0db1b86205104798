/**
 * Entry point of the `ocidelta` CLI as a function: `runCli(argv, io)` returns the exit code and
 * never calls process.exit, so tests run it in-process.
 */
import { createRequire } from 'node:module';
import { OciDeltaError } from '@ocidelta/core';
import { cac } from 'cac';
import { type CliIO, type CommandDef, ExitCode } from './command.js';
import { commands as builtins } from './commands/index.js';
import { redactingStream, Secrets } from './redact.js';

const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string };

export const VERSION: string = pkg.version;

function matchCommand(argv: readonly string[], defs: readonly CommandDef[]): CommandDef | undefined {
  let best: CommandDef | undefined;
  for (const def of defs) {
    if (def.path.length <= argv.length && def.path.every((w, i) => argv[i] === w)) {
      if (!best || def.path.length > best.path.length) best = def;
    }
  }
  return best;
}

function rootHelp(defs: readonly CommandDef[]): string {
  const width = Math.max(...defs.map((d) => d.path.join(' ').length), 10);
  const lines = defs.map((d) => `  ${d.path.join(' ').padEnd(width)}  ${d.summary}`);
  return [
    `ocidelta/${VERSION}`,
    '',
    'Turn container images in an OCI registry into small, verified Mender OTA updates.',
    '',
    'Usage:',
    '  $ ocidelta <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `ocidelta <command> --help` for the options of a command.',
    '',
  ].join('\n');
}

/** Print an error the way every command does: message, then code; returns the exit code. */
export function reportError(err: unknown, io: CliIO): number {
  if (err instanceof OciDeltaError) {
    io.stderr.write(`ocidelta: ${err.message} [${err.code}]\n`);
    const exit = (err.details as { exitCode?: number }).exitCode;
    if (typeof exit === 'number') return exit;
    if (err.code === 'ERR_INVALID_OPTIONS') return ExitCode.Usage;
    if (err.code === 'ERR_MENDER_SERVER') return ExitCode.Server;
    return ExitCode.Input;
  }
  const msg = err instanceof Error ? err.message : String(err);
  io.stderr.write(`ocidelta: ${msg}\n`);
  // cac throws CACError for unknown options / missing args: a usage error.
  if (err instanceof Error && err.name === 'CACError') return ExitCode.Usage;
  return ExitCode.Input;
}

/** Run the CLI with `argv` (without node and script), returning the exit code. */
export async function runCli(
  argv: readonly string[],
  rawIO: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() },
  defs: readonly CommandDef[] = builtins,
): Promise<number> {
  const secrets = Secrets.fromRun(argv, rawIO.env);
  const io: CliIO = {
    ...rawIO,
    stderr: redactingStream(rawIO.stderr, secrets),
    redact: (t) => secrets.redact(t),
  };
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout.write(rootHelp(defs));
    return argv.length === 0 ? ExitCode.Usage : ExitCode.Ok;
  }
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === '-v') {
    io.stdout.write(`${VERSION}\n`);
    return ExitCode.Ok;
  }
  const def = matchCommand(argv, defs);
  if (!def) {
    io.stderr.write(`ocidelta: unknown command "${secrets.argv(argv).join(' ')}"; run \`ocidelta --help\`\n`);
    return ExitCode.Usage;
  }
  const cli = cac(`ocidelta ${def.path.join(' ')}`);
  cli.help((sections) => {
    sections.unshift({ body: def.summary });
    return sections;
  });
  cli.version(VERSION, '-V, --version');
  def.define(cli, io);
  const rest = argv.slice(def.path.length);
  const originalLog = console.log;
  console.log = (...parts: unknown[]) => io.stdout.write(`${parts.join(' ')}\n`);
  try {
    cli.parse(['node', 'ocidelta', ...rest], { run: false });
    if (cli.options.help || cli.options.version) return ExitCode.Ok;
    const result: unknown = await cli.runMatchedCommand();
    return typeof result === 'number' ? result : ExitCode.Ok;
  } catch (err) {
    return reportError(err, io);
  } finally {
    console.log = originalLog;
  }
}
