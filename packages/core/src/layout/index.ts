/** OCI image layout directories, oci-archive and docker-archive tars: readers and writers. */

export {
  type ArchiveEntry,
  type ArchiveImages,
  archiveImages,
  TarBlobSource,
} from './archive-source.js';
export {
  type DockerArchiveWriteOptions,
  dockerArchiveFromTar,
  readDockerArchive,
  readImageArchive,
  writeDockerArchive,
} from './docker-archive.js';
export {
  type DockerArchiveImage,
  type DockerArchiveMetadata,
  type DockerLayerMode,
  type DockerManifestItem,
  DockerManifestItemSchema,
  DockerManifestJsonSchema,
  type DockerMetadataOptions,
  dockerArchiveLayers,
  dockerArchiveMetadata,
  normalizeRepoTag,
  rewriteManifestLayers,
  uncompressedLayerDescriptor,
} from './docker-metadata.js';
export {
  addBlobDirs,
  addBlobEntry,
  archiveLayout,
  entriesFromIndex,
  readArchiveIndex,
  readOciArchive,
  writeOciArchive,
} from './oci-archive.js';
export {
  emptyIndex,
  OCI_LAYOUT_FILE,
  OCI_LAYOUT_VERSION,
  OciLayout,
  ociLayoutBytes,
  parseIndexJson,
  parseOciLayoutFile,
} from './oci-layout.js';
export {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  type ImageSelector,
  matchRefName,
  normalizedRef,
  platformOfSelector,
  type ResolveContext,
  refNamesOf,
  resolveImage,
  resolveIndex,
  resolveTopLevel,
  selectPlatform,
} from './resolve.js';
export {
  assertSafeEntryName,
  assertSafeFileName,
  blobEntryName,
  blobFilePath,
  normalizeEntryName,
} from './safe-path.js';
export {
  type ByteProgress,
  type ExpectedContent,
  HashingCounter,
  type WriteOptions,
  writeFileVerified,
} from './write-blob.js';
export {
  entryDescriptor,
  entryImages,
  type ImageWriteOptions,
  type ImageWritePhase,
  type ImageWriteProgress,
  imageDescriptor,
  type NamedImage,
  type NamedIndex,
  refAnnotations,
  withOverallProgress,
  writeOciLayout,
} from './write-image.js';
