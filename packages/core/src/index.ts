/** @ocidelta/core: OCI image model, references, digests, layouts, archives and Mender artifacts. */

export * from './abort.js';
export * from './artifact/index.js';
export { type ParallelGzipOptions, parallelGzip } from './artifact/pgzip.js';
export * from './build/index.js';
export * from './compression.js';
export * from './digest.js';
export * from './errors.js';
export * from './layout/index.js';
export * from './limits.js';
export * from './media-types.js';
export * from './model.js';
export * from './platform.js';
export * from './progress.js';
export * from './reference.js';
export * from './schemas.js';
export * from './tar/index.js';
export * from './yaml-document.js';
