// Token fetching and caching with a recorded in-process TokenHttp (no network): the request
// forms (GET with one scope per parameter, OAuth2 POST), fallback, expiry math, cache keys and
// the cross-host credentials rule.
import { describe, expect, it } from 'vitest';
import type { Challenge } from '../src/challenge.js';
import {
  mayReceiveCredentials,
  TokenCache,
  TokenFetcher,
  type TokenHttp,
  tokenCacheKey,
} from '../src/token.js';

type Sent = Parameters<TokenHttp>[0];

function recorder(answer: (req: Sent, n: number) => { status: number; body: unknown }) {
  const sent: Sent[] = [];
  const http: TokenHttp = async (req) => {
    sent.push(req);
    const a = answer(req, sent.length);
    return { status: a.status, body: typeof a.body === 'string' ? a.body : JSON.stringify(a.body) };
  };
  return { sent, http };
}

const challenge: Challenge = {
  scheme: 'bearer',
  params: { realm: 'https://reg.example.com/token', service: 'svc' },
};
const base = { registry: 'reg.example.com', registryHostname: 'reg.example.com', challenge };

describe('TokenCache', () => {
  it('keeps a token until shortly before expiry, with a 60 s minimum lifetime', () => {
    let now = 1_000_000;
    const cache = new TokenCache(() => now);
    cache.set('a', 'tok-a', 300);
    cache.set('b', 'tok-b', 5); // below the minimum: treated as 60 s
    cache.set('c', 'tok-c', undefined); // absent: 60 s
    now += 53_000;
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual(['tok-a', 'tok-b', 'tok-c']);
    now += 2_000; // 55 s: within the 10 % refresh margin of a 60 s token
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual(['tok-a', undefined, undefined]);
    now = 1_000_000 + 269_999; // 300 s token: refreshed 30 s early at most
    expect(cache.get('a')).toBe('tok-a');
    now += 1;
    expect(cache.get('a')).toBeUndefined();
  });

  it('keys on registry, realm, service and the scope set in any order', () => {
    const k1 = tokenCacheKey('r', challenge, ['repository:a:pull', 'repository:b:pull']);
    const k2 = tokenCacheKey('r', challenge, ['repository:b:pull', 'repository:a:pull']);
    expect(k1).toBe(k2);
    expect(tokenCacheKey('r', challenge, ['repository:a:pull'])).not.toBe(k1);
    expect(tokenCacheKey('other', challenge, ['repository:a:pull', 'repository:b:pull'])).not.toBe(k1);
    const otherService = { ...challenge, params: { ...challenge.params, service: 'x' } };
    expect(tokenCacheKey('r', otherService, ['repository:a:pull', 'repository:b:pull'])).not.toBe(k1);
  });
});

describe('TokenFetcher', () => {
  it('GETs with one scope parameter per scope, Basic credentials and the account', async () => {
    const { sent, http } = recorder(() => ({ status: 200, body: { token: 'T1', expires_in: 120 } }));
    const f = new TokenFetcher(http);
    const scopes = ['repository:a:pull', 'repository:b:pull,push'];
    const t = await f.token({ ...base, scopes, creds: { username: 'u', password: 'p w' } });
    expect(t).toBe('T1');
    expect(sent).toHaveLength(1);
    const url = new URL(sent[0]!.url);
    expect(sent[0]!.method).toBe('GET');
    expect(url.origin + url.pathname).toBe('https://reg.example.com/token');
    expect(url.searchParams.getAll('scope')).toEqual(scopes);
    expect(url.searchParams.get('service')).toBe('svc');
    expect(url.searchParams.get('account')).toBe('u');
    expect(sent[0]!.headers.authorization).toBe(`Basic ${Buffer.from('u:p w').toString('base64')}`);
    // Cached: a second call with the same scope set does not ask again.
    expect(
      await f.token({ ...base, scopes: [...scopes].reverse(), creds: { username: 'u', password: 'p w' } }),
    ).toBe('T1');
    expect(f.fetches).toBe(1);
  });

  it('accepts access_token and shares one request between concurrent callers', async () => {
    const { sent, http } = recorder(() => ({ status: 200, body: { access_token: 'AT' } }));
    const f = new TokenFetcher(http);
    const got = await Promise.all([1, 2, 3].map(() => f.token({ ...base, scopes: ['repository:a:pull'] })));
    expect(got).toEqual(['AT', 'AT', 'AT']);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers.authorization).toBeUndefined();
  });

  it('POSTs grant_type=refresh_token with an identity token and reuses the new refresh token', async () => {
    const { sent, http } = recorder((_req, n) => ({
      status: 200,
      body: { access_token: `A${n}`, refresh_token: `R${n}`, expires_in: 60 },
    }));
    const f = new TokenFetcher(http, { clientId: 'tester' });
    expect(await f.token({ ...base, scopes: ['repository:a:pull'], creds: { identityToken: 'ID' } })).toBe(
      'A1',
    );
    expect(
      await f.token({ ...base, scopes: ['repository:a:pull,push'], creds: { identityToken: 'ID' } }),
    ).toBe('A2');
    const forms = sent.map((s) => new URLSearchParams(s.body));
    expect(sent.map((s) => s.method)).toEqual(['POST', 'POST']);
    expect(sent[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(
      forms.map((f) => [f.get('grant_type'), f.get('refresh_token'), f.get('scope'), f.get('client_id')]),
    ).toEqual([
      ['refresh_token', 'ID', 'repository:a:pull', 'tester'],
      ['refresh_token', 'R1', 'repository:a:pull,push', 'tester'],
    ]);
  });

  it('drops a refused learned refresh token and starts over from the password', async () => {
    const { sent, http } = recorder((req, n) => {
      const form = new URLSearchParams(req.body);
      if (form.get('grant_type') === 'refresh_token')
        return { status: 400, body: { error: 'invalid_grant' } };
      return { status: 200, body: { access_token: `A${n}`, refresh_token: `R${n}` } };
    });
    const f = new TokenFetcher(http, { oauth2PasswordGrant: true });
    const creds = { username: 'u', password: 'p' };
    expect(await f.token({ ...base, scopes: ['repository:a:pull'], creds })).toBe('A1');
    // Second scope set: the learned refresh token is refused, the password grant is used again.
    expect(await f.token({ ...base, scopes: ['repository:b:pull'], creds })).toBe('A3');
    expect(sent.map((s) => new URLSearchParams(s.body).get('grant_type'))).toEqual([
      'password',
      'refresh_token',
      'password',
    ]);
  });

  it('POSTs grant_type=password on request and falls back to GET on 404', async () => {
    const { sent, http } = recorder((req) =>
      req.method === 'POST' ? { status: 404, body: 'no' } : { status: 200, body: { token: 'G' } },
    );
    const f = new TokenFetcher(http, { oauth2PasswordGrant: true });
    expect(
      await f.token({ ...base, scopes: ['repository:a:pull'], creds: { username: 'u', password: 'p' } }),
    ).toBe('G');
    expect(sent.map((s) => s.method)).toEqual(['POST', 'GET']);
    const form = new URLSearchParams(sent[0]!.body);
    expect([form.get('grant_type'), form.get('username'), form.get('password')]).toEqual([
      'password',
      'u',
      'p',
    ]);
  });

  it('fails with ERR_AUTH on 401 without echoing secrets, and on a response without a token', async () => {
    const denied = new TokenFetcher(
      recorder(() => ({ status: 401, body: { errors: [{ code: 'UNAUTHORIZED', message: 'bad' }] } })).http,
    );
    const err = (await denied
      .token({ ...base, scopes: ['repository:a:pull'], creds: { username: 'u', password: 'sekrit' } })
      .catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'ERR_AUTH', status: 401, registryCode: 'UNAUTHORIZED' });
    expect(err.message).toContain('rejected the credentials');
    expect(err.message).not.toContain('sekrit');
    const empty = new TokenFetcher(recorder(() => ({ status: 200, body: { expires_in: 60 } })).http);
    await expect(empty.token({ ...base, scopes: [] })).rejects.toMatchObject({ code: 'ERR_AUTH' });
    const notJson = new TokenFetcher(recorder(() => ({ status: 200, body: '<html>' })).http);
    await expect(notJson.token({ ...base, scopes: [] })).rejects.toMatchObject({ code: 'ERR_AUTH' });
  });

  it('refetches after invalidate and after expiry', async () => {
    let now = 0;
    const { sent, http } = recorder((_r, n) => ({ status: 200, body: { token: `T${n}`, expires_in: 100 } }));
    const f = new TokenFetcher(http, { now: () => now });
    const req = { ...base, scopes: ['repository:a:pull'] };
    expect(await f.token(req)).toBe('T1');
    f.invalidate(req);
    expect(await f.token(req)).toBe('T2');
    now += 95_000;
    expect(await f.token(req)).toBe('T3');
    expect(sent).toHaveLength(3);
  });

  it('does not send credentials to a realm on another host unless allowed', async () => {
    const elsewhere: Challenge = { scheme: 'bearer', params: { realm: 'https://evil.example.net/token' } };
    const { sent, http } = recorder(() => ({ status: 200, body: { token: 'T' } }));
    const logs: string[] = [];
    await new TokenFetcher(http, { logger: (m) => logs.push(m) }).token({
      ...base,
      challenge: elsewhere,
      scopes: [],
      creds: { username: 'u', password: 'secret' },
    });
    expect(sent[0]!.headers.authorization).toBeUndefined();
    expect(logs.join('\n')).toContain('not sending credentials');
    expect(logs.join('\n')).not.toContain('secret');
    await new TokenFetcher(http, { allowCrossHostCredentials: true }).token({
      ...base,
      challenge: elsewhere,
      scopes: [],
      creds: { username: 'u', password: 'secret' },
    });
    expect(sent[1]!.headers.authorization).toMatch(/^Basic /);
  });
});

describe('mayReceiveCredentials', () => {
  const cases: Array<[string, string, boolean]> = [
    ['https://reg.example.com/token', 'reg.example.com', true],
    // Same host, another scheme: a TLS registry never hands credentials to a plain-HTTP realm.
    ['http://reg.example.com:5001/token', 'reg.example.com', false],
    ['http://127.0.0.1:4000/token', '127.0.0.1', true],
    ['https://auth.docker.io/token', 'registry-1.docker.io', true],
    ['http://auth.docker.io/token', 'registry-1.docker.io', false],
    ['https://auth.example.org/token', 'registry.example.com', false],
    ['http://127.0.0.1:4000/token', 'localhost', false],
    ['https://10.0.0.2/token', '10.0.0.1', false],
    ['https://example.com/token', 'com', false],
  ];
  for (const [realm, host, ok] of cases) {
    it(`${realm} for ${host}: ${ok}`, () => {
      expect(mayReceiveCredentials(new URL(realm), host)).toBe(ok);
      // Allowing other hosts never allows plaintext to a non-loopback host.
      const plain = realm.startsWith('http:') && !/\/\/127\./.test(realm);
      expect(mayReceiveCredentials(new URL(realm), host, true)).toBe(!plain);
    });
  }
  it('a plain-HTTP registry may use a plain-HTTP realm on its own host only', () => {
    expect(mayReceiveCredentials(new URL('http://reg.lan:5001/token'), 'reg.lan', false, 'http:')).toBe(true);
    expect(mayReceiveCredentials(new URL('http://auth.lan/token'), 'reg.lan', true, 'http:')).toBe(false);
  });
});
