/**
 * Bearer tokens for Distribution token auth: GET `realm?service=&scope=&scope=` (one `scope`
 * parameter per scope) with Basic credentials, or OAuth2 POST (`grant_type=refresh_token` when
 * holding an identity/refresh token, `grant_type=password` on request) with GET fallback on
 * 404/405. Tokens are cached per (registry, realm, service, scope set) until shortly before
 * they expire (`expires_in`, at least 60 s). Credentials only go to a realm on the registry's
 * host (or its domain, over TLS) unless the caller allows other hosts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { Challenge } from './challenge.js';
import type { Creds } from './credentials.js';
import { RegistryError, responseError } from './errors.js';

/** Minimal HTTP the token fetcher needs (the client's transport implements it). */
export type TokenHttp = (req: {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}) => Promise<{ status: number; body: string }>;

const TokenResponseSchema = z
  .object({
    token: z.string().optional(),
    access_token: z.string().optional(),
    expires_in: z.number().optional(),
    issued_at: z.string().optional(),
    refresh_token: z.string().optional(),
  })
  .loose();

/** Minimum token lifetime assumed, per the Distribution token spec. */
export const MIN_TOKEN_LIFETIME_S = 60;

interface CachedToken {
  token: string;
  expiresAt: number;
  refreshAt: number;
}

/** Token cache with an injectable clock. Entries are dropped when they are due for refresh. */
export class TokenCache {
  private readonly entries = new Map<string, CachedToken>();
  constructor(private readonly now: () => number = Date.now) {}

  /** A token still comfortably valid, or undefined. */
  get(key: string): string | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.now() >= e.refreshAt) {
      this.entries.delete(key);
      return undefined;
    }
    return e.token;
  }

  /** Store a token valid for `expiresInS` seconds (at least 60) from now. */
  set(key: string, token: string, expiresInS: number | undefined): void {
    const lifetimeMs = Math.max(expiresInS ?? MIN_TOKEN_LIFETIME_S, MIN_TOKEN_LIFETIME_S) * 1000;
    const now = this.now();
    // Refresh before expiry: 10% of the lifetime early, at most 30 s early.
    const margin = Math.min(30_000, lifetimeMs / 10);
    this.entries.set(key, { token, expiresAt: now + lifetimeMs, refreshAt: now + lifetimeMs - margin });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Cache key for a token: scopes are sorted so the same set always hits. */
export function tokenCacheKey(registry: string, challenge: Challenge, scopes: readonly string[]): string {
  return [
    registry,
    challenge.params.realm ?? '',
    challenge.params.service ?? '',
    [...scopes].sort().join(' '),
  ].join('|');
}

function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function parentDomain(hostname: string): string | undefined {
  if (isIP(hostname) !== 0) return undefined;
  const labels = hostname.split('.');
  return labels.length >= 2 ? labels.slice(-2).join('.') : undefined;
}

/**
 * May credentials for a registry on `registryHostname` (reached over `registryScheme`) be sent
 * to `realm`? Only over TLS, unless the realm is on loopback or on the registry's own host when
 * the registry itself is plain HTTP (the user chose plaintext for that host); and then only to
 * the same host, a TLS realm in the same domain (auth.docker.io for registry-1.docker.io), or
 * any TLS host when the caller allows it.
 */
export function mayReceiveCredentials(
  realm: URL,
  registryHostname: string,
  allowCrossHost = false,
  registryScheme: 'https:' | 'http:' = 'https:',
): boolean {
  const realmHost = realm.hostname.toLowerCase();
  const regHost = registryHostname.toLowerCase();
  if (realm.protocol !== 'https:') {
    const plainOk = isLoopback(realmHost) || (registryScheme === 'http:' && realmHost === regHost);
    if (!plainOk) return false;
  }
  if (allowCrossHost) return true;
  if (realmHost === regHost) return true;
  if (realm.protocol !== 'https:') return false;
  const a = parentDomain(realmHost);
  return a !== undefined && a === parentDomain(regHost) && !isLoopback(realmHost);
}

/** Options of the token fetcher. */
export interface TokenFetcherOptions {
  allowCrossHostCredentials?: boolean;
  /** Use OAuth2 `grant_type=password` (POST) for username/password instead of GET + Basic. */
  oauth2PasswordGrant?: boolean;
  /** `client_id` sent with OAuth2 requests. */
  clientId?: string;
  logger?: (msg: string) => void;
  now?: () => number;
}

/** Everything needed to get a token for one request. */
export interface TokenRequest {
  /** Registry as in references (`docker.io`, `localhost:5000`): cache and credential key. */
  registry: string;
  /** Hostname serving the registry API (for the cross-host credentials check). */
  registryHostname: string;
  /** Scheme the registry is reached over (`http:` only for insecure or loopback registries). */
  registryScheme?: 'https:' | 'http:';
  challenge: Challenge;
  scopes: readonly string[];
  creds?: Creds;
  signal?: AbortSignal;
}

function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
}

/** Fetches and caches bearer tokens. */
export class TokenFetcher {
  readonly cache: TokenCache;
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly refreshTokens = new Map<string, string>();
  /** Number of token requests sent (for logs and tests). */
  fetches = 0;

  constructor(
    private readonly http: TokenHttp,
    private readonly options: TokenFetcherOptions = {},
  ) {
    this.cache = new TokenCache(options.now);
  }

  /** A valid token for the request's scopes, from the cache or the token server. */
  async token(req: TokenRequest): Promise<string> {
    const key = tokenCacheKey(req.registry, req.challenge, req.scopes);
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetch(req, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  /** Forget the cached token for these scopes (the registry refused it). */
  invalidate(req: Pick<TokenRequest, 'registry' | 'challenge' | 'scopes'>): void {
    this.cache.delete(tokenCacheKey(req.registry, req.challenge, req.scopes));
  }

  private async fetch(req: TokenRequest, key: string, retried = false): Promise<string> {
    const realm = realmOf(req);
    let creds = req.creds;
    if (
      creds &&
      !mayReceiveCredentials(
        realm,
        req.registryHostname,
        this.options.allowCrossHostCredentials,
        req.registryScheme,
      )
    ) {
      this.options.logger?.(
        realm.protocol === 'https:'
          ? `not sending credentials for ${req.registry} to token realm on another host (${realm.host}); set allowCrossHostCredentials to allow it`
          : `not sending credentials for ${req.registry} to a plain-HTTP token realm (${realm.origin}): only over TLS`,
      );
      creds = undefined;
    }
    const service = req.challenge.params.service;
    const refreshKey = `${req.registry}|${realm.href}|${service ?? ''}`;
    const refreshToken =
      this.refreshTokens.get(refreshKey) ??
      (creds && 'identityToken' in creds ? creds.identityToken : undefined);

    let result: { status: number; body: string; url: string; method: string } | undefined;
    if (refreshToken !== undefined || (creds && 'password' in creds && this.options.oauth2PasswordGrant)) {
      const form = new URLSearchParams();
      if (refreshToken !== undefined) {
        form.set('grant_type', 'refresh_token');
        form.set('refresh_token', refreshToken);
      } else if (creds && 'password' in creds) {
        form.set('grant_type', 'password');
        form.set('username', creds.username);
        form.set('password', creds.password);
        form.set('access_type', 'offline');
      }
      if (service) form.set('service', service);
      if (req.scopes.length > 0) form.set('scope', req.scopes.join(' '));
      form.set('client_id', this.options.clientId ?? 'ocidelta');
      this.fetches++;
      const r = await this.http({
        method: 'POST',
        url: realm.href,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        signal: req.signal,
      });
      this.options.logger?.(`token POST ${realm.origin}${realm.pathname} -> ${r.status}`);
      const learned = this.refreshTokens.get(refreshKey);
      if (
        (r.status === 400 || r.status === 401) &&
        learned !== undefined &&
        learned === refreshToken &&
        !retried
      ) {
        // A refresh token we were given earlier expired or was revoked: start over from the credentials.
        this.refreshTokens.delete(refreshKey);
        return this.fetch(req, key, true);
      }
      // 404/405: the server has no OAuth2 endpoint; fall back to GET.
      if (r.status !== 404 && r.status !== 405) result = { ...r, url: realm.href, method: 'POST' };
    }
    result ??= await this.tokenByGet(req, realm, service, creds);
    if (result.status !== 200) {
      const hint =
        result.status === 401 || result.status === 403
          ? creds
            ? 'the token server rejected the credentials'
            : 'no credentials were sent; log in or pass credentials'
          : undefined;
      throw responseError(
        result.status,
        result.body,
        { ref: req.registry, url: result.url, method: result.method, resource: 'token' },
        hint,
      );
    }
    let parsed: z.infer<typeof TokenResponseSchema>;
    try {
      parsed = TokenResponseSchema.parse(JSON.parse(result.body));
    } catch {
      throw new RegistryError('ERR_AUTH', `${req.registry}: token server returned an invalid response`, {
        ref: req.registry,
        url: result.url,
        status: result.status,
      });
    }
    const token = parsed.token ?? parsed.access_token;
    if (!token) {
      throw new RegistryError('ERR_AUTH', `${req.registry}: token server response has no token`, {
        ref: req.registry,
        url: result.url,
        status: result.status,
      });
    }
    if (parsed.refresh_token) this.refreshTokens.set(refreshKey, parsed.refresh_token);
    this.cache.set(key, token, parsed.expires_in);
    return token;
  }

  /** The Distribution token GET: service and scopes in the query, credentials as Basic auth. */
  private async tokenByGet(
    req: TokenRequest,
    realm: URL,
    service: string | undefined,
    creds: TokenRequest['creds'],
  ): Promise<{ status: number; body: string; url: string; method: string }> {
    const url = new URL(realm.href);
    if (service) url.searchParams.set('service', service);
    for (const s of req.scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (creds && 'password' in creds) {
      headers.authorization = basic(creds.username, creds.password);
      if (creds.username) url.searchParams.set('account', creds.username);
    } else if (creds && 'identityToken' in creds) {
      headers.authorization = basic(creds.username ?? '<token>', creds.identityToken);
    }
    this.fetches++;
    const r = await this.http({ method: 'GET', url: url.href, headers, signal: req.signal });
    this.options.logger?.(`token GET ${url.origin}${url.pathname} -> ${r.status}`);
    return { ...r, url: `${url.origin}${url.pathname}`, method: 'GET' };
  }
}

/** The token realm of a Bearer challenge, checked: an http(s) URL. */
function realmOf(req: TokenRequest): URL {
  const realmStr = req.challenge.params.realm;
  if (!realmStr) {
    throw new RegistryError('ERR_AUTH', `${req.registry}: Bearer challenge without a realm`, {
      ref: req.registry,
    });
  }
  let realm: URL;
  try {
    realm = new URL(realmStr);
  } catch {
    throw new RegistryError('ERR_AUTH', `${req.registry}: invalid token realm "${realmStr}"`, {
      ref: req.registry,
    });
  }
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
    throw new RegistryError('ERR_AUTH', `${req.registry}: unsupported token realm scheme ${realm.protocol}`, {
      ref: req.registry,
    });
  }
  return realm;
}
