/** @ocidelta/delta */
export * from './deep/index.js';
export * from './vcdiff/index.js';
