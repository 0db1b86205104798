import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadUndiciParts, undici } from '../src/undici.js';

// The client loads undici's parts by their paths inside the package: they must be the package's
// own exports (an undici upgrade that moves a file fails here). Requests through them are what
// every registry interop test sends to the real docker-registry.
describe('undici parts', () => {
  it('are the classes the undici package exports', () => {
    const full = createRequire(import.meta.url)('undici') as typeof import('undici');
    const parts = undici();
    expect(parts.Agent).toBe(full.Agent);
    expect(parts.EnvHttpProxyAgent).toBe(full.EnvHttpProxyAgent);
    // Every dispatcher has the request API (a proxy tunnel calls `connect` on its client).
    const agent = new parts.Agent();
    expect(typeof (agent as unknown as { connect: unknown }).connect).toBe('function');
    expect(typeof agent.request).toBe('function');
  });

  it('fall back to the package index when a part is not where this undici keeps it', () => {
    const full = createRequire(import.meta.url)('undici') as typeof import('undici');
    const parts = loadUndiciParts(import.meta.url, 'undici/lib/moved-in-a-newer-release');
    expect(parts.Agent).toBe(full.Agent);
    expect(parts.EnvHttpProxyAgent).toBe(full.EnvHttpProxyAgent);
    expect(typeof new parts.Agent().request).toBe('function');
  });
});
