/**
 * undici, loaded on first use: a command defines its options and prints `--help` without
 * loading the HTTP stack; the first request loads it. Only the parts the client uses are loaded
 * (the dispatcher API, `Agent`, `EnvHttpProxyAgent`): 25-32 ms against 70-100 ms for the
 * package's index, which also loads fetch, WebSocket, EventSource, caches and mocks (measured on
 * Node 20, 2-core machine). The module paths are undici's own layout: `undici.test.ts` checks they
 * are the classes the package exports, so an upgrade of ours that moves them fails the tests;
 * where a user's newer undici moved one, the package's index is loaded instead.
 */

import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import type { Dispatcher } from 'undici';

/**
 * What the registry client uses of undici. Its dispatchers (these agents) carry the request API
 * (`dispatcher.request`, see `requestVia`), as with undici's own index.
 */
export interface UndiciParts {
  Agent: typeof Undici.Agent;
  EnvHttpProxyAgent: typeof Undici.EnvHttpProxyAgent;
}

type DispatcherClass = { prototype: object };

/**
 * The parts from undici's `lib/` (resolved from `base`, under `prefix`); when one is missing (an
 * undici release that moved it: npm installs the newest 7.x, not our lockfile's), the whole
 * package through its index, which only costs start-up time.
 */
export function loadUndiciParts(base: string, prefix = 'undici/lib'): UndiciParts {
  try {
    const require = createRequire(base);
    const api = require(`${prefix}/api/index.js`) as object;
    const dispatcher = require(`${prefix}/dispatcher/dispatcher.js`) as DispatcherClass;
    const parts: UndiciParts = {
      Agent: require(`${prefix}/dispatcher/agent.js`) as typeof Undici.Agent,
      EnvHttpProxyAgent: require(
        `${prefix}/dispatcher/env-http-proxy-agent.js`,
      ) as typeof Undici.EnvHttpProxyAgent,
    };
    // What undici's index does: dispatchers get request/stream/pipeline/upgrade/connect (a proxy
    // agent's tunnel calls `connect` on its client).
    Object.assign(dispatcher.prototype, api);
    return parts;
  } catch {
    const full = createRequire(base)('undici') as typeof Undici;
    return { Agent: full.Agent, EnvHttpProxyAgent: full.EnvHttpProxyAgent };
  }
}

let loaded: UndiciParts | undefined;

/** The undici parts, loaded the first time. */
export function undici(): UndiciParts {
  loaded ??= loadUndiciParts(import.meta.url);
  return loaded;
}

/**
 * `url` requested through `dispatcher` (one of `dispatcherFor`'s: an agent or proxy agent of
 * these parts), as undici's top-level `request(url, { dispatcher })` does, without loading its
 * index.
 */
export function requestVia(
  dispatcher: Dispatcher,
  url: URL,
  options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'>,
): Promise<Dispatcher.ResponseData> {
  return dispatcher.request({ ...options, origin: url.origin, path: `${url.pathname}${url.search}` });
}
