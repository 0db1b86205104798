/** ocidelta: the CLI and the app pipeline as a library. */

export {
  AppCache,
  type AppEvent,
  type AppEventListener,
  type AppMetaData,
  type AppOptions,
  type ArtifactCompression,
  appMetaData,
  appRenderer,
  type BuildAppOptions,
  type BuildAppResult,
  buildAppArtifact,
  type CacheEntry,
  type ComposeFile,
  type ComposeService,
  checkImageIdentity,
  DEFAULT_MENDER_HOST,
  type Delivery,
  type DeltaKey,
  type DeviceStore,
  defaultCacheDir,
  type ExpectedIdentity,
  type FileImage,
  findPreviousRelease,
  type ImagePayload,
  type ImageResolver,
  type InstalledImage,
  MenderServer,
  type MenderServerOptions,
  type PreviousRelease,
  parseByteSize,
  parseCompose,
  parseReleaseMetadata,
  type RegistryAccess,
  type ReleaseMetadata,
  readCompose,
  readServiceFile,
  type ServiceMode,
  type ServicePlan,
  type ServiceResult,
  summaryTable,
  type VerifyInstallOptions,
  type VerifyInstallResult,
  verifyInstall,
  writeImagesTarGz,
  writeManifestsTarGz,
} from './app/index.js';
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
