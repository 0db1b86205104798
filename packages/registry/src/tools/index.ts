/** Release-engineering tools: manifest list merge, layer injection, published status. */
export {
  type IndexMergeOptions,
  type IndexMergeResult,
  type MergedEntry,
  mergeIndex,
  platformIdentity,
} from './index-merge.js';
export {
  CVMFS_DIFF_ID_LABEL,
  CVMFS_DIGEST_LABEL,
  INJECTED_DIFF_ID_LABEL,
  INJECTED_DIGEST_LABEL,
  injectedLayerIndex,
  injectLayer,
  type LayerInjectOptions,
  type LayerInjectResult,
  resolveLayerToExtract,
} from './layer-inject.js';
export {
  DEFAULT_STATUS_CONCURRENCY,
  imageStatus,
  parseRefsFile,
  type RefStatus,
  refStatus,
  type StatusOptions,
} from './status.js';
