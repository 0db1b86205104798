/** The shapes of the registry HTTP layer: a request, a response, transport options, an endpoint. */
import type { Readable } from 'node:stream';
import type { CredentialStore } from './credentials.js';
import type { RegistryErrorContext } from './errors.js';
import type { ProxySettings } from './proxy.js';
import type { RetryPolicy, Timeouts } from './retry.js';

/** Request body: buffers are replayable (retries, auth round trips), streams are not. */
export type RequestBody = string | Uint8Array | Readable | AsyncIterable<Uint8Array>;

/** One request to a registry. */
export interface RegistryRequest {
  /** Registry as in references (`docker.io`, `localhost:5000`). */
  registry: string;
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** Path under the registry's base URL (`/v2/...`), or an absolute URL (Location, Link). */
  path: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Token scopes this request needs. */
  scopes: readonly string[];
  signal?: AbortSignal;
  /** Statuses returned to the caller; any other status throws (default: 200-299). */
  ok?: readonly number[];
  /** Context for errors. */
  context: RegistryErrorContext;
  /** Retry transient failures (default: GET/HEAD/PUT/DELETE with a replayable body). */
  retry?: boolean;
}

/** A response whose status the caller accepted. The body must be consumed or dumped. */
export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
  /** Final URL (after redirects). */
  url: string;
  /** First value of a header (lowercase name). */
  header(name: string): string | undefined;
}

export interface TransportOptions {
  credentials: CredentialStore;
  insecureRegistries: readonly string[];
  ca?: string | Buffer;
  userAgent: string;
  retry: RetryPolicy;
  timeouts: Timeouts;
  allowCrossHostCredentials: boolean;
  oauth2PasswordGrant: boolean;
  logger?: (msg: string) => void;
  now?: () => number;
  /** HTTP(S) proxy (from the environment: HTTPS_PROXY, HTTP_PROXY, NO_PROXY). */
  proxy?: ProxySettings;
}

/** What the transport knows about one registry. */
export interface RegistryEndpoint {
  registry: string;
  /** `https://host[:port]` or `http://host[:port]`. */
  base: string;
  hostname: string;
}
