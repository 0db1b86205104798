/**
 * Paginated listings (`/v2/<repo>/tags/list`, `/v2/_catalog`): `n`/`last` query parameters and
 * `Link: <url>; rel="next"` headers (relative or absolute, opaque next URLs followed as given).
 */
import { z } from 'zod';
import type { RegistryErrorContext } from './errors.js';
import { RegistryError } from './errors.js';
import type { Transport } from './http.js';
import { readText } from './http-helpers.js';

/** The `rel="next"` target of a `Link` header, or undefined. Handles several links per header. */
export function parseLinkNext(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const re = /<([^>]*)>((?:\s*;\s*[^;,]+)*)/g;
  for (let m = re.exec(header); m !== null; m = re.exec(header)) {
    const params = m[2] ?? '';
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
    const value = rel?.[1] ?? rel?.[2];
    if (value?.split(/\s+/).includes('next')) return m[1];
  }
  return undefined;
}

/** Query string for `n` and `last`. */
export function pageQuery(opts: { n?: number; last?: string }): string {
  const q = new URLSearchParams();
  if (opts.n !== undefined) q.set('n', String(opts.n));
  if (opts.last !== undefined) q.set('last', opts.last);
  const s = q.toString();
  return s ? `?${s}` : '';
}

const MAX_PAGES = 100_000;
const PAGE_LIMIT = 16 * 1024 * 1024;

/** Fetch every page of a listing and collect the entries of `field`. */
export async function listAll(
  transport: Transport,
  o: {
    registry: string;
    path: string;
    field: 'tags' | 'repositories';
    scopes: readonly string[];
    signal?: AbortSignal;
    context: RegistryErrorContext;
  },
): Promise<string[]> {
  const schema = z.object({ [o.field]: z.array(z.string()).nullish() }).loose();
  const out: string[] = [];
  const seen = new Set<string>();
  let path: string | undefined = o.path;
  for (let page = 0; path !== undefined && page < MAX_PAGES; page++) {
    const res = await transport.request({
      registry: o.registry,
      method: 'GET',
      path,
      headers: { accept: 'application/json' },
      scopes: o.scopes,
      signal: o.signal,
      context: o.context,
    });
    const text = await readText(res.body, PAGE_LIMIT);
    let items: string[];
    try {
      const parsed = schema.parse(JSON.parse(text)) as Record<string, string[] | null | undefined>;
      items = parsed[o.field] ?? [];
    } catch {
      throw new RegistryError(
        'ERR_REGISTRY',
        `${o.context.ref ?? o.registry}: invalid ${o.field} list response`,
        {
          ...o.context,
          url: res.url,
          status: res.status,
        },
      );
    }
    out.push(...items);
    seen.add(res.url);
    const next = parseLinkNext(res.header('link'));
    path = next === undefined ? undefined : new URL(next, res.url).href;
    if (path !== undefined && seen.has(path)) break; // a server linking to itself
  }
  return out;
}
