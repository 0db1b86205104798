/**
 * Authentication state per registry: the challenge learned from `GET /v2/` (or a later 401),
 * the `Authorization` header to send for a set of scopes (Bearer token or Basic), and what to
 * do after a 401: refresh a refused token, or fetch one for the merged scope on
 * `insufficient_scope` (the caller retries once). Never logs secrets.
 */
import type { HintCode } from '@ocidelta/core';
import { type Challenge, challengeScopes, findChallenge, mergeScopes, parseChallenges } from './challenge.js';
import type { CredentialStore, Creds } from './credentials.js';
import { TokenFetcher, type TokenFetcherOptions, type TokenHttp } from './token.js';

/** The parts of an endpoint the authenticator needs. */
export interface AuthEndpoint {
  registry: string;
  hostname: string;
  /** `https://host[:port]` or `http://...` (decides whether a plain-HTTP token realm is acceptable). */
  base?: string;
}

function basicHeader(creds: Creds): string | undefined {
  if (!('password' in creds)) return undefined;
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
}

/** Keep only what identifies a token endpoint (drop per-request scope/error). */
function baseChallenge(c: Challenge): Challenge {
  const params: Record<string, string> = {};
  if (c.params.realm !== undefined) params.realm = c.params.realm;
  if (c.params.service !== undefined) params.service = c.params.service;
  return { scheme: c.scheme, params };
}

export class Authenticator {
  readonly tokens: TokenFetcher;
  private readonly challenges = new Map<string, Challenge[]>();

  constructor(
    http: TokenHttp,
    private readonly credentials: CredentialStore,
    options: TokenFetcherOptions = {},
  ) {
    this.tokens = new TokenFetcher(http, options);
  }

  /** Record the challenges a registry answered `GET /v2/` with (empty: no auth). */
  setChallenges(registry: string, challenges: readonly Challenge[]): void {
    this.challenges.set(
      registry,
      challenges.map((c) => (c.scheme === 'bearer' ? baseChallenge(c) : c)),
    );
  }

  /** The Authorization header for a request needing `scopes`, or undefined (anonymous). */
  async header(
    ep: AuthEndpoint,
    scopes: readonly string[],
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const chs = this.challenges.get(ep.registry) ?? [];
    const bearer = findChallenge(chs, 'bearer');
    const creds = bearer || findChallenge(chs, 'basic') ? await this.credentials.get(ep.registry) : undefined;
    if (bearer) {
      const token = await this.tokens.token({
        registry: ep.registry,
        registryHostname: ep.hostname,
        registryScheme: ep.base?.startsWith('http:') ? 'http:' : 'https:',
        challenge: bearer,
        scopes,
        creds,
        signal,
      });
      return `Bearer ${token}`;
    }
    return creds ? basicHeader(creds) : undefined;
  }

  /**
   * After a 401: returns the scopes and header to retry with, or undefined when retrying
   * cannot help (no usable challenge, Basic credentials already refused).
   */
  async onUnauthorized(
    ep: AuthEndpoint,
    scopes: readonly string[],
    wwwAuthenticate: string | string[] | undefined,
    sent: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ scopes: string[]; authorization: string | undefined } | undefined> {
    const chs = parseChallenges(wwwAuthenticate);
    const bearer = findChallenge(chs, 'bearer');
    if (bearer) {
      const previous = findChallenge(this.challenges.get(ep.registry) ?? [], 'bearer');
      // The token we sent was refused (expired, revoked) or lacked scope: forget it.
      if (previous && sent?.startsWith('Bearer ')) {
        this.tokens.invalidate({ registry: ep.registry, challenge: previous, scopes });
      }
      this.setChallenges(ep.registry, chs);
      const merged = mergeScopes(scopes, challengeScopes(bearer));
      const creds = await this.credentials.get(ep.registry);
      const token = await this.tokens.token({
        registry: ep.registry,
        registryHostname: ep.hostname,
        registryScheme: ep.base?.startsWith('http:') ? 'http:' : 'https:',
        challenge: baseChallenge(bearer),
        scopes: merged,
        creds,
        signal,
      });
      return { scopes: merged, authorization: `Bearer ${token}` };
    }
    if (findChallenge(chs, 'basic')) {
      this.setChallenges(ep.registry, chs);
      if (sent !== undefined) return undefined;
      const creds = await this.credentials.get(ep.registry);
      const header = creds ? basicHeader(creds) : undefined;
      return header ? { scopes: [...scopes], authorization: header } : undefined;
    }
    return undefined;
  }

  /** A hint for an auth failure message (never contains secrets), with its hint code. */
  hint(
    ep: AuthEndpoint,
    status: number,
    sent: string | undefined,
  ): { message: string; code?: HintCode } | undefined {
    if (status !== 401 && status !== 403) return undefined;
    if (sent === undefined) {
      return {
        message: `no credentials were sent to ${ep.registry}; pass credentials or an auth file, or run docker login`,
        code: 'credentials',
      };
    }
    return {
      message: sent.startsWith('Basic ')
        ? `the registry refused the credentials for ${ep.registry}`
        : `the registry refused the token for ${ep.registry} (wrong credentials or insufficient access)`,
    };
  }
}
