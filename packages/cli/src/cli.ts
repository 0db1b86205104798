/**
 * Entry point of the `ocidelta` CLI as a function: `runCli(argv, io)` returns the exit code and
 * never calls process.exit, so tests run it in-process.
 */
import { createRequire } from 'node:module';
// Only the errors module of core: `--help`, `--version` and the command table load nothing else;
// a command's own modules load when it runs (see commands/table.ts).
import { OciDeltaError } from '@ocidelta/core/errors';
import { cac } from 'cac';
import { type CliIO, type CommandDef, type CommandSource, ExitCode } from './command.js';
import './errors.js';
import { defaultCommands } from './commands/table.js';
import { errorMessage } from './kit/hints.js';
import { redactingStream, Secrets } from './redact.js';

const require = createRequire(import.meta.url);
const pkg = require('../package.json') as { version: string };

export const VERSION: string = pkg.version;

function matchCommand(argv: readonly string[], defs: readonly CommandSource[]): CommandSource | undefined {
  let best: CommandSource | undefined;
  for (const def of defs) {
    if (def.path.length <= argv.length && def.path.every((w, i) => argv[i] === w)) {
      if (!best || def.path.length > best.path.length) best = def;
    }
  }
  return best;
}

/** cac's help without its noise: no "For more info" block, arguments titled as such, no trailing spaces. */
function cleanHelp(
  def: CommandDef,
  sections: { title?: string; body: string }[],
): { title?: string; body: string }[] {
  const kept = sections
    .filter((s) => !s.title?.startsWith('For more info'))
    .map((s) => ({
      ...(s.title !== undefined ? { title: s.title === 'Commands' ? 'Arguments' : s.title } : {}),
      body: s.body
        .split('\n')
        .map((l) => l.trimEnd())
        .join('\n'),
    }))
    .filter((s) => s.title !== 'Arguments' || s.body.trim() !== '');
  return [{ body: def.summary }, ...kept];
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = row[j] as number;
      row[j] = Math.min(here + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return row[b.length] as number;
}

/** The command paths closest to what was typed (within 2 edits of a word or of the whole path). */
export function suggestCommands(argv: readonly string[], defs: readonly CommandSource[]): string[] {
  const scored = defs.map((d) => {
    const typed = argv.slice(0, d.path.length).join(' ');
    return { path: d.path.join(' '), score: distance(typed, d.path.join(' ')) };
  });
  const best = Math.min(...scored.map((s) => s.score));
  return best <= 2 ? scored.filter((s) => s.score === best).map((s) => s.path) : [];
}

/** Help of a command group (`ocidelta delta`): its commands. */
function groupHelp(group: readonly string[], defs: readonly CommandSource[]): string | undefined {
  const members = defs.filter((d) => d.path.length > group.length && group.every((w, i) => d.path[i] === w));
  if (members.length === 0) return undefined;
  const width = Math.max(...members.map((d) => d.path.join(' ').length));
  return [
    `ocidelta ${group.join(' ')}/${VERSION}`,
    '',
    'Usage:',
    `  $ ocidelta ${group.join(' ')} <command> [options]`,
    '',
    'Commands:',
    ...members.map((d) => `  ${d.path.join(' ').padEnd(width)}  ${d.summary}`),
    '',
    `Run \`ocidelta ${group.join(' ')} <command> --help\` for the options of a command.`,
    '',
  ].join('\n');
}

function rootHelp(defs: readonly CommandSource[]): string {
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
    io.stderr.write(`ocidelta: ${errorMessage(err)} [${err.code}]\n`);
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
  commands?: readonly CommandSource[],
): Promise<number> {
  const defs = commands ?? (await defaultCommands());
  const secrets = Secrets.fromRun(argv, rawIO.env);
  const interrupt = rawIO.signal === undefined ? watchSignals() : undefined;
  const io: CliIO = {
    ...rawIO,
    stderr: redactingStream(rawIO.stderr, secrets),
    redact: (t) => secrets.redact(t),
    ...(interrupt ? { signal: interrupt.signal } : {}),
  };
  try {
    const code = await runCommand(argv, io, rawIO, defs, secrets);
    const caught = interrupt?.caught();
    if (caught === undefined) return code;
    io.stderr.write(`ocidelta: interrupted (${caught}); temporary files removed\n`);
    return caught === 'SIGINT' ? ExitCode.Interrupted : ExitCode.Terminated;
  } finally {
    interrupt?.stop();
  }
}

/**
 * SIGINT / SIGTERM abort the run's signal (the command unwinds: streams stop, temporary files
 * and work directories are removed) and the exit code becomes 130 / 143; a second signal
 * exits at once.
 */
function watchSignals(): { signal: AbortSignal; caught(): NodeJS.Signals | undefined; stop(): void } {
  const controller = new AbortController();
  let caught: NodeJS.Signals | undefined;
  const on = (sig: NodeJS.Signals) => {
    if (caught !== undefined) process.exit(sig === 'SIGINT' ? ExitCode.Interrupted : ExitCode.Terminated);
    caught = sig;
    controller.abort(new OciDeltaError('ERR_ABORTED', `interrupted by ${sig}`, { signal: sig }));
  };
  const onInt = () => on('SIGINT');
  const onTerm = () => on('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    caught: () => caught,
    stop() {
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGTERM', onTerm);
    },
  };
}

/** `-o -` (stdout) as `-o=-`: cac's parser takes a lone `-` after an option for no value at all. */
function dashValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const [i, a] of args.entries()) {
    if (a === '--') return [...out, ...args.slice(i)];
    const prev = out.at(-1);
    if (a === '-' && prev !== undefined && /^--?[A-Za-z][\w-]*$/.test(prev))
      out[out.length - 1] = `${prev}=-`;
    else out.push(a);
  }
  return out;
}

async function runCommand(
  argv: readonly string[],
  io: CliIO,
  rawIO: CliIO,
  defs: readonly CommandSource[],
  secrets: Secrets,
): Promise<number> {
  if (argv[0] === 'help' && argv.length > 1) return runCli([...argv.slice(1), '--help'], rawIO, defs);
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout.write(rootHelp(defs));
    return argv.length === 0 ? ExitCode.Usage : ExitCode.Ok;
  }
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === '-v') {
    io.stdout.write(`${VERSION}\n`);
    return ExitCode.Ok;
  }
  const found = matchCommand(argv, defs);
  if (!found) {
    // A group (`ocidelta delta`): its commands; `--help` asks for them, anything else is a usage error.
    for (let n = argv.length; n > 0; n--) {
      const help = argv.slice(0, n).every((w) => !w.startsWith('-'))
        ? groupHelp(argv.slice(0, n), defs)
        : undefined;
      if (help === undefined) continue;
      const asked = argv.includes('--help') || argv.includes('-h');
      if (!asked && argv.length > n) {
        io.stderr.write(`ocidelta: unknown command "${secrets.argv(argv.slice(0, n + 1)).join(' ')}"\n`);
      }
      (asked ? io.stdout : io.stderr).write(help);
      return asked ? ExitCode.Ok : ExitCode.Usage;
    }
    const hints = suggestCommands(argv, defs);
    const hint =
      hints.length > 0 ? `; did you mean ${hints.map((h) => `\`ocidelta ${h}\``).join(' or ')}?` : '';
    io.stderr.write(
      `ocidelta: unknown command "${secrets.argv(argv).join(' ')}"${hint || '; run `ocidelta --help`'}\n`,
    );
    return ExitCode.Usage;
  }
  const def = 'load' in found ? await found.load() : found;
  const cli = cac(`ocidelta ${def.path.join(' ')}`);
  cli.help((sections) => cleanHelp(def, sections));
  cli.version(VERSION, '-V, --version');
  def.define(cli, io);
  const rest = dashValues(argv.slice(def.path.length));
  const originalLog = console.log;
  console.log = (...parts: unknown[]) => io.stdout.write(`${parts.join(' ')}\n`);
  try {
    cli.parse(['node', 'ocidelta', ...rest], { run: false });
    if (cli.options.help || cli.options.version) return ExitCode.Ok;
    const result: unknown = await cli.runMatchedCommand();
    return typeof result === 'number' ? result : ExitCode.Ok;
  } catch (err) {
    const unknown =
      err instanceof Error && err.name === 'CACError' ? /^Unknown option `(.+)`/.exec(err.message) : null;
    const hint = unknown ? def.unknownOptionHints?.[unknown[1] as string] : undefined;
    if (hint !== undefined) {
      io.stderr.write(`ocidelta: ${unknown?.[1]}: ${hint}\n`);
      return ExitCode.Usage;
    }
    return reportError(err, io);
  } finally {
    console.log = originalLog;
  }
}
