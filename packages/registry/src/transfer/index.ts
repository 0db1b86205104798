/** Pull, push and copy of images and indexes between registries, OCI layouts and archives. */
export { type CopyOptions, copyImage } from './copy.js';
export {
  checkDigest,
  imagesOf,
  type ManifestFetcher,
  type ManifestNode,
  manifestsInOrder,
  type PlatformChoice,
  planTransfer,
  uniqueBlobs,
} from './plan.js';
export {
  DEFAULT_CONCURRENCY,
  type TransferOptions,
  type TransferPhase,
  type TransferProgress,
  type TransferResult,
} from './progress.js';
export { type PullOptions, planPull, pullImage, pullPlanIntoLayout } from './pull.js';
export { type PushOptions, type PushSource, pushLayout, pushPlan } from './push.js';
export { type WriteImageOptions, writeImage } from './write-image.js';
