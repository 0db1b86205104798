/** ocidelta: the CLI and the app pipeline as a library. */

export * from './app/index.js';
export { reportError, runCli, VERSION } from './cli.js';
export { type CliIO, type CommandDef, ExitCode } from './command.js';
