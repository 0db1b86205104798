/** Mender artifact v3 (module-image): writer, reader, header/manifest format and signatures. */
export {
  buildHeaderInfo,
  buildMetaData,
  buildTypeInfo,
  clearsArtifactProvides,
  type HeaderInfo,
  HeaderInfoSchema,
  softwareVersionProvide,
  type TypeInfo,
  TypeInfoSchema,
  typeInfoProvides,
  VERSION_JSON,
} from './header.js';
export { buildHeaderTar } from './header-tar.js';
export { type ArtifactManifestEntry, formatArtifactManifest, parseArtifactManifest } from './manifest.js';
export {
  ARTIFACT_COMPRESSIONS,
  type ArtifactCompression,
  type ArtifactPayloadFile,
  type ArtifactProgress,
  PAYLOAD_NAME,
  parseKeyValues,
  type WriteArtifactOptions,
  WriteArtifactOptionsSchema,
} from './options.js';
export { type ParallelGzipOptions, parallelGzip } from './pgzip.js';
export {
  type ArtifactInfo,
  type ArtifactPayloadInfo,
  openArtifactPayload,
  type ReadArtifactOptions,
  readArtifact,
} from './reader.js';
export { signManifest, verifyManifestSignature } from './sign.js';
export { type SignArtifactOptions, signArtifact } from './sign-artifact.js';
export {
  compressionExtension,
  type WriteArtifactResult,
  writableCompression,
  writeArtifact,
  writeArtifactTo,
} from './writer.js';
