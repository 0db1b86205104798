/** Image building: directory trees, deterministic layer tars, layer diffs, safe extraction, build specs. */
export {
  type BuildOptions,
  type BuildProgress,
  type BuildResult,
  type BuiltImage,
  buildImages,
  type ImageFormat,
  mergeContainerConfig,
} from './build.js';
export {
  diffTrees,
  entryChanged,
  type LayerEntry,
  OPAQUE_WHITEOUT,
  WHITEOUT_PREFIX,
} from './diff.js';
export {
  type ExtractOptions,
  type ExtractResult,
  extractLayer,
  extractLayerTar,
  resolveInRoot,
} from './extract.js';
export {
  type LayerStream,
  type LayerTarOptions,
  layerBlobStream,
  layerTarStream,
  resolveMtime,
} from './layer-tar.js';
export {
  buildEntries,
  multiPlatformIndex,
  platformOfImage,
} from './multi-platform.js';
export {
  formatOfImages,
  namedImages,
  writeBuildOutput,
} from './output.js';
export {
  type BuildContainerConfig,
  BuildContainerConfigSchema,
  type BuildImageSpec,
  BuildImageSpecSchema,
  type BuildSpec,
  BuildSpecSchema,
  type LayerDirs,
  parseBuildSpec,
  readBuildSpec,
  specLayers,
} from './spec.js';
export {
  applyLayerToTree,
  baseOf,
  layerTarError,
  mergeTrees,
  parentOf,
  removeSubtree,
  scanDirectory,
  type Tree,
  type TreeEntry,
  type TreeEntryType,
  treeOfLayers,
} from './tree.js';
export {
  loadXattrModule,
  MAX_XATTR_BYTES,
  sameXattrs,
  type XattrModule,
  type XattrReader,
  type Xattrs,
  xattrReader,
} from './xattrs.js';
