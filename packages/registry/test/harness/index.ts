/**
 * Test harness for @ocidelta/registry (and the CLI's registry tests): the real
 * `docker-registry` in three auth configurations, a token server, a fault-injecting proxy, and
 * test images pushed with the real `skopeo`.
 */
export * from './certs.js';
export * from './fault-proxy.js';
export * from './forward-proxy.js';
export * from './images.js';
export * from './registry.js';
export * from './results.js';
export * from './token-server.js';
