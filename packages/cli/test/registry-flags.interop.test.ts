// The registry flags users look for, against real parts: --ca / --cert-dir with the real
// docker-registry over TLS, --retry-times counted at a loopback fault proxy answering 503,
// --debug tracing requests without secrets, and the plain-HTTP-to-HTTPS mistake explained.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import {
  type FaultProxy,
  type RunningRegistry,
  startFaultProxy,
  startRegistry,
  startTlsRegistry,
  type TlsRegistry,
} from '../../registry/test/harness/index.js';
import { runCapture } from './support.js';

describe.skipIf(!haveBinaries('docker-registry', 'openssl'))('registry flags', () => {
  let tls: TlsRegistry;
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-flags-'));
    tls = await startTlsRegistry();
    reg = await startRegistry({ auth: 'htpasswd' });
    proxy = await startFaultProxy(reg.url);
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
    await tls?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('--ca FILE and --cert-dir DIR make a private CA trusted; without them the error says what to do', async () => {
    const ref = `${tls.host}/flags/none`;
    const untrusted = await runCapture(['tags', ref, '--retry-times', '0']);
    expect(untrusted.code).toBe(2);
    expect(untrusted.err).toContain('TLS certificate not trusted');
    await writeFile(join(work, 'ca.pem'), tls.ca);
    const withCa = await runCapture(['tags', ref, '--ca', join(work, 'ca.pem'), '--json']);
    // reaching the registry over verified TLS: the repository does not exist (404), not a TLS error
    expect(withCa.err).not.toContain('TLS');
    expect(withCa.err).toMatch(/NAME_UNKNOWN|not found|unknown/i);
    const certs = join(work, 'certs.d');
    await mkdir(certs);
    await writeFile(join(certs, 'registry.crt'), tls.ca);
    await writeFile(join(certs, 'README'), 'ignored: not a .crt');
    const withDir = await runCapture(['tags', ref, '--cert-dir', certs]);
    expect(withDir.err).not.toContain('TLS');
    const notPem = await runCapture(['tags', ref, '--ca', join(certs, 'README')]);
    expect(notPem.code).toBe(2);
    expect(notPem.err).toContain('is not a PEM certificate');
  });

  it('--retry-times bounds the retries of a failing request; --debug traces them without the password', async () => {
    proxy.addFault({ path: '/v2/', fault: { kind: 'status', status: 503 }, times: Infinity });
    const creds = `${reg.username}:${reg.password}`;
    const before = proxy.requests.length;
    const none = await runCapture(['tags', `${proxy.host}/flags/x`, '--retry-times', '0', '--creds', creds]);
    expect(none.code).toBe(2);
    expect(proxy.requests.length - before).toBe(1);
    const mid = proxy.requests.length;
    const two = await runCapture([
      'tags',
      `${proxy.host}/flags/x`,
      '--retry-times',
      '2',
      '--creds',
      creds,
      '--debug',
    ]);
    expect(two.code).toBe(2);
    expect(proxy.requests.length - mid).toBe(3);
    expect(two.err).toMatch(/debug: GET http:\/\/127\.0\.0\.1:\d+\/v2\/ -> 503/);
    expect(two.err).not.toContain(reg.password);
    proxy.clearFaults();
    const ok = await runCapture(['tags', `${proxy.host}/flags/x`, '--creds', creds, '--debug']);
    expect(ok.err).toMatch(/debug: GET .*\/v2\/flags\/x\/tags\/list -> 404/);
    expect(ok.err).not.toContain(reg.password);
    const bad = await runCapture(['tags', `${proxy.host}/flags/x`, '--retry-times', 'many']);
    expect(bad.code).toBe(1);
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  it.skipIf(external === undefined)(
    'a plain-HTTP registry without --insecure: "server gave an HTTP response to an HTTPS client"',
    async () => {
      const server = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
      await new Promise<void>((resolve) => server.listen(0, external, resolve));
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      try {
        const r = await runCapture(['tags', `${external}:${port}/x/y`, '--retry-times', '0']);
        expect(r.code).toBe(2);
        expect(r.err).toContain('server gave an HTTP response to an HTTPS client');
        expect(r.err).toContain('--insecure');
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  );
});
