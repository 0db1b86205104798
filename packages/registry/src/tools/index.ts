/** Release-engineering tools: manifest list merge, layer injection, published status. */
export * from './index-merge.js';
export * from './layer-inject.js';
export * from './status.js';
