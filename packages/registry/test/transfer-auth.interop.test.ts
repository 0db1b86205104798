// Pull, push and copy against docker-registry with htpasswd and token auth (the harness's
// token server): right credentials work, wrong ones and a pull-only token fail with ERR_AUTH,
// a copy needing two repositories' scopes succeeds, and an expiring token is refreshed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { copyImage, pullImage, pushLayout, RegistryClient } from '../src/index.js';
import {
  type BuiltLayout,
  buildTestLayout,
  digestOfBytes,
  type RunningRegistry,
  skopeoInspectRaw,
  startRegistry,
} from './harness/index.js';

describe.skipIf(!haveBinaries('docker-registry', 'skopeo', 'htpasswd', 'openssl'))(
  'transfer with auth',
  () => {
    let work: string;
    let image: BuiltLayout;
    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'ocidelta-transfer-auth-'));
      image = await buildTestLayout(join(work, 'image'), [{ label: 'auth' }]);
    });
    afterAll(async () => {
      await rm(work, { recursive: true, force: true });
    });

    for (const auth of ['htpasswd', 'token'] as const) {
      describe(auth, () => {
        let reg: RunningRegistry;
        beforeAll(async () => {
          reg = await startRegistry({
            auth,
            extraUsers: { reader: 'readpass' },
            tokenOptions: { users: { reader: { password: 'readpass', actions: ['pull'] } } },
          });
        });
        afterAll(async () => {
          await reg?.stop();
        });

        it('pushes, pulls and copies with the right credentials', async () => {
          const client = new RegistryClient({
            useDockerConfig: false,
            credentials: { username: reg.username, password: reg.password },
          });
          try {
            const pushed = await pushLayout(client, image.dir, `${reg.host}/auth/app:v1`);
            expect(pushed.digest).toBe(image.digest);
            const creds = { creds: `${reg.username}:${reg.password}` };
            expect(digestOfBytes(await skopeoInspectRaw(`${reg.host}/auth/app:v1`, creds))).toBe(
              image.digest,
            );

            const pulled = await pullImage(client, `${reg.host}/auth/app:v1`, {
              oci: join(work, `${auth}-pull`),
            });
            expect(pulled.digest).toBe(image.digest);
            expect(pulled.blobs.transferred).toBe(3);

            // Mounting needs pull on the source and push on the destination repository.
            const copied = await copyImage(client, `${reg.host}/auth/app:v1`, `${reg.host}/auth/other:v1`);
            expect(copied.blobs.mounted).toBe(3);
            expect(digestOfBytes(await skopeoInspectRaw(`${reg.host}/auth/other:v1`, creds))).toBe(
              image.digest,
            );
          } finally {
            await client.close();
          }
        });

        it('fails with ERR_AUTH on a wrong password or without credentials', async () => {
          const wrong = new RegistryClient({
            useDockerConfig: false,
            credentials: { username: reg.username, password: 'not-the-password' },
          });
          const anonymous = new RegistryClient({ useDockerConfig: false });
          try {
            await expect(
              pullImage(wrong, `${reg.host}/auth/app:v1`, { oci: join(work, `${auth}-wrong`) }),
            ).rejects.toMatchObject({
              code: 'ERR_AUTH',
            });
            await expect(pushLayout(anonymous, image.dir, `${reg.host}/auth/anon:v1`)).rejects.toMatchObject({
              code: 'ERR_AUTH',
            });
          } finally {
            await Promise.all([wrong.close(), anonymous.close()]);
          }
        });

        it('lets a read-only user pull but not push', async () => {
          const reader = new RegistryClient({
            useDockerConfig: false,
            credentials: { username: 'reader', password: 'readpass' },
          });
          try {
            const pulled = await pullImage(reader, `${reg.host}/auth/app:v1`, {
              oci: join(work, `${auth}-reader`),
            });
            expect(pulled.digest).toBe(image.digest);
            if (auth === 'token') {
              // htpasswd has no per-user permissions: only the token server can refuse a push.
              await expect(
                pushLayout(reader, image.dir, `${reg.host}/auth/by-reader:v1`),
              ).rejects.toMatchObject({
                code: 'ERR_AUTH',
              });
              const refused = reg.tokenServer?.requests.filter(
                (r) => r.user === 'reader' && r.scopes.some((s) => s.includes('push')),
              );
              expect(refused?.length).toBeGreaterThan(0);
              expect(refused?.every((r) => r.granted.every((g) => !g.includes('push')))).toBe(true);
            }
          } finally {
            await reader.close();
          }
        });

        if (auth === 'token') {
          it('refreshes a token before it expires', async () => {
            let now = Date.now();
            const client = new RegistryClient({
              useDockerConfig: false,
              credentials: { username: reg.username, password: reg.password },
              now: () => now,
            });
            try {
              const ts = reg.tokenServer;
              if (!ts) throw new Error('no token server');
              await pullImage(client, `${reg.host}/auth/app:v1`, { oci: join(work, 'refresh-1') });
              const before = ts.requests.length;
              const fetchesBefore = client.tokenFetches;
              // Same scope again within the lifetime: the cached token is reused.
              await pullImage(client, `${reg.host}/auth/app:v1`, { oci: join(work, 'refresh-2') });
              expect(ts.requests.length).toBe(before);
              // Past expires_in (300 s): a new token is fetched.
              now += 400_000;
              await pullImage(client, `${reg.host}/auth/app:v1`, { oci: join(work, 'refresh-3') });
              expect(client.tokenFetches).toBeGreaterThan(fetchesBefore);
              expect(ts.requests.length).toBeGreaterThan(before);
              expect(ts.requests.at(-1)?.status).toBe(200);
            } finally {
              await client.close();
            }
          });
        }
      });
    }
  },
);
