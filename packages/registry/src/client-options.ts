/** The options of a RegistryClient and the shapes its manifest reads return. */
import type { Digest, Image, Index } from '@ocidelta/core';
import type { CredentialsOption } from './credentials.js';
import type { RetryPolicy, Timeouts } from './retry.js';

/** Options of a RegistryClient. */
export interface RegistryClientOptions {
  /** Fixed credentials for every registry, or a resolver per registry host. Wins over files. */
  credentials?: CredentialsOption;
  /** Auth file to read instead of the Docker/containers defaults (`--authfile`). */
  authFile?: string;
  /** Read `$REGISTRY_AUTH_FILE` and `$DOCKER_CONFIG/config.json` (default true). */
  useDockerConfig?: boolean;
  /** Registries (`host` or `host:port`) that may use plain HTTP or unverified TLS. */
  insecureRegistries?: string[];
  /** Extra CA certificate(s), PEM, trusted besides the system roots. */
  ca?: string | Buffer;
  /** Send credentials to a token realm on any host (default: same host or domain only). */
  allowCrossHostCredentials?: boolean;
  /** Retry bounds for transient failures. */
  retries?: Partial<RetryPolicy>;
  /** Connect, response-header and body-idle deadlines (defaults 15 s, 30 s, 30 s). */
  timeouts?: Partial<Timeouts>;
  /** Use OAuth2 `grant_type=password` (POST) with username/password instead of GET + Basic. */
  oauth2PasswordGrant?: boolean;
  userAgent?: string;
  /** Receives one line per request and retry; never secrets. */
  logger?: (msg: string) => void;
  /** Clock for token expiry (tests). */
  now?: () => number;
  /** Environment for config-file lookup and credential helpers (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Result of `getManifest`. */
export interface ManifestResult {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

/** Result of `getIndexOrImage`. */
export type IndexOrImage = { kind: 'index'; index: Index } | { kind: 'image'; image: Image };
