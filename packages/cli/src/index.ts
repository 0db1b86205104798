/** ocidelta: the CLI and the app pipeline as a library. */

export * from './app/index.js';
export { globPattern, orderChain, selectChain } from './chain/graph.js';
export {
  type ChainEntry,
  type ChainRunOptions,
  type ChainState,
  chainRef,
  planChain,
  runChain,
} from './chain/run.js';
export { type ChainImage, readChainTree, versionOf } from './chain/tree.js';
export { verifyBuiltImage } from './chain/verify.js';
export { reportError, runCli, VERSION } from './cli.js';
export { type CliIO, type CommandDef, ExitCode } from './command.js';
export { REDACTED, redactPatterns, Secrets } from './redact.js';
