/** ocidelta: the CLI and the app pipeline as a library. */
export { reportError, runCli, VERSION } from './cli.js';
export { type CliIO, type CommandDef, ExitCode } from './command.js';
