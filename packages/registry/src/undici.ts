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

/** What the registry client uses of undici. */
export interface UndiciParts {
  Agent: typeof Undici.Agent;
  EnvHttpProxyAgent: typeof Undici.EnvHttpProxyAgent;
  /** `request(url, options)` through `options.dispatcher`, like undici's own. */
  request: (
    url: URL,
    options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Dispatcher },
  ) => Promise<Dispatcher.ResponseData>;
}

type DispatcherClass = { prototype: object };
type DispatcherApi = Record<string, unknown> & {
  request: (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
};

/**
 * The parts from undici's `lib/` (resolved from `base`, under `prefix`); when one is missing (an
 * undici release that moved it: npm installs the newest 7.x, not our lockfile's), the whole
 * package through its index, which only costs start-up time.
 */
export function loadUndiciParts(base: string, prefix = 'undici/lib'): UndiciParts {
  try {
    const require = createRequire(base);
    const api = require(`${prefix}/api/index.js`) as DispatcherApi;
    const dispatcher = require(`${prefix}/dispatcher/dispatcher.js`) as DispatcherClass;
    const parts = {
      Agent: require(`${prefix}/dispatcher/agent.js`) as typeof Undici.Agent,
      EnvHttpProxyAgent: require(
        `${prefix}/dispatcher/env-http-proxy-agent.js`,
      ) as typeof Undici.EnvHttpProxyAgent,
    };
    // What undici's index does: dispatchers get request/stream/pipeline/upgrade/connect (a proxy
    // agent's tunnel calls `connect` on its client).
    Object.assign(dispatcher.prototype, api);
    return {
      ...parts,
      request: (url, { dispatcher: via, ...options }) =>
        api.request.call(via, { ...options, origin: url.origin, path: `${url.pathname}${url.search}` }),
    };
  } catch {
    const full = createRequire(base)('undici') as typeof Undici;
    return {
      Agent: full.Agent,
      EnvHttpProxyAgent: full.EnvHttpProxyAgent,
      request: (url, options) => full.request(url, options),
    };
  }
}

let loaded: UndiciParts | undefined;

/** The undici parts, loaded the first time. */
export function undici(): UndiciParts {
  loaded ??= loadUndiciParts(import.meta.url);
  return loaded;
}
