/**
 * The HTTP layer of the registry client: undici keep-alive agents, per-registry base URL
 * (TLS by default; plain `http://` only for loopback and registries marked insecure, after a
 * TLS attempt), authentication (see auth.ts), retries with backoff (see retry.ts) for
 * idempotent requests with replayable bodies, and redirects that never carry `Authorization`
 * to another origin. Every failure becomes a typed RegistryError.
 */
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { OciDeltaError, registryApiHost } from '@ocidelta/core';
import type { Dispatcher } from 'undici';
import { Authenticator } from './auth.js';
import { parseChallenges } from './challenge.js';
import {
  abortError,
  networkError,
  RegistryError,
  type RegistryErrorContext,
  responseError,
} from './errors.js';
import {
  dump,
  first,
  isAbort,
  isCertificateError,
  isLoopbackHost,
  isPlainHttpAnswer,
  logUrl,
  readText,
  replayable,
} from './http-helpers.js';
import type {
  RegistryEndpoint,
  RegistryRequest,
  RegistryResponse,
  RequestBody,
  TransportOptions,
} from './http-types.js';
import { dispatcherFor, proxyForProtocol } from './proxy.js';
import { isRetryableError, isRetryableStatus, parseRetryAfter, retryDelay, sleep } from './retry.js';
import type { TokenHttp } from './token.js';
import { requestVia } from './undici.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/** Sends registry requests. One per client; owns the connection pools. */
export class Transport {
  readonly auth: Authenticator;
  private readonly endpoints = new Map<string, Promise<RegistryEndpoint>>();
  private readonly insecure: Set<string>;
  private verified: Dispatcher | undefined;
  /** For plain-HTTP URLs (loopback and insecure registries). */
  private plain: Dispatcher | undefined;
  /** Set by close(): later requests (a blob stream resuming, say) fail with ERR_ABORTED. */
  private closed = false;
  /** Response bodies not yet closed. */
  private readonly open = new Set<Readable>();
  private unverified: Dispatcher | undefined;

  constructor(private readonly options: TransportOptions) {
    this.insecure = new Set(options.insecureRegistries.map((r) => r.toLowerCase()));
    const tokenHttp: TokenHttp = async (req) => {
      const res = await this.send(req.url, req.method, req.headers, req.body, {
        signal: req.signal,
        retry: true,
        context: { url: req.url, method: req.method, resource: 'token' },
        authOrigin: undefined,
        authorization: undefined,
      });
      return { status: res.status, body: await readText(res.body, 1024 * 1024) };
    };
    this.auth = new Authenticator(tokenHttp, options.credentials, {
      allowCrossHostCredentials: options.allowCrossHostCredentials,
      oauth2PasswordGrant: options.oauth2PasswordGrant,
      logger: options.logger,
      now: options.now,
    });
  }

  private isInsecure(hostport: string): boolean {
    const h = hostport.toLowerCase();
    return this.insecure.has(h) || this.insecure.has(h.replace(/:\d+$/, ''));
  }

  private agentFor(url: URL): Dispatcher {
    if (url.protocol === 'http:') {
      this.plain ??= dispatcherFor(
        {
          connect: { timeout: this.options.timeouts.connectMs },
          keepAliveTimeout: 30_000,
          headersTimeout: this.options.timeouts.headersMs,
          bodyTimeout: this.options.timeouts.bodyIdleMs,
        },
        proxyForProtocol(this.options.proxy, 'http:'),
      );
      return this.plain;
    }
    if (this.isInsecure(url.host)) {
      this.unverified ??= dispatcherFor(
        {
          connect: { rejectUnauthorized: false, timeout: this.options.timeouts.connectMs },
          keepAliveTimeout: 30_000,
          headersTimeout: this.options.timeouts.headersMs,
          bodyTimeout: this.options.timeouts.bodyIdleMs,
        },
        proxyForProtocol(this.options.proxy, 'https:'),
      );
      return this.unverified;
    }
    this.verified ??= dispatcherFor(
      {
        connect: {
          timeout: this.options.timeouts.connectMs,
          ...(this.options.ca ? { ca: [...rootCertificates, this.options.ca.toString()] } : {}),
        },
        keepAliveTimeout: 30_000,
        headersTimeout: this.options.timeouts.headersMs,
        bodyTimeout: this.options.timeouts.bodyIdleMs,
      },
      proxyForProtocol(this.options.proxy, 'https:'),
    );
    return this.verified;
  }

  /**
   * Find the registry's base URL and its authentication challenge with `GET /v2/`. TLS first;
   * plain HTTP only for loopback hosts and insecure registries when TLS fails to connect.
   */
  endpoint(registry: string, signal?: AbortSignal): Promise<RegistryEndpoint> {
    let p = this.endpoints.get(registry);
    if (!p) {
      // Shared by concurrent callers, so not tied to one caller's signal; each caller races it.
      p = this.ping(registry);
      this.endpoints.set(registry, p);
      p.catch(() => this.endpoints.delete(registry));
    }
    if (!signal) return p;
    const ping = p;
    return new Promise<RegistryEndpoint>((resolve, reject) => {
      const onAbort = () => reject(abortError({ ref: registry, resource: 'ping' }, signal.reason));
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      ping.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private async ping(registry: string): Promise<RegistryEndpoint> {
    const host = registryApiHost(registry);
    const plainAllowed = isLoopbackHost(host) || this.isInsecure(host) || this.isInsecure(registry);
    const schemes = plainAllowed ? ['https', 'http'] : ['https'];
    for (const [i, scheme] of schemes.entries()) {
      const last = i === schemes.length - 1;
      const base = `${scheme}://${host}`;
      const url = `${base}/v2/`;
      let res: RegistryResponse;
      try {
        res = await this.send(url, 'GET', {}, undefined, {
          retry: last,
          context: { ref: registry, url, method: 'GET', resource: 'ping' },
          authOrigin: undefined,
          authorization: undefined,
          rawErrors: !last,
        });
      } catch (err) {
        if (isCertificateError(err)) {
          // The server speaks TLS but we do not trust it: never downgrade, say what to do.
          const code = (err as { code?: string }).code ?? (err as Error).message;
          throw new RegistryError(
            'ERR_NETWORK',
            `${registry}: TLS certificate not trusted (${code}); pass its CA certificate (ca option) or mark the registry insecure`,
            { ref: registry, url, method: 'GET', resource: 'ping' },
            { cause: err },
          );
        }
        if (!last && !isAbort(err)) {
          this.options.logger?.(`${url}: ${(err as Error).message}; trying plain HTTP`);
          continue;
        }
        if (scheme === 'https' && !plainAllowed && isPlainHttpAnswer(err)) {
          throw new RegistryError(
            'ERR_NETWORK',
            `${registry}: server gave an HTTP response to an HTTPS client; if it serves plain HTTP, mark it insecure`,
            { ref: registry, url, method: 'GET', resource: 'ping', hint: 'insecure-registry' },
            { cause: err },
          );
        }
        throw err;
      }
      const challenges = res.status === 401 ? parseChallenges(res.headers['www-authenticate']) : [];
      if (res.status >= 500) {
        throw responseError(res.status, await readText(res.body), {
          ref: registry,
          url,
          method: 'GET',
          resource: 'ping',
        });
      }
      dump(res.body);
      const endpoint: RegistryEndpoint = { registry, base, hostname: new URL(base).hostname };
      this.auth.setChallenges(registry, challenges);
      return endpoint;
    }
    throw new Error('unreachable');
  }

  /** Send a registry request with auth, retries and redirects; throws on unaccepted statuses. */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    if (this.closed) {
      throw new OciDeltaError('ERR_ABORTED', `the registry client was closed (${req.method} ${req.path})`, {
        registry: req.registry,
      });
    }
    const ep = await this.endpoint(req.registry, req.signal);
    const url = /^https?:\/\//i.test(req.path) ? req.path : `${ep.base}${req.path}`;
    const context: RegistryErrorContext = {
      ...req.context,
      method: req.method,
      url: logUrl(url).replace('?...', ''),
    };
    const canReplay = replayable(req.body);
    const idempotent =
      req.method === 'GET' || req.method === 'HEAD' || req.method === 'PUT' || req.method === 'DELETE';
    const retry = (req.retry ?? idempotent) && canReplay;
    let scopes = req.scopes;
    let authorization = await this.auth.header(ep, scopes, req.signal);
    for (let round = 0; ; round++) {
      const res = await this.send(url, req.method, req.headers ?? {}, req.body, {
        signal: req.signal,
        retry,
        context,
        authOrigin: ep.base,
        authorization,
      });
      if (res.status === 401 && round === 0 && canReplay) {
        const next = await this.auth
          .onUnauthorized(ep, scopes, res.headers['www-authenticate'], authorization, req.signal)
          .catch((err: unknown) => {
            dump(res.body);
            throw err;
          });
        if (next !== undefined) {
          dump(res.body);
          scopes = next.scopes;
          authorization = next.authorization;
          continue;
        }
      }
      const ok = req.ok ?? [];
      if ((req.ok === undefined && res.status >= 200 && res.status < 300) || ok.includes(res.status))
        return res;
      const text = req.method === 'HEAD' ? '' : await readText(res.body);
      if (req.method === 'HEAD') dump(res.body);
      const hint = this.auth.hint(ep, res.status, authorization);
      throw responseError(
        res.status,
        text,
        hint?.code ? { ...context, hint: hint.code } : context,
        hint?.message,
      );
    }
  }

  /**
   * One logical send: retries transient failures when `retry`, follows redirects for GET/HEAD
   * (Authorization only to `authOrigin`).
   */
  private async send(
    url: string,
    method: string,
    headers: Record<string, string>,
    body: RequestBody | undefined,
    o: {
      signal?: AbortSignal;
      retry: boolean;
      context: RegistryErrorContext;
      authOrigin: string | undefined;
      authorization: string | undefined;
      rawErrors?: boolean;
    },
  ): Promise<RegistryResponse> {
    const policy = this.options.retry;
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      let res: RegistryResponse;
      try {
        res = await this.sendFollowing(url, method, headers, body, o);
      } catch (err) {
        if (isAbort(err, o.signal)) throw abortError(o.context, o.signal?.reason ?? err);
        // Our own errors (e.g. a request body failing verification) pass through untouched.
        if (err instanceof OciDeltaError) throw err;
        const delay =
          o.retry && isRetryableError(err)
            ? retryDelay(attempt, policy, undefined, Math.random, Date.now() - started)
            : undefined;
        if (delay === undefined) throw o.rawErrors ? err : networkError(err, o.context);
        this.options.logger?.(
          `${method} ${logUrl(url)}: ${(err as { code?: string }).code ?? (err as Error).message}; retry ${attempt + 1}/${policy.max} in ${Math.round(delay)} ms`,
        );
        await this.wait(delay, o);
        continue;
      }
      if (o.retry && isRetryableStatus(res.status)) {
        const retryAfter = parseRetryAfter(res.header('retry-after'));
        const delay = retryDelay(attempt, policy, retryAfter, Math.random, Date.now() - started);
        if (delay !== undefined) {
          dump(res.body);
          this.options.logger?.(
            `${method} ${logUrl(url)} -> ${res.status}; retry ${attempt + 1}/${policy.max} in ${Math.round(delay)} ms`,
          );
          await this.wait(delay, o);
          continue;
        }
      }
      return res;
    }
  }

  private async wait(ms: number, o: { signal?: AbortSignal; context: RegistryErrorContext }): Promise<void> {
    try {
      await sleep(ms, o.signal);
    } catch (err) {
      throw abortError(o.context, err);
    }
  }

  private async sendFollowing(
    url: string,
    method: string,
    headers: Record<string, string>,
    body: RequestBody | undefined,
    o: { signal?: AbortSignal; authOrigin: string | undefined; authorization: string | undefined },
  ): Promise<RegistryResponse> {
    let current = new URL(url);
    let authorization = o.authorization;
    for (let hop = 0; ; hop++) {
      if (authorization !== undefined && current.origin !== o.authOrigin) authorization = undefined;
      const h: Record<string, string> = { 'user-agent': this.options.userAgent, ...headers };
      if (authorization !== undefined) h.authorization = authorization;
      const r = await requestVia(this.agentFor(current), current, {
        method: method as Dispatcher.HttpMethod,
        headers: h,
        body: body as Dispatcher.DispatchOptions['body'],
        signal: o.signal,
      });
      this.options.logger?.(`${method} ${logUrl(current.href)} -> ${r.statusCode}`);
      const location = first(r.headers.location);
      const follow = (method === 'GET' || method === 'HEAD') && REDIRECTS.has(r.statusCode) && location;
      if (follow && hop < MAX_REDIRECTS) {
        dump(r.body);
        const next = new URL(location, current);
        // Never downgrade from TLS to plain HTTP on a redirect.
        if (current.protocol === 'https:' && next.protocol !== 'https:') {
          throw new Error(`refusing redirect from ${current.origin} to ${next.origin}`);
        }
        current = next;
        continue;
      }
      const responseHeaders = r.headers;
      // Bodies in flight, so close() can end the ones nobody reads to the end.
      this.open.add(r.body);
      r.body.once('close', () => this.open.delete(r.body));
      return {
        status: r.statusCode,
        headers: responseHeaders,
        body: r.body,
        url: current.href,
        header: (name: string) => first(responseHeaders[name.toLowerCase()]),
      };
    }
  }

  /**
   * Close the connection pools. Response bodies still open (a blob stream nobody reads to the
   * end) are destroyed with ERR_ABORTED first, so this never hangs; later requests fail.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const body of this.open) {
      body.destroy(
        new OciDeltaError('ERR_ABORTED', 'the registry client was closed while a response was being read'),
      );
    }
    this.open.clear();
    const agents = [this.verified, this.unverified, this.plain].filter(
      (a): a is Dispatcher => a !== undefined,
    );
    this.verified = undefined;
    this.unverified = undefined;
    this.plain = undefined;
    await Promise.all(agents.map((agent) => agent.close()));
  }
}
