/** @ocidelta/delta */
import './errors.js';

export * from './deep/index.js';
export * from './vcdiff/index.js';
