/** @ocidelta/registry: Distribution API v2 client (auth, manifests, blobs, tags) and pull/push/copy. */
export {
  type AuthEndpoint,
  Authenticator,
} from './auth.js';
export {
  type BlobProgress,
  type ResumableGetOptions,
  resumableBlobStream,
} from './blob-reader.js';
export {
  CATALOG_SCOPE,
  type Challenge,
  deleteScope,
  type ParsedScope,
  pullScope,
  pushScope,
} from './challenge.js';
export { RegistryClient } from './client.js';
export type { IndexOrImage, ManifestResult, RegistryClientOptions } from './client-options.js';
export {
  CredentialStore,
  type CredentialStoreOptions,
  type CredentialsOption,
  type Creds,
  credentialFiles,
  credsFromConfig,
  DOCKER_HUB_KEY,
  type DockerConfig,
  DockerConfigSchema,
  type HelperRun,
  runCredentialHelper,
} from './credentials.js';
export {
  RegistryError,
  type RegistryErrorContext,
  type RegistryErrorEntry,
  RegistryErrorEntrySchema,
  type RegistryResource,
} from './errors.js';
export { type LoginOptions, login, loginFile, logout } from './login.js';
export { MAX_MANIFEST_SIZE } from './manifests.js';
export { listAll } from './pagination.js';
export { dispatcherFor, type ProxySettings, proxyForProtocol, proxySettings } from './proxy.js';
export {
  DEFAULT_RETRY_POLICY,
  DEFAULT_TIMEOUTS,
  RESUME_PROGRESS_BYTES,
  type RetryPolicy,
  retryPolicy,
  sleep,
  type Timeouts,
  timeouts,
} from './retry.js';
export { type RegistryStoreOptions, registryStore } from './store.js';
export {
  MIN_TOKEN_LIFETIME_S,
  TokenCache,
  TokenFetcher,
  type TokenFetcherOptions,
  type TokenHttp,
  type TokenRequest,
} from './token.js';
export {
  CVMFS_DIFF_ID_LABEL,
  CVMFS_DIGEST_LABEL,
  DEFAULT_STATUS_CONCURRENCY,
  INJECTED_DIFF_ID_LABEL,
  INJECTED_DIGEST_LABEL,
  type IndexMergeOptions,
  type IndexMergeResult,
  imageStatus,
  injectLayer,
  type LayerInjectOptions,
  type LayerInjectResult,
  type MergedEntry,
  mergeIndex,
  parseRefsFile,
  type RefStatus,
  refStatus,
  resolveLayerToExtract,
  type StatusOptions,
} from './tools/index.js';
export {
  type CopyOptions,
  copyImage,
  DEFAULT_CONCURRENCY,
  imagesOf,
  type ManifestFetcher,
  type ManifestNode,
  type PlatformChoice,
  type PullOptions,
  type PushOptions,
  type PushSource,
  planPull,
  planTransfer,
  pullImage,
  pullPlanIntoLayout,
  pushLayout,
  pushPlan,
  type TransferOptions,
  type TransferPhase,
  type TransferProgress,
  type TransferResult,
  type WriteImageOptions,
  writeImage,
} from './transfer/index.js';
export { requestVia } from './undici.js';
export {
  type BlobData,
  DEFAULT_CHUNK_SIZE,
  type UploadContext,
  type UploadOptions,
  type UploadResult,
  uploadBlob,
} from './upload.js';
