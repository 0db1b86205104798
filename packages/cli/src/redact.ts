/**
 * Secrets never reach the terminal, CI logs or --json: values of credential flags
 * (`--creds USER:PASS` keeps USER), tokens from the environment (MENDER_PAT, ...), and anything
 * that looks like credentials in text (`user:pass@` in URLs, `Authorization:` values,
 * `password=`/`token=` fields) are replaced by `***` in everything the CLI writes to stderr and
 * in JSON output.
 */
import { Writable } from 'node:stream';

export const REDACTED = '***';

/** Flags whose value is a secret (a `USER:PASS` value keeps the user name visible). */
const SECRET_FLAGS = new Set([
  '--creds',
  '--src-creds',
  '--dest-creds',
  '--password',
  '--token',
  '--mender-pat',
]);

/** Environment variables whose values are secrets. */
const SECRET_ENV = ['MENDER_PAT', 'MENDER_TOKEN', 'OCIDELTA_REGISTRY_PASSWORD', 'REGISTRY_PASSWORD'];

/** The secret part of a flag value: the password of `USER:PASS`, else all of it. */
function secretOf(value: string): string {
  const colon = value.indexOf(':');
  return colon > 0 ? value.slice(colon + 1) : value;
}

/** Secrets known for one run: from argv and the environment. Short values are ignored (would redact everything). */
export class Secrets {
  private readonly values = new Set<string>();
  private readonly flags = new Set(SECRET_FLAGS);

  static fromRun(argv: readonly string[], env: NodeJS.ProcessEnv): Secrets {
    const s = new Secrets();
    // docker's `login -p PASS`: not an option of ours (--password is), but a pasted docker command
    // line still must not echo the password; elsewhere -p is a platform.
    if (argv[0] === 'login') s.flags.add('-p');
    for (const [i, arg] of argv.entries()) {
      const eq = arg.indexOf('=');
      const flag = eq > 0 ? arg.slice(0, eq) : arg;
      if (!s.flags.has(flag)) continue;
      const value = eq > 0 ? arg.slice(eq + 1) : argv[i + 1];
      if (value !== undefined) s.add(secretOf(value));
    }
    for (const name of SECRET_ENV) {
      const value = env[name];
      if (value) s.add(value);
    }
    return s;
  }

  add(value: string): void {
    if (value.length >= 3) this.values.add(value);
  }

  /** `text` with every known secret and credential-shaped substring replaced. */
  redact(text: string): string {
    let out = text;
    // Longest first, so a secret that contains another is removed whole.
    for (const v of [...this.values].sort((a, b) => b.length - a.length)) out = out.split(v).join(REDACTED);
    return redactPatterns(out);
  }

  /** argv as it may be printed: secret flag values redacted. */
  argv(argv: readonly string[]): string[] {
    return argv.map((arg, i) => {
      const eq = arg.indexOf('=');
      if (eq > 0 && this.flags.has(arg.slice(0, eq)))
        return `${arg.slice(0, eq)}=${maskValue(arg.slice(eq + 1))}`;
      const prev = argv[i - 1];
      if (prev !== undefined && this.flags.has(prev)) return maskValue(arg);
      return this.redact(arg);
    });
  }
}

function maskValue(value: string): string {
  const colon = value.indexOf(':');
  return colon > 0 ? `${value.slice(0, colon)}:${REDACTED}` : REDACTED;
}

/** Credential shapes in free text. */
export function redactPatterns(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+):[^\s/@]+@/gi, `$1:${REDACTED}@`)
    .replace(/(authorization:\s*)(basic|bearer)\s+[^\s,"']+/gi, `$1$2 ${REDACTED}`)
    .replace(
      /("?(?:password|passwd|token|access_token|refresh_token|identitytoken|secret)"?\s*[:=]\s*)"[^"]*"/gi,
      `$1"${REDACTED}"`,
    );
}

/** A text stream that redacts before writing to `target` (stderr). */
export function redactingStream<T extends NodeJS.WritableStream & { isTTY?: boolean; columns?: number }>(
  target: T,
  secrets: Secrets,
): NodeJS.WritableStream & { isTTY?: boolean; columns?: number } {
  const out: Writable & { isTTY?: boolean; columns?: number } = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      // Passed on at once (not after the target's callback), so output order and timing stay
      // those of a direct write.
      target.write(secrets.redact(text));
      cb();
    },
  });
  // Progress bars look at these.
  if (target.isTTY !== undefined) out.isTTY = target.isTTY;
  if (target.columns !== undefined) out.columns = target.columns;
  return out;
}
