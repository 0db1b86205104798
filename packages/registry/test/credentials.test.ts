// Credentials from options and from Docker/containers auth files, including credHelpers and
// credsStore run as real helper processes (a fake `docker-credential-*` shell script that speaks
// the helper protocol: server URL on stdin, JSON on stdout).
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CredentialStore,
  credentialFiles,
  helperServerUrl,
  normalizeConfigKey,
  runCredentialHelper,
} from '../src/credentials.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

let dir: string;
let env: NodeJS.ProcessEnv;

// Answers for three server URLs; logs every query so tests can see what was asked.
const HELPER = `#!/bin/sh
read -r url
echo "$url" >> "$HELPER_LOG"
case "$url" in
  "https://index.docker.io/v1/") echo '{"ServerURL":"'"$url"'","Username":"hubuser","Secret":"hubpass"}' ;;
  "helped.example.com") echo '{"ServerURL":"'"$url"'","Username":"<token>","Secret":"identity-123"}' ;;
  "stored.example.com:5000") echo '{"ServerURL":"'"$url"'","Username":"st","Secret":"stpass"}' ;;
  "broken.example.com") echo 'not json' ;;
  "crash.example.com") echo 'keychain locked' >&2; exit 3 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-creds-'));
  const bin = join(dir, 'bin');
  await mkdir(bin);
  await writeFile(join(bin, 'docker-credential-fake'), HELPER);
  await chmod(join(bin, 'docker-credential-fake'), 0o755);
  env = {
    PATH: `${bin}:${process.env.PATH}`,
    HOME: join(dir, 'home'),
    HELPER_LOG: join(dir, 'helper.log'),
  };
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function writeConfig(name: string, config: unknown): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(config));
  return file;
}

describe('config keys', () => {
  it('normalizes URLs, case and Docker Hub aliases', () => {
    expect(normalizeConfigKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeConfigKey('registry-1.docker.io')).toBe('docker.io');
    expect(normalizeConfigKey('http://LocalHost:5000/v2/')).toBe('localhost:5000');
    expect(normalizeConfigKey('quay.io')).toBe('quay.io');
    expect(helperServerUrl('docker.io')).toBe('https://index.docker.io/v1/');
    expect(helperServerUrl('ghcr.io')).toBe('ghcr.io');
  });

  it('looks at $REGISTRY_AUTH_FILE, then $DOCKER_CONFIG, or only the explicit file', () => {
    expect(credentialFiles({ env: { REGISTRY_AUTH_FILE: '/a.json', DOCKER_CONFIG: '/d' } })).toEqual([
      '/a.json',
      '/d/config.json',
    ]);
    expect(credentialFiles({ env: { HOME: '/home/x' } })).toEqual(['/home/x/.docker/config.json']);
    expect(credentialFiles({ authFile: '/x.json', env: { REGISTRY_AUTH_FILE: '/a.json' } })).toEqual([
      '/x.json',
    ]);
    expect(credentialFiles({ useDockerConfig: false, env: { REGISTRY_AUTH_FILE: '/a.json' } })).toEqual([]);
  });
});

describe('CredentialStore', () => {
  it('prefers explicit credentials and resolver functions', async () => {
    const fixed = new CredentialStore({ username: 'a', password: 'b' }, { env, useDockerConfig: false });
    expect(await fixed.get('anything.example')).toEqual({ username: 'a', password: 'b' });
    const fn = new CredentialStore(async (r) => (r === 'x.example' ? { identityToken: 'tok' } : undefined), {
      env,
      useDockerConfig: false,
    });
    expect(await fn.get('x.example')).toEqual({ identityToken: 'tok' });
    expect(await fn.get('y.example')).toBeUndefined();
  });

  it('reads auths entries: auth (base64 user:pass), identitytoken, URL keys', async () => {
    const file = await writeConfig('auths.json', {
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hub:pa:ss') },
        'http://localhost:5000/v1/': { auth: b64('local:pw') },
        'id.example.com': { auth: b64('someone:'), identitytoken: 'refresh-xyz' },
        'empty.example.com': {},
      },
    });
    const store = new CredentialStore(undefined, { authFile: file, env });
    expect(await store.get('docker.io')).toEqual({ username: 'hub', password: 'pa:ss' });
    expect(await store.get('localhost:5000')).toEqual({ username: 'local', password: 'pw' });
    expect(await store.get('id.example.com')).toEqual({ identityToken: 'refresh-xyz', username: 'someone' });
    expect(await store.get('empty.example.com')).toBeUndefined();
    expect(await store.get('unknown.example.com')).toBeUndefined();
  });

  it('runs credHelpers and credsStore helpers with the server URL on stdin', async () => {
    const config = {
      auths: { 'fallback.example.com': { auth: b64('fb:fbpass') } },
      credHelpers: { 'helped.example.com': 'fake', 'docker.io': 'fake' },
      credsStore: 'fake',
    };
    await mkdir(join(dir, 'dockercfg'), { recursive: true });
    await writeFile(join(dir, 'dockercfg', 'config.json'), JSON.stringify(config));
    const store = new CredentialStore(undefined, { env: { ...env, DOCKER_CONFIG: join(dir, 'dockercfg') } });
    expect(await store.get('helped.example.com')).toEqual({ identityToken: 'identity-123' });
    expect(await store.get('docker.io')).toEqual({ username: 'hubuser', password: 'hubpass' });
    expect(await store.get('stored.example.com:5000')).toEqual({ username: 'st', password: 'stpass' });
    expect(await store.get('fallback.example.com')).toEqual({ username: 'fb', password: 'fbpass' });
    expect(await store.get('nothing.example.com')).toBeUndefined();
    // Cached per registry: asking again does not run the helper again.
    await store.get('helped.example.com');
    const { readFile } = await import('node:fs/promises');
    const asked = (await readFile(env.HELPER_LOG as string, 'utf8')).trim().split('\n');
    expect(asked.filter((u) => u === 'helped.example.com')).toHaveLength(1);
    expect(asked).toContain('https://index.docker.io/v1/');
  });

  it('REGISTRY_AUTH_FILE wins over the Docker config', async () => {
    const a = await writeConfig('containers-auth.json', {
      auths: { 'r.example': { auth: b64('from:auth-file') } },
    });
    await mkdir(join(dir, 'd2'), { recursive: true });
    await writeFile(
      join(dir, 'd2', 'config.json'),
      JSON.stringify({ auths: { 'r.example': { auth: b64('from:docker') } } }),
    );
    const store = new CredentialStore(undefined, {
      env: { ...env, REGISTRY_AUTH_FILE: a, DOCKER_CONFIG: join(dir, 'd2') },
    });
    expect(await store.get('r.example')).toEqual({ username: 'from', password: 'auth-file' });
  });

  it('fails with ERR_AUTH naming the file for a missing explicit file, bad JSON or a bad auth field', async () => {
    const missing = new CredentialStore(undefined, { authFile: join(dir, 'nope.json'), env });
    await expect(missing.get('x')).rejects.toMatchObject({
      code: 'ERR_AUTH',
      message: expect.stringContaining('nope.json'),
    });
    const badJson = join(dir, 'bad.json');
    await writeFile(badJson, '{ not json');
    await expect(new CredentialStore(undefined, { authFile: badJson, env }).get('x')).rejects.toMatchObject({
      code: 'ERR_AUTH',
      message: expect.stringContaining('bad.json'),
    });
    const badAuth = await writeConfig('badauth.json', { auths: { x: { auth: b64('no-colon') } } });
    await expect(new CredentialStore(undefined, { authFile: badAuth, env }).get('x')).rejects.toMatchObject({
      code: 'ERR_AUTH',
    });
    const wrongShape = await writeConfig('shape.json', { auths: { x: { auth: 42 } } });
    await expect(
      new CredentialStore(undefined, { authFile: wrongShape, env }).get('x'),
    ).rejects.toMatchObject({
      code: 'ERR_AUTH',
      message: expect.stringContaining('auths.x.auth'),
    });
  });

  it('a missing default config is not an error', async () => {
    const store = new CredentialStore(undefined, {
      env: { ...env, DOCKER_CONFIG: join(dir, 'does-not-exist') },
    });
    expect(await store.get('docker.io')).toBeUndefined();
  });
});

describe('runCredentialHelper', () => {
  it('reports helper failures as ERR_AUTH, "not found" as undefined', async () => {
    expect(await runCredentialHelper('fake', 'other.example', env)).toBeUndefined();
    await expect(runCredentialHelper('fake', 'broken.example.com', env)).rejects.toMatchObject({
      code: 'ERR_AUTH',
      message: expect.stringContaining('invalid JSON'),
    });
    await expect(runCredentialHelper('fake', 'crash.example.com', env)).rejects.toMatchObject({
      code: 'ERR_AUTH',
      message: expect.stringContaining('keychain locked'),
    });
    await expect(runCredentialHelper('absent', 'x', env)).rejects.toMatchObject({ code: 'ERR_AUTH' });
    await expect(runCredentialHelper('../evil', 'x', env)).rejects.toMatchObject({ code: 'ERR_AUTH' });
  });

  it('an unusable credsStore does not break registries it has nothing for', async () => {
    const file = await writeConfig('store-absent.json', { credsStore: 'absent' });
    const store = new CredentialStore(undefined, { authFile: file, env });
    expect(await store.get('public.example.com')).toBeUndefined();
  });
});
