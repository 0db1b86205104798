/**
 * The CLI's command registry. Each subcommand is a module that exports a `CommandDef`: a path of
 * words (`['artifact', 'write', 'module-image']`), a summary, and `define(cli, io)` which declares
 * the options on a fresh cac instance and returns the action. Multi-word paths are matched here
 * (cac only knows single-word commands).
 */
import type { CAC } from 'cac';

/** Where a command writes. Tests pass buffers; the real CLI passes process streams. */
export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Remove secrets from text meant for a log or --json (set by runCli; see redact.ts). */
  redact?: (text: string) => string;
  /** Aborted on Ctrl-C / SIGTERM (set by runCli): commands pass it to every library call. */
  signal?: AbortSignal;
}

/** Exit codes (documented in docs/cli.md): 0 ok, 1 usage, 2 input/registry, 3 server, 130/143 interrupted. */
export const ExitCode = { Ok: 0, Usage: 1, Input: 2, Server: 3, Interrupted: 130, Terminated: 143 } as const;

/** The action cac calls: positional args then the parsed options object. Returns the exit code. */
export type CommandAction = (...args: never[]) => Promise<number> | number;

/**
 * A command not loaded yet (the built CLI's table, dist/commands/table.json): its words and
 * summary for help and matching, and how to import its module when it runs.
 */
export interface LazyCommand {
  path: readonly string[];
  summary: string;
  load(): Promise<CommandDef>;
}

/** What the CLI dispatches on: a loaded command, or one it loads when matched. */
export type CommandSource = CommandDef | LazyCommand;

export interface CommandDef {
  path: readonly string[];
  summary: string;
  /** Declare arguments and options on `cli` (a cac instance named after the path). */
  define(cli: CAC, io: CliIO): void;
  /**
   * What to say when a peer tool's option that this command does not take is given (`-p` to
   * `login`, docker's password): the message replaces cac's "Unknown option".
   */
  unknownOptionHints?: Readonly<Record<string, string>>;
}
