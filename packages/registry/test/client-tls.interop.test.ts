// RegistryClient against the real docker-registry serving TLS with a self-signed certificate
// (the shared harness's startTlsRegistry): untrusted certificates fail without downgrading to
// HTTP, the `ca` option and `insecureRegistries` work, HTTPS_PROXY tunnels keep TLS end to end.
import { isOciDeltaError, Reference } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { RegistryClient } from '../src/index.js';
import { digestOfBytes, startForwardProxy, startTlsRegistry, type TlsRegistry } from './harness/index.js';

describe.skipIf(!haveBinaries('docker-registry', 'openssl'))('RegistryClient over TLS', () => {
  let tls: TlsRegistry;
  let host: string;
  let ca: string;

  beforeAll(async () => {
    tls = await startTlsRegistry();
    host = tls.host;
    ca = tls.ca;
  });
  afterAll(async () => {
    await tls?.stop();
  });

  it('refuses an untrusted certificate without falling back to plain HTTP', async () => {
    const client = new RegistryClient({ useDockerConfig: false, retries: { max: 0 } });
    const err = await client
      .headManifest(Reference.parse(`${host}/tls/app:1`))
      .then(() => undefined)
      .catch((e: unknown) => e as Error);
    expect(isOciDeltaError(err, 'ERR_NETWORK')).toBe(true);
    expect(err?.message).toContain('TLS certificate not trusted');
    await client.close();
  });

  it('works with the CA given, and with the registry marked insecure', async () => {
    const data = Buffer.from('over tls');
    const withCa = new RegistryClient({ ca, useDockerConfig: false });
    const repo = Reference.parse(`${host}/tls/app:1`);
    await withCa.uploadBlob(repo, data, { digest: digestOfBytes(data), size: data.length });
    expect(await withCa.headBlob(repo, digestOfBytes(data))).toEqual({ size: data.length });
    await withCa.close();
    const insecure = new RegistryClient({ insecureRegistries: [host], useDockerConfig: false });
    expect(await insecure.headBlob(repo, digestOfBytes(data))).toEqual({ size: data.length });
    await insecure.close();
  });

  it('goes through HTTPS_PROXY with a CONNECT tunnel (certificate still verified end to end); NO_PROXY goes direct', async () => {
    const proxy = await startForwardProxy();
    try {
      const repo = Reference.parse(`${host}/tls/proxied:1`);
      const data = Buffer.from('through the proxy');
      const env = { HTTPS_PROXY: proxy.url };
      const viaProxy = new RegistryClient({ ca, useDockerConfig: false, env });
      await viaProxy.uploadBlob(repo, data, { digest: digestOfBytes(data), size: data.length });
      expect(await viaProxy.headBlob(repo, digestOfBytes(data))).toEqual({ size: data.length });
      await viaProxy.close();
      expect(proxy.seen.length).toBeGreaterThan(0);
      expect(proxy.seen.every((l) => l === `CONNECT ${host}`)).toBe(true);
      // through the tunnel the registry's certificate is still checked
      const untrusted = new RegistryClient({ useDockerConfig: false, env, retries: { max: 0 } });
      const err = await untrusted
        .headBlob(repo, digestOfBytes(data))
        .then(() => undefined)
        .catch((e: unknown) => e as Error);
      expect(err?.message).toContain('TLS certificate not trusted');
      await untrusted.close();
      const before = proxy.seen.length;
      const direct = new RegistryClient({
        ca,
        useDockerConfig: false,
        env: { ...env, NO_PROXY: '127.0.0.1' },
      });
      expect(await direct.headBlob(repo, digestOfBytes(data))).toEqual({ size: data.length });
      await direct.close();
      expect(proxy.seen.length).toBe(before);
    } finally {
      await proxy.stop();
    }
  });
});
