/**
 * HTTP(S) proxies from the environment, as curl and Docker read them: `HTTPS_PROXY` for https
 * URLs, `HTTP_PROXY` for http (lowercase names win), `NO_PROXY` hosts that go direct. The
 * dispatcher is undici's EnvHttpProxyAgent: CONNECT tunnels for https (TLS stays end to end,
 * the registry's certificate is checked as without a proxy), absolute-form requests for http.
 */
import type { Agent, Dispatcher, EnvHttpProxyAgent } from 'undici';
import { undici } from './undici.js';

export interface ProxySettings {
  http?: string;
  https?: string;
  noProxy?: string;
}

/** The proxy settings of `env`, or undefined when no proxy is set. */
export function proxySettings(env: NodeJS.ProcessEnv): ProxySettings | undefined {
  const http = env.http_proxy ?? env.HTTP_PROXY;
  const https = env.https_proxy ?? env.HTTPS_PROXY;
  if (!http && !https) return undefined;
  const noProxy = env.no_proxy ?? env.NO_PROXY;
  return {
    ...(http ? { http } : {}),
    ...(https ? { https } : {}),
    ...(noProxy ? { noProxy } : {}),
  };
}

/**
 * The settings that apply to URLs of `protocol` (curl's and Go's rule: https URLs use
 * HTTPS_PROXY only, http URLs HTTP_PROXY only); undefined when none does.
 */
export function proxyForProtocol(
  proxy: ProxySettings | undefined,
  protocol: string,
): ProxySettings | undefined {
  const uri = protocol === 'https:' ? proxy?.https : proxy?.http;
  if (!proxy || !uri) return undefined;
  return {
    ...(protocol === 'https:' ? { https: uri } : { http: uri }),
    ...(proxy.noProxy ? { noProxy: proxy.noProxy } : {}),
  };
}

/**
 * A dispatcher with `options` (TLS in `options.connect` applies to the registry itself, through
 * a tunnel too): an Agent, or a proxy agent when `proxy` is set. Only `proxy` is read, never
 * process.env behind the caller's back; give it `proxyForProtocol(...)` of the URLs it serves.
 */
export function dispatcherFor(options: Agent.Options, proxy: ProxySettings | undefined): Dispatcher {
  const { Agent: AgentClass, EnvHttpProxyAgent: ProxyAgentClass } = undici();
  if (!proxy || (!proxy.http && !proxy.https)) return new AgentClass(options);
  const tls = typeof options.connect === 'object' ? options.connect : undefined;
  const proxyOptions: EnvHttpProxyAgent.Options & { proxyTunnel: boolean } = {
    ...options,
    ...(tls ? { requestTls: tls } : {}),
    httpProxy: proxy.http ?? '',
    httpsProxy: proxy.https ?? '',
    noProxy: proxy.noProxy ?? '',
    // Plain-HTTP requests in absolute form, as curl sends them (proxies often allow CONNECT
    // to port 443 only); https goes through a CONNECT tunnel.
    proxyTunnel: false,
  };
  return new ProxyAgentClass(proxyOptions);
}
