/** OCI image layout directories, oci-archive and docker-archive tars: readers, writers, tar helpers. */
export * from './oci-layout.js';
export * from './resolve.js';
export * from './safe-path.js';
export * from './write-blob.js';
export * from './write-image.js';
