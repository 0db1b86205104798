/** OCI image layout directories, oci-archive and docker-archive tars: readers, writers, tar helpers. */

export * from '../tar/file-index.js';
export * from '../tar/file-writer.js';
export * from './archive-source.js';
export * from './docker-archive.js';
export * from './docker-metadata.js';
export * from './file-lock.js';
export * from './oci-archive.js';
export * from './oci-layout.js';
export * from './resolve.js';
export * from './safe-path.js';
export * from './work-dir.js';
export * from './write-blob.js';
export * from './write-image.js';
