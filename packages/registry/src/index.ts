/** @ocidelta/registry: Distribution API v2 client (auth, manifests, blobs, tags) and pull/push/copy. */
export * from './auth.js';
export * from './blob-reader.js';
export * from './challenge.js';
export * from './client.js';
export * from './credentials.js';
export * from './errors.js';
export { type LoginOptions, login, loginFile, logout } from './login.js';
export * from './manifests.js';
export * from './pagination.js';
export { dispatcherFor, type ProxySettings, proxyForProtocol, proxySettings } from './proxy.js';
export * from './retry.js';
export * from './token.js';
export * from './tools/index.js';
export * from './transfer/index.js';
export * from './upload.js';
