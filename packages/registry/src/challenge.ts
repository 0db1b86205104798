/**
 * `WWW-Authenticate` parsing (RFC 7235): several challenges per header (and several headers),
 * quoted values containing commas and backslash escapes, token68 credentials, case-insensitive
 * scheme and parameter names. Plus scope helpers for Distribution token auth. Pure functions.
 */

/** One authentication challenge, e.g. `Bearer realm="...",service="...",scope="..."`. */
export interface Challenge {
  /** Scheme in lowercase: `bearer`, `basic`... */
  scheme: string;
  /** Parameters with lowercase names and unescaped values. */
  params: Record<string, string>;
  /** A token68 value (`Negotiate abc==`), when the challenge has one instead of parameters. */
  token68?: string;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
/** A token68 is followed by a comma or the end; a parameter would have a value after '='. */
const TOKEN68_RE = /^([A-Za-z0-9\-._~+/]+=*)[ \t]*(?:,|$)/;

class Scanner {
  pos = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.pos >= this.s.length;
  }
  peek(): string {
    return this.s[this.pos] ?? '';
  }
  skipWs(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }
  skipWsAndCommas(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === ',') this.pos++;
  }
  token(): string {
    const start = this.pos;
    while (!this.done && TOKEN_CHAR.test(this.peek())) this.pos++;
    return this.s.slice(start, this.pos);
  }
  quoted(): string {
    // At the opening quote.
    this.pos++;
    let out = '';
    while (!this.done) {
      const c = this.peek();
      this.pos++;
      if (c === '\\') {
        if (!this.done) out += this.s[this.pos++];
      } else if (c === '"') {
        return out;
      } else {
        out += c;
      }
    }
    return out; // unterminated: take what there is
  }
  /** Skip to the next comma (for garbage we cannot parse). */
  skipToComma(): void {
    while (!this.done && this.peek() !== ',') this.pos++;
  }
}

/**
 * Parse one or more `WWW-Authenticate` header values into challenges, in order. Malformed
 * parts are skipped rather than thrown on (a bad header must not hide a good challenge).
 */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (typeof header !== 'string') return header.flatMap((h) => parseChallenges(h));
  const sc = new Scanner(header);
  const out: Challenge[] = [];
  let current: Challenge | undefined;
  while (true) {
    sc.skipWsAndCommas();
    if (sc.done) break;
    const name = sc.token();
    if (name === '') {
      // Not a token (stray quote, bracket...): skip this element.
      sc.pos++;
      sc.skipToComma();
      continue;
    }
    sc.skipWs();
    if (sc.peek() === '=') {
      // name=value: a parameter of the current challenge.
      sc.pos++;
      sc.skipWs();
      const value = sc.peek() === '"' ? sc.quoted() : sc.token();
      if (current !== undefined && !(name.toLowerCase() in current.params)) {
        current.params[name.toLowerCase()] = value;
      }
      continue;
    }
    // A token without '=': a new scheme, maybe followed by a token68 (`Negotiate abc==`).
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
    const m = TOKEN68_RE.exec(sc.s.slice(sc.pos));
    if (m?.[1] !== undefined) {
      current.token68 = m[1];
      sc.pos += m[1].length;
    }
  }
  return out;
}

/** The first challenge of the given scheme (`bearer`, `basic`), case-insensitive. */
export function findChallenge(challenges: readonly Challenge[], scheme: string): Challenge | undefined {
  const s = scheme.toLowerCase();
  return challenges.find((c) => c.scheme === s);
}

/** The scopes of a challenge's `scope` parameter (space-separated), in order, without empties. */
export function challengeScopes(challenge: Challenge | undefined): string[] {
  const scope = challenge?.params.scope;
  return scope ? scope.split(' ').filter((s) => s !== '') : [];
}

/** A scope `type:name:actions` split; the name may contain colons (`registry:5000/x`). */
export interface ParsedScope {
  type: string;
  name: string;
  actions: string[];
}

/** Parse `repository:library/ubuntu:pull,push`; undefined when it has fewer than three parts. */
export function parseScope(scope: string): ParsedScope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter((a) => a !== ''),
  };
}

/**
 * Merge scope lists: scopes on the same `type:name` get the union of their actions (in first
 * seen order); unparsable scopes are kept as they are. Output is sorted for stable cache keys.
 */
export function mergeScopes(...lists: ReadonlyArray<readonly string[]>): string[] {
  const merged = new Map<string, string[]>();
  const opaque = new Set<string>();
  for (const list of lists) {
    for (const scope of list) {
      const p = parseScope(scope);
      if (p === undefined) {
        opaque.add(scope);
        continue;
      }
      const key = `${p.type}:${p.name}`;
      const actions = merged.get(key) ?? [];
      for (const a of p.actions) if (!actions.includes(a)) actions.push(a);
      merged.set(key, actions);
    }
  }
  const out = [...opaque];
  for (const [key, actions] of merged) out.push(`${key}:${actions.join(',')}`);
  return out.sort();
}

/** Scope for reading a repository. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

/** Scope for writing a repository. */
export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/** Scope for deleting in a repository (distribution checks the `delete` action). */
export function deleteScope(repository: string): string {
  return `repository:${repository}:delete`;
}

/** Scope for listing the catalog. */
export const CATALOG_SCOPE = 'registry:catalog:*';
