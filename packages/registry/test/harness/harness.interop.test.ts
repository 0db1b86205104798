// Self-test of the harness with the real peers only (docker-registry + skopeo): every auth
// configuration accepts skopeo with the right credentials and refuses the wrong ones, and the
// fault proxy injects what it is told to.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../../test-support/binaries.js';
import {
  type BuiltLayout,
  buildTestLayout,
  digestOfBytes,
  libtrustKeyId,
  skopeoInspectRaw,
  skopeoPushLayout,
  startFaultProxy,
  startRegistry,
} from './index.js';

describe('libtrustKeyId', () => {
  it('formats 48 base32 characters in 12 groups of 4', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = libtrustKeyId(publicKey);
    expect(id).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  });
});

describe.skipIf(!haveBinaries('docker-registry', 'skopeo', 'htpasswd', 'openssl'))('test harness', () => {
  let work: string;
  let layout: BuiltLayout;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-harness-'));
    layout = await buildTestLayout(join(work, 'img'), [{ label: 'harness' }]);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const auth of ['none', 'htpasswd', 'token'] as const) {
    it(`auth ${auth}: skopeo pushes and reads back the same manifest`, async () => {
      const reg = await startRegistry({
        auth,
        tokenOptions: { users: { reader: { password: 'readpass', actions: ['pull'] } } },
      });
      try {
        const creds = auth === 'none' ? undefined : { creds: `${reg.username}:${reg.password}` };
        await skopeoPushLayout(layout, reg.host, 'test/app:v1', creds);
        const raw = await skopeoInspectRaw(`${reg.host}/test/app:v1`, creds);
        expect(digestOfBytes(Buffer.from(raw))).toBe(layout.digest);
        if (auth !== 'none') {
          await expect(
            skopeoInspectRaw(`${reg.host}/test/app:v1`, { creds: `${reg.username}:wrong` }),
          ).rejects.toThrow();
        }
        if (auth === 'token') {
          const ts = reg.tokenServer;
          expect(
            ts?.requests.some((r) => r.status === 200 && r.granted.some((g) => g.includes('push'))),
          ).toBe(true);
          // A pull-only user can read but not push.
          await skopeoInspectRaw(`${reg.host}/test/app:v1`, { creds: 'reader:readpass' });
          await expect(
            skopeoPushLayout(layout, reg.host, 'test/app:v2', { creds: 'reader:readpass' }),
          ).rejects.toThrow();
        }
      } finally {
        await reg.stop();
      }
    });
  }

  it('fault proxy answers injected statuses, cuts and corrupts bodies', async () => {
    const reg = await startRegistry();
    const proxy = await startFaultProxy(reg.url);
    try {
      await skopeoPushLayout(layout, reg.host, 'test/app:v1');
      const layer = layout.images[0]?.layers[0];
      if (!layer) throw new Error('no layer');
      const blobPath = `/v2/test/app/blobs/${layer.digest}`;
      const good = Buffer.from(await (await fetch(`${proxy.url}${blobPath}`)).arrayBuffer());
      expect(digestOfBytes(good)).toBe(layer.digest);

      proxy.addFault({
        path: blobPath,
        fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
      });
      const limited = await fetch(`${proxy.url}${blobPath}`);
      await limited.arrayBuffer();
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('1');

      proxy.addFault({ path: blobPath, fault: { kind: 'corrupt', offset: 5 } });
      const bad = Buffer.from(await (await fetch(`${proxy.url}${blobPath}`)).arrayBuffer());
      expect(bad.length).toBe(good.length);
      expect(bad[5]).toBe((good[5] as number) ^ 0xff);

      proxy.addFault({ path: blobPath, fault: { kind: 'cut', afterBytes: 10 } });
      await expect(fetch(`${proxy.url}${blobPath}`).then((r) => r.arrayBuffer())).rejects.toThrow();
      expect(proxy.pendingFaults()).toBe(0);
      expect(proxy.requests.map((r) => r.fault)).toEqual([undefined, 'status', 'corrupt', 'cut']);
    } finally {
      await proxy.stop();
      await reg.stop();
    }
  });
});
