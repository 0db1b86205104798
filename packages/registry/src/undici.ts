/**
 * undici, loaded on first use: a command defines its options and prints `--help` without
 * loading the HTTP stack; the first request loads it. Only the parts the client uses are loaded
 * (the dispatcher API, `Agent`, `EnvHttpProxyAgent`): 25-32 ms against 70-100 ms for the
 * package's index, which also loads fetch, WebSocket, EventSource, caches and mocks (measured on
 * Node 20, 2-core machine). The module paths are undici's own layout: `undici.test.ts` checks they
 * are the classes and request function the package exports, so an upgrade that moves them fails
 * the tests, not a user.
 */

import { lazyModule } from '@ocidelta/core';
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

const part = <T>(path: string) => lazyModule<T>(import.meta.url, `undici/lib/${path}`);
const dispatcherClass = part<DispatcherClass>('dispatcher/dispatcher.js');
const api = part<DispatcherApi>('api/index.js');
const agent = part<typeof Undici.Agent>('dispatcher/agent.js');
const envProxyAgent = part<typeof Undici.EnvHttpProxyAgent>('dispatcher/env-http-proxy-agent.js');

let loaded: UndiciParts | undefined;

/** The undici parts, loaded the first time. */
export function undici(): UndiciParts {
  if (loaded) return loaded;
  const requestApi = api();
  // What undici's index does: dispatchers get request/stream/pipeline/upgrade/connect (a proxy
  // agent's tunnel calls `connect` on its client).
  Object.assign(dispatcherClass().prototype, requestApi);
  loaded = {
    Agent: agent(),
    EnvHttpProxyAgent: envProxyAgent(),
    request: (url, { dispatcher, ...options }) =>
      requestApi.request.call(dispatcher, {
        ...options,
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
      }),
  };
  return loaded;
}
