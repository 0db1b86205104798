/** The app pipeline (compose -> Mender app artifact) as a library. */

// The CLI's hint codes (HintCodes augmentation) reach consumers of this entry.
import type {} from '../errors.js';

export { parseByteSize } from '../kit/size.js';
export {
  type AppMetaData,
  appMetaData,
  type ImagePayload,
  writeImagesTarGz,
  writeManifestsTarGz,
} from './app-payload.js';
export { type BuildAppOptions, type BuildAppResult, buildAppArtifact } from './build-app-artifact.js';
export { AppCache, type CacheEntry, type DeltaKey } from './cache.js';
export { type ComposeFile, type ComposeService, parseCompose, readCompose } from './compose.js';
export { checkImageIdentity, type ExpectedIdentity } from './image-identity.js';
export { type FileImage, type ImageResolver, readServiceFile } from './image-sources.js';
export { MenderServer, type MenderServerOptions } from './mender-server.js';
export {
  type AppOptions,
  type ArtifactCompression,
  DEFAULT_MENDER_HOST,
  type DeviceStore,
  defaultCacheDir,
  type RegistryAccess,
} from './options.js';
export type {
  DeltaPlan,
  FullPlan,
  LayerPlan,
  ReleasePlan,
  ServiceMode,
  ServicePlan,
} from './plan.js';
export { findPreviousRelease, type PreviousRelease } from './previous-release.js';
export { type AppEvent, type AppEventListener, appRenderer } from './progress.js';
export { type Delivery, parseReleaseMetadata, type ReleaseMetadata } from './release-metadata.js';
export {
  type DeltaLayerFigures,
  type DeviceCost,
  type PayloadOutcome,
  type ServiceResult,
  summaryTable,
} from './results.js';
export {
  type InstalledImage,
  type VerifyInstallOptions,
  type VerifyInstallResult,
  verifyInstall,
} from './verify-install.js';
