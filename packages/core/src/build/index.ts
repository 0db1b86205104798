/** Image building: directory trees, deterministic layer tars, layer diffs, safe extraction, build specs. */
export * from './build.js';
export * from './diff.js';
export * from './extract.js';
export * from './image-refs.js';
export * from './layer-tar.js';
export * from './multi-platform.js';
export * from './output.js';
export * from './spec.js';
export * from './tree.js';
export * from './xattrs.js';
