/**
 * Test harness: a small Docker token server (node:http) for distribution 2.8's `auth.token`.
 * Issues ES256 JWTs (raw r||s) whose `kid` is the libtrust key id of a self-signed certificate
 * the registry trusts via `rootcertbundle`. Supports GET (Basic or anonymous) and the OAuth2
 * POST flow (password and refresh_token grants), per-user allowed actions, a configurable
 * `expires_in`, and records every request so tests can assert refreshes and scopes.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { makeSelfSignedCert } from './certs.js';

export interface TokenUser {
  password: string;
  /** Actions this user may be granted on any repository (default pull, push, delete, *). */
  actions?: readonly string[] | ((repository: string) => readonly string[]);
}

export interface TokenServerOptions {
  service: string;
  issuer: string;
  /** Directory for the key and certificate files. */
  workDir: string;
  users?: Record<string, TokenUser>;
  /** Actions granted to anonymous requests (default none). */
  anonymousActions?: readonly string[];
  /** `expires_in` in the response and the token lifetime, seconds (default 300). */
  expiresIn?: number;
  /** Which field carries the token (default both). */
  tokenField?: 'token' | 'access_token' | 'both';
  /** Answer POST (OAuth2) requests; when false POST gets 404 (default true). */
  oauth?: boolean;
}

export interface TokenRequestRecord {
  method: 'GET' | 'POST';
  /** Requested scopes, one entry per scope. */
  scopes: string[];
  /** Authenticated user name, if any. */
  user?: string;
  grantType?: string;
  /** HTTP status answered. */
  status: number;
  /** Access granted in the token: `repository:name:actions` strings. */
  granted: string[];
  time: number;
}

export interface TokenServer {
  /** Token endpoint (`auth.token.realm`). */
  realm: string;
  service: string;
  issuer: string;
  /** PEM file of the self-signed certificate (`auth.token.rootcertbundle`). */
  certFile: string;
  /** libtrust key id placed in every token's `kid`. */
  keyId: string;
  /** Every request answered, oldest first. */
  requests: TokenRequestRecord[];
  /** Change `expires_in` for later tokens. */
  setExpiresIn(seconds: number): void;
  stop(): Promise<void>;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** libtrust key id: base32(sha256(DER SPKI)[:30]) unpadded, in groups of 4 joined by ':'. */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const s = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  const groups: string[] = [];
  for (let i = 0; i < s.length; i += 4) groups.push(s.slice(i, i + 4));
  return groups.join(':');
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** Sign a JWT with ES256 (raw r||s signature). */
export function signJwt(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: KeyObject,
): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

/** Parse `repository:name:pull,push` (the name may not contain ':' but a type may be `registry`). */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Start the token server on a free loopback port. */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const keyFile = join(options.workDir, 'token-key.pem');
  const certFile = join(options.workDir, 'token-cert.pem');
  makeSelfSignedCert({ keyFile, certFile, subject: '/CN=ocidelta-test-token' });
  const privateKey = createPrivateKey(readFileSync(keyFile));
  const keyId = libtrustKeyId(createPublicKey(privateKey));
  const users = options.users ?? {};
  let expiresIn = options.expiresIn ?? 300;
  const requests: TokenRequestRecord[] = [];
  const refreshTokens = new Map<string, string>(); // refresh token -> user

  const grant = (user: string | undefined, scopes: string[]): { access: unknown[]; granted: string[] } => {
    const access: unknown[] = [];
    const granted: string[] = [];
    for (const scope of scopes) {
      const parsed = parseScope(scope);
      if (!parsed) continue;
      let allowed: readonly string[];
      if (user === undefined) allowed = options.anonymousActions ?? [];
      else {
        const a = users[user]?.actions ?? ['pull', 'push', 'delete', '*'];
        allowed = typeof a === 'function' ? a(parsed.name) : a;
      }
      const actions = parsed.actions.filter((x) => allowed.includes(x));
      if (actions.length === 0) continue;
      access.push({ type: parsed.type, name: parsed.name, actions });
      granted.push(`${parsed.type}:${parsed.name}:${actions.join(',')}`);
    }
    return { access, granted };
  };

  const issue = (user: string | undefined, scopes: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    const { access, granted } = grant(user, scopes);
    const claims = {
      iss: options.issuer,
      sub: user ?? '',
      aud: options.service,
      exp: now + expiresIn,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const token = signJwt({ typ: 'JWT', alg: 'ES256', kid: keyId }, claims, privateKey);
    const field = options.tokenField ?? 'both';
    const body: Record<string, unknown> = {
      expires_in: expiresIn,
      issued_at: new Date(now * 1000).toISOString(),
    };
    if (field !== 'access_token') body.token = token;
    if (field !== 'token') body.access_token = token;
    return { body, granted };
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const checkPassword = (user: string, password: string) => users[user]?.password === password;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/token') return send(res, 404, { error: 'not found' });
    const record = (r: Omit<TokenRequestRecord, 'time'>) => requests.push({ ...r, time: Date.now() });
    if (req.method === 'GET') {
      const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ').filter((x) => x !== ''));
      const header = req.headers.authorization;
      let user: string | undefined;
      if (header?.startsWith('Basic ')) {
        const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const name = decoded.slice(0, colon);
        if (colon < 0 || !checkPassword(name, decoded.slice(colon + 1))) {
          record({ method: 'GET', scopes, user: name, status: 401, granted: [] });
          return send(res, 401, {
            errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }],
          });
        }
        user = name;
      }
      const { body, granted } = issue(user, scopes);
      record({ method: 'GET', scopes, user, status: 200, granted });
      return send(res, 200, body);
    }
    if (req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const scopes = form.getAll('scope').flatMap((s) => s.split(' ').filter((x) => x !== ''));
      const grantType = form.get('grant_type') ?? undefined;
      if (options.oauth === false) {
        record({ method: 'POST', scopes, grantType, status: 404, granted: [] });
        return send(res, 404, { error: 'not found' });
      }
      let user: string | undefined;
      if (grantType === 'password') {
        const name = form.get('username') ?? '';
        if (!checkPassword(name, form.get('password') ?? '')) {
          record({ method: 'POST', scopes, grantType, user: name, status: 401, granted: [] });
          return send(res, 401, { error: 'invalid_grant' });
        }
        user = name;
      } else if (grantType === 'refresh_token') {
        user = refreshTokens.get(form.get('refresh_token') ?? '');
        if (user === undefined) {
          record({ method: 'POST', scopes, grantType, status: 401, granted: [] });
          return send(res, 401, { error: 'invalid_grant' });
        }
      } else {
        record({ method: 'POST', scopes, grantType, status: 400, granted: [] });
        return send(res, 400, { error: 'unsupported_grant_type' });
      }
      const { body, granted } = issue(user, scopes);
      const refresh = randomUUID();
      refreshTokens.set(refresh, user);
      body.refresh_token = refresh;
      if (body.access_token === undefined) body.access_token = body.token;
      record({ method: 'POST', scopes, grantType, user, status: 200, granted });
      return send(res, 200, body);
    }
    return send(res, 405, { error: 'method not allowed' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { error: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service: options.service,
    issuer: options.issuer,
    certFile,
    keyId,
    requests,
    setExpiresIn(seconds: number) {
      expiresIn = seconds;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
