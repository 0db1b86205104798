/** @ocidelta/delta */
export * from './vcdiff/index.js';
