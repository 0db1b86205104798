/**
 * The one registry client factory of the CLI and the app pipeline: which registries get plain
 * http, which credentials, deadlines, trusted CAs and retries. `--insecure` means the same
 * everywhere: bare, every registry the command names; with a value, that registry.
 */
import { OciDeltaError, parseRegistryReference } from '@ocidelta/core';
import { RegistryClient } from '@ocidelta/registry';

/** How to reach registries (the app pipeline's `registry` option, and the CLI's flags). */
export interface RegistryAccess {
  /** Registries (host[:port]) reached over plain http besides loopback. */
  insecure?: string[];
  /** Plain http for every registry the run names. */
  insecureAll?: boolean;
  /** `user:password` for every registry (else docker config.json / REGISTRY_AUTH_FILE). */
  creds?: string;
  /** A docker-style auth file. */
  authfile?: string;
  /** Connect, response-header and body-idle deadlines of registry requests (ms). */
  timeouts?: { connectMs?: number; headersMs?: number; bodyIdleMs?: number };
}

/** What only the CLI sets besides {@link RegistryAccess}. */
export interface ClientSettings extends RegistryAccess {
  /** PEM certificates to trust ('' trusts none beyond the system's). */
  ca?: string;
  retries?: number;
  logger?: (message: string) => void;
}

/** `user:password` split at the first colon; a value without one is an option error. */
export function parseCredentials(value: string): { username: string; password: string } {
  const colon = value.indexOf(':');
  if (colon <= 0) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      'registry credentials must be USER:PASSWORD (user name, colon, password)',
      {
        option: '--creds',
        hint: 'credentials',
      },
    );
  }
  return { username: value.slice(0, colon), password: value.slice(colon + 1) };
}

/** With `insecureAll`, the registries of `refs` join the insecure list (pure). */
export function expandInsecure(access: RegistryAccess, refs: readonly string[]): RegistryAccess {
  if (!access.insecureAll) return access;
  const hosts = new Set(access.insecure ?? []);
  for (const ref of refs) {
    try {
      hosts.add(parseRegistryReference(ref).registry);
    } catch {
      // an invalid ref fails later with its own message
    }
  }
  return { ...access, insecure: [...hosts] };
}

/** A registry client for `settings`, `--insecure` expanded over `refs` (the registries named). */
export function registryClientFor(
  settings: ClientSettings,
  refs: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): RegistryClient {
  const access = expandInsecure(settings, refs);
  return new RegistryClient({
    insecureRegistries: access.insecure ?? [],
    env,
    ...(settings.creds !== undefined ? { credentials: parseCredentials(settings.creds) } : {}),
    ...(access.authfile ? { authFile: access.authfile } : {}),
    ...(access.timeouts ? { timeouts: access.timeouts } : {}),
    ...(settings.ca !== undefined ? { ca: settings.ca } : {}),
    ...(settings.retries !== undefined ? { retries: { max: settings.retries } } : {}),
    ...(settings.logger ? { logger: settings.logger } : {}),
  });
}
