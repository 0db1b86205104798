/** OCI image layout directories, oci-archive and docker-archive tars: readers, writers, tar helpers. */
export * from './archive-source.js';
export * from './docker-archive.js';
export * from './docker-metadata.js';
export * from './file-lock.js';
export * from './oci-archive.js';
export * from './oci-layout.js';
export * from './resolve.js';
export * from './safe-path.js';
export * from './tar-format.js';
export * from './tar-index.js';
export * from './tar-writer.js';
export * from './work-dir.js';
export * from './write-blob.js';
export * from './write-image.js';
