// RegistryClient authentication against the real docker-registry: htpasswd (Basic) and token
// auth with the harness's token server (ES256 JWTs): pull-only tokens refused on push, scope
// upgrade, expiry and refresh, wrong password, OAuth2 POST with GET fallback, credentials kept
// from a realm on another host, credentials from a Docker config file.
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOciDeltaError, Reference } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { RegistryClient, type RegistryError } from '../src/index.js';
import {
  digestOfBytes,
  errorOf,
  pseudoRandom,
  type RunningRegistry,
  startFaultProxy,
  startRegistry,
} from './harness/index.js';

const run = haveBinaries('docker-registry', 'htpasswd', 'openssl');

describe.skipIf(!run)('RegistryClient with htpasswd (Basic) auth', () => {
  let reg: RunningRegistry;
  let tmp: string;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    tmp = await mkdtemp(join(tmpdir(), 'ocidelta-auth-'));
  });
  afterAll(async () => {
    await reg?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('pushes and reads with the right password', async () => {
    const client = new RegistryClient({
      credentials: { username: reg.username, password: reg.password },
      useDockerConfig: false,
    });
    const repo = Reference.parse(`${reg.host}/basic/app:1`);
    const data = pseudoRandom(5000, 'basic');
    const up = await client.uploadBlob(repo, data, { digest: digestOfBytes(data), size: data.length });
    expect(up.skipped).toBe(false);
    expect(await client.headBlob(repo, digestOfBytes(data))).toEqual({ size: data.length });
    await client.close();
  });

  it('fails with ERR_AUTH and status 401 for a wrong password or none', async () => {
    const repo = Reference.parse(`${reg.host}/basic/app:1`);
    const wrong = new RegistryClient({ credentials: { username: reg.username, password: 'nope' } });
    const err = await errorOf(wrong.getManifest(repo));
    expect(isOciDeltaError(err, 'ERR_AUTH')).toBe(true);
    expect((err as RegistryError).status).toBe(401);
    expect((err as RegistryError).registryCode).toBe('UNAUTHORIZED');
    expect(err?.message).not.toContain('nope');
    const anon = new RegistryClient({ useDockerConfig: false });
    const err2 = await errorOf(anon.headBlob(repo, digestOfBytes(Buffer.from('x'))));
    expect(isOciDeltaError(err2, 'ERR_AUTH')).toBe(true);
    expect(err2?.message).toContain('no credentials');
    await Promise.all([wrong.close(), anon.close()]);
  });

  it('reads credentials from a Docker config file (auths.auth)', async () => {
    const file = join(tmp, 'config.json');
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    await writeFile(file, JSON.stringify({ auths: { [`http://${reg.host}/v1/`]: { auth } } }));
    const client = new RegistryClient({ authFile: file });
    const repo = Reference.parse(`${reg.host}/basic/fromfile:1`);
    expect(await client.headManifest(repo)).toBeUndefined();
    await client.close();
  });

  it('gets credentials from a credential helper named in credHelpers', async () => {
    const bin = join(tmp, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-testhelper');
    await writeFile(
      helper,
      `#!/bin/sh\nread -r url\n[ "$url" = "${reg.host}" ] || { echo "credentials not found"; exit 1; }\necho '{"ServerURL":"${reg.host}","Username":"${reg.username}","Secret":"${reg.password}"}'\n`,
    );
    await chmod(helper, 0o755);
    await writeFile(
      join(tmp, 'helper-config.json'),
      JSON.stringify({ credHelpers: { [reg.host]: 'testhelper' } }),
    );
    const client = new RegistryClient({
      authFile: join(tmp, 'helper-config.json'),
      env: { PATH: `${bin}:${process.env.PATH}` },
    });
    const data = pseudoRandom(300, 'helper');
    const repo = Reference.parse(`${reg.host}/basic/helper:1`);
    expect(
      (await client.uploadBlob(repo, data, { digest: digestOfBytes(data), size: data.length })).skipped,
    ).toBe(false);
    expect(await client.headBlob(repo, digestOfBytes(data))).toEqual({ size: data.length });
    await client.close();
  });
});

describe.skipIf(!run)('RegistryClient with token auth', () => {
  let reg: RunningRegistry;
  const reader = { username: 'reader', password: 'readpass' };
  beforeAll(async () => {
    reg = await startRegistry({
      auth: 'token',
      tokenOptions: {
        users: {
          reader: { password: reader.password, actions: ['pull'] },
          limited: {
            password: 'limitedpass',
            actions: (repo) => (repo.startsWith('mine/') ? ['pull', 'push'] : []),
          },
        },
      },
    });
  });
  afterAll(async () => {
    await reg?.stop();
  });
  const creds = () => ({ username: reg.username, password: reg.password });
  const tokenServer = () => reg.tokenServer!;

  it('upgrades the scope from pull to push with one token request per scope set', async () => {
    const logs: string[] = [];
    const client = new RegistryClient({
      credentials: creds(),
      useDockerConfig: false,
      logger: (m) => logs.push(m),
    });
    const repo = Reference.parse(`${reg.host}/tok/app:1`);
    const before = tokenServer().requests.length;
    const data = pseudoRandom(3000, 'tok');
    expect(await client.headBlob(repo, digestOfBytes(data))).toBeUndefined();
    await client.uploadBlob(repo, data, { digest: digestOfBytes(data), size: data.length });
    expect(await client.headBlob(repo, digestOfBytes(data))).toEqual({ size: data.length });
    const reqs = tokenServer().requests.slice(before);
    expect(reqs.map((r) => r.scopes.join(' '))).toEqual([
      'repository:tok/app:pull',
      'repository:tok/app:pull,push',
    ]);
    expect(reqs.every((r) => r.method === 'GET' && r.user === reg.username && r.status === 200)).toBe(true);
    // The log has one line per request and no secret: no password, no token, no auth header.
    expect(logs.some((l) => l.includes('token GET'))).toBe(true);
    expect(logs.some((l) => l.startsWith('PUT '))).toBe(true);
    const all = logs.join('\n');
    expect(all).not.toContain(reg.password);
    expect(all).not.toMatch(/Bearer|Basic|eyJ/);
    await client.close();
  });

  it('lists the catalog with a registry:catalog:* token', async () => {
    const client = new RegistryClient({ credentials: creds(), useDockerConfig: false });
    const start = tokenServer().requests.length;
    expect(await client.catalog({ registry: reg.host })).toContain('tok/app');
    expect(
      tokenServer()
        .requests.slice(start)
        .map((r) => r.granted),
    ).toEqual([['registry:catalog:*']]);
    await client.close();
  });

  it('retries once with the merged scope on insufficient_scope', async () => {
    const proxy = await startFaultProxy(reg.url);
    try {
      const ts = tokenServer();
      const data = pseudoRandom(3000, 'tok');
      proxy.addFault({
        method: 'HEAD',
        path: '/v2/tok/app/blobs/',
        fault: {
          kind: 'status',
          status: 401,
          headers: {
            'www-authenticate': `Bearer realm="${ts.realm}",service="${ts.service}",scope="repository:tok/app:pull repository:tok/extra:pull",error="insufficient_scope"`,
          },
          body: JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'insufficient scope' }] }),
        },
      });
      const client = new RegistryClient({ credentials: creds(), useDockerConfig: false });
      const start = ts.requests.length;
      expect(await client.headBlob(Reference.parse(`${proxy.host}/tok/app`), digestOfBytes(data))).toEqual({
        size: data.length,
      });
      expect(ts.requests.slice(start).map((r) => r.scopes)).toEqual([
        ['repository:tok/app:pull'],
        ['repository:tok/app:pull', 'repository:tok/extra:pull'],
      ]);
      expect(proxy.pendingFaults()).toBe(0);
      await client.close();
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a push with a pull-only token (ERR_AUTH) but pulls', async () => {
    const client = new RegistryClient({ credentials: reader, useDockerConfig: false });
    const repo = Reference.parse(`${reg.host}/tok/app:1`);
    const data = pseudoRandom(3000, 'tok');
    expect(await client.headBlob(repo, digestOfBytes(data))).toEqual({ size: data.length });
    const other = pseudoRandom(100, 'reader-push');
    const err = await errorOf(
      client.uploadBlob(repo, other, { digest: digestOfBytes(other), size: other.length }),
    );
    expect(isOciDeltaError(err, 'ERR_AUTH')).toBe(true);
    expect((err as RegistryError).status).toBe(401);
    expect(err?.message).toContain(repo.repository);
    await client.close();
  });

  it('uploads instead of mounting when the mount source is not readable', async () => {
    const owner = new RegistryClient({ credentials: creds(), useDockerConfig: false });
    const data = pseudoRandom(4000, 'mount-denied');
    const src = Reference.parse(`${reg.host}/tok/private:1`);
    await owner.uploadBlob(src, data, { digest: digestOfBytes(data), size: data.length });
    const limited = new RegistryClient({
      credentials: { username: 'limited', password: 'limitedpass' },
      useDockerConfig: false,
    });
    const dst = Reference.parse(`${reg.host}/mine/copy:1`);
    const res = await limited.uploadBlob(
      dst,
      data,
      { digest: digestOfBytes(data), size: data.length },
      { mountFrom: src },
    );
    expect(res).toEqual({ digest: digestOfBytes(data), mounted: false, skipped: false });
    expect(await limited.headBlob(dst, digestOfBytes(data))).toEqual({ size: data.length });
    expect(isOciDeltaError(await errorOf(limited.headBlob(src, digestOfBytes(data))), 'ERR_AUTH')).toBe(true);
    await Promise.all([owner.close(), limited.close()]);
  });

  it('fails with ERR_AUTH on a wrong password, naming the token server refusal', async () => {
    const client = new RegistryClient({
      credentials: { username: reg.username, password: 'wrong' },
      useDockerConfig: false,
    });
    const err = await errorOf(client.headManifest(Reference.parse(`${reg.host}/tok/app:1`)));
    expect(isOciDeltaError(err, 'ERR_AUTH')).toBe(true);
    expect(err?.message).toContain('token server rejected the credentials');
    expect(err?.message).not.toContain('wrong');
    await client.close();
  });

  it('refreshes a token before it expires and after the registry refuses an expired one', async () => {
    let now = Date.now();
    const client = new RegistryClient({ credentials: creds(), useDockerConfig: false, now: () => now });
    const repo = Reference.parse(`${reg.host}/tok/expiry:1`);
    const count = () => tokenServer().requests.length;
    const start = count();
    await client.headManifest(repo);
    await client.headManifest(repo);
    expect(count() - start).toBe(1); // cached
    now += 59_000; // expires_in is 300 by default: still cached
    await client.headManifest(repo);
    expect(count() - start).toBe(1);
    now += 250_000; // within the refresh margin before expiry
    await client.headManifest(repo);
    expect(count() - start).toBe(2);

    // Tokens already expired on the registry's clock (beyond its 60 s leeway) are refused; the
    // client still caches them for the 60 s minimum, so the next request sends the stale one,
    // gets a 401, and replaces it exactly once.
    tokenServer().setExpiresIn(-120);
    const c2 = new RegistryClient({ credentials: creds(), useDockerConfig: false });
    const err = await errorOf(c2.headManifest(repo));
    expect(isOciDeltaError(err, 'ERR_AUTH')).toBe(true);
    tokenServer().setExpiresIn(300);
    const mid = count();
    expect(await c2.headManifest(repo)).toBeUndefined();
    expect(count()).toBe(mid + 1);
    tokenServer().setExpiresIn(300);
    await Promise.all([client.close(), c2.close()]);
  });

  it('uses OAuth2 refresh_token grant with an identity token, password grant on request', async () => {
    const repo = Reference.parse(`${reg.host}/tok/oauth:1`);
    const pw = new RegistryClient({
      credentials: creds(),
      useDockerConfig: false,
      oauth2PasswordGrant: true,
    });
    const start = tokenServer().requests.length;
    await pw.headManifest(repo);
    const first = tokenServer().requests[start];
    expect(first).toMatchObject({ method: 'POST', grantType: 'password', user: reg.username, status: 200 });
    // The refresh token from that answer is used for the next scope set.
    const data = pseudoRandom(50, 'oauth');
    await pw.uploadBlob(repo, data, { digest: digestOfBytes(data), size: data.length });
    const second = tokenServer().requests[start + 1];
    expect(second).toMatchObject({
      method: 'POST',
      grantType: 'refresh_token',
      user: reg.username,
      status: 200,
    });
    await pw.close();

    const bogus = new RegistryClient({
      credentials: { identityToken: 'not-a-refresh-token' },
      useDockerConfig: false,
    });
    const err = await errorOf(bogus.headManifest(repo));
    expect(isOciDeltaError(err, 'ERR_AUTH')).toBe(true);
    await bogus.close();
  });

  it('logs in with an identitytoken from a Docker config file', async () => {
    // Obtain a refresh token from the token server the way `docker login` would.
    const form = new URLSearchParams({
      grant_type: 'password',
      username: reg.username,
      password: reg.password,
      service: tokenServer().service,
      client_id: 'test',
      access_type: 'offline',
    });
    const res = await fetch(tokenServer().realm, { method: 'POST', body: form });
    const { refresh_token } = (await res.json()) as { refresh_token: string };
    const dir = await mkdtemp(join(tmpdir(), 'ocidelta-idtoken-'));
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: {
          [reg.host]: {
            auth: Buffer.from(`${reg.username}:`).toString('base64'),
            identitytoken: refresh_token,
          },
        },
      }),
    );
    const client = new RegistryClient({ env: { DOCKER_CONFIG: dir } });
    const start = tokenServer().requests.length;
    const data = pseudoRandom(700, 'idtoken');
    const repo = Reference.parse(`${reg.host}/tok/idtoken:1`);
    await client.uploadBlob(repo, data, { digest: digestOfBytes(data), size: data.length });
    expect(await client.headBlob(repo, digestOfBytes(data))).toEqual({ size: data.length });
    const reqs = tokenServer().requests.slice(start);
    expect(reqs.length).toBeGreaterThan(0);
    expect(
      reqs.every((r) => r.method === 'POST' && r.grantType === 'refresh_token' && r.user === reg.username),
    ).toBe(true);
    await client.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('shares one token request between concurrent requests', async () => {
    const client = new RegistryClient({ credentials: creds(), useDockerConfig: false });
    const repo = Reference.parse(`${reg.host}/tok/concurrent:1`);
    const start = tokenServer().requests.length;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => client.headBlob(repo, digestOfBytes(Buffer.from(`blob ${i}`)))),
    );
    expect(results).toEqual(Array(8).fill(undefined));
    expect(tokenServer().requests.length - start).toBe(1);
    await client.close();
  });

  it('does not send credentials to a realm on another host unless allowed', async () => {
    // The registry as "localhost:PORT": the realm (127.0.0.1) is another host.
    const repo = Reference.parse(`${reg.host.replace('127.0.0.1', 'localhost')}/tok/cross:1`);
    const strict = new RegistryClient({ credentials: creds(), useDockerConfig: false });
    const start = tokenServer().requests.length;
    const err = await errorOf(strict.headManifest(repo));
    expect(isOciDeltaError(err, 'ERR_AUTH')).toBe(true);
    expect(
      tokenServer()
        .requests.slice(start)
        .every((r) => r.user === undefined),
    ).toBe(true);
    const allowed = new RegistryClient({
      credentials: creds(),
      useDockerConfig: false,
      allowCrossHostCredentials: true,
    });
    expect(await allowed.headManifest(repo)).toBeUndefined();
    expect(tokenServer().requests.at(-1)?.user).toBe(reg.username);
    await Promise.all([strict.close(), allowed.close()]);
  });
});

describe.skipIf(!run)('RegistryClient token auth: OAuth2 fallback', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token', tokenOptions: { oauth: false, tokenField: 'access_token' } });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('falls back to GET when the token server has no POST endpoint (404), reads access_token', async () => {
    const client = new RegistryClient({
      credentials: { username: reg.username, password: reg.password },
      useDockerConfig: false,
      oauth2PasswordGrant: true,
    });
    expect(await client.headManifest(Reference.parse(`${reg.host}/fb/app:1`))).toBeUndefined();
    const reqs = reg.tokenServer!.requests;
    expect(reqs.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 404', 'GET 200']);
    await client.close();
  });
});
