/**
 * Options shared by the registry commands (`pull`, `push`, `copy`, `inspect`, `tags`,
 * `digest`): `--insecure`, `--creds USER:PASS`, `--authfile FILE`, `--json`; building the
 * registry client from them (and closing it); option parsing; rendering progress and JSON output.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import type { RegistryClient } from '@ocidelta/registry';
import type { Command } from 'cac';
import type { CliIO } from '../command.js';
import { registryClientFor } from './registry-client.js';

/** Parsed values of the shared options (as cac gives them). */
export interface RegistryCliOptions {
  insecure?: boolean;
  creds?: string;
  authfile?: string;
  json?: boolean;
  quiet?: boolean;
  timeout?: string | number;
  ca?: string;
  certDir?: string;
  retryTimes?: string | number;
  debug?: boolean;
}

/** Declare the shared options on a command. */
export function withRegistryOptions(cmd: Command, options: { json?: boolean } = {}): Command {
  cmd
    .option('--insecure', 'Allow plain HTTP (and unverified TLS) for the registries named')
    .option('--creds <user:pass>', 'Credentials for the registry (default: docker config / auth file)')
    .option('--authfile <file>', 'Docker config.json / containers auth.json to read credentials from')
    .option('--timeout <seconds>', 'Give up on a silent registry after this long (default 30; connect 15)')
    .option('--ca <file>', 'PEM CA certificate(s) to trust besides the system roots')
    .option('--cert-dir <dir>', 'Trust every *.crt (PEM) in DIR as well (containers certs.d style)')
    .option('--retry-times <n>', 'Retries of a failed request (default 4; 0: none)')
    .option('-v, --debug', 'Log every registry request and retry to stderr (secrets redacted)');
  if (options.json) cmd.option('--json', 'Print the result as JSON');
  return cmd;
}

/** skopeo's per-side credentials of two-registry commands (copy, index merge). */
export interface SideCliOptions extends RegistryCliOptions {
  srcCreds?: string;
  destCreds?: string;
  srcAuthfile?: string;
  destAuthfile?: string;
}

/** Declare `--src-creds`, `--dest-creds`, `--src-authfile`, `--dest-authfile`. */
export function withSideOptions(cmd: Command, src = 'SRC', dest = 'DEST'): Command {
  return cmd
    .option('--src-creds <user:pass>', `Credentials for ${src} (default --creds)`)
    .option('--dest-creds <user:pass>', `Credentials for ${dest} (default --creds)`)
    .option('--src-authfile <file>', `Auth file for ${src} (default --authfile)`)
    .option('--dest-authfile <file>', `Auth file for ${dest} (default --authfile)`);
}

/** The options of one side (--src-creds / --dest-creds win over --creds, as in skopeo). */
export function sideOptions(opts: SideCliOptions, which: 'src' | 'dest'): RegistryCliOptions {
  const creds = which === 'src' ? opts.srcCreds : opts.destCreds;
  const authfile = which === 'src' ? opts.srcAuthfile : opts.destAuthfile;
  return {
    ...opts,
    ...(creds !== undefined ? { creds: stringOption(creds, `--${which}-creds`) } : {}),
    ...(authfile !== undefined ? { authfile: stringOption(authfile, `--${which}-authfile`) } : {}),
  };
}

/** A registry client configured from the shared options and the CLI's environment. */
export function createClient(opts: RegistryCliOptions, io: CliIO, refs: readonly string[]): RegistryClient {
  if (opts.creds !== undefined && typeof opts.creds !== 'string') {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', '--creds needs a value USER:PASS', { option: '--creds' });
  }
  if (opts.authfile !== undefined && typeof opts.authfile !== 'string') {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', '--authfile needs a file name', { option: '--authfile' });
  }
  const retries =
    opts.retryTimes === undefined
      ? undefined
      : wholeNumberOption(opts.retryTimes, '--retry-times', 'a number of retries');
  const ca = trustedCertificates(opts, io);
  return registryClientFor(
    {
      insecureAll: opts.insecure === true,
      ...(opts.creds !== undefined ? { creds: opts.creds } : {}),
      ...(opts.authfile !== undefined ? { authfile: resolve(io.cwd, opts.authfile) } : {}),
      ...(opts.timeout !== undefined ? { timeouts: timeoutsOption(opts.timeout) } : {}),
      ...(ca !== undefined ? { ca } : {}),
      ...(retries !== undefined ? { retries } : {}),
      ...(opts.debug ? { logger: (msg: string) => io.stderr.write(`debug: ${msg}\n`) } : {}),
    },
    refs,
    io.env,
  );
}

/** PEM text of `--ca FILE` and every `*.crt` of `--cert-dir DIR` (undefined when neither is given). */
function trustedCertificates(opts: RegistryCliOptions, io: CliIO): string | undefined {
  const files: string[] = [];
  const ca = stringOption(opts.ca, '--ca');
  if (ca !== undefined) files.push(resolve(io.cwd, ca));
  const dir = stringOption(opts.certDir, '--cert-dir');
  if (dir !== undefined) {
    const abs = resolve(io.cwd, dir);
    let names: string[];
    try {
      names = readdirSync(abs)
        .filter((n) => n.endsWith('.crt'))
        .sort();
    } catch (err) {
      throw new OciDeltaError(
        'ERR_INPUT',
        `--cert-dir ${abs}: cannot read it`,
        { path: abs },
        { cause: err },
      );
    }
    files.push(...names.map((n) => join(abs, n)));
  }
  if (files.length === 0) return ca === undefined && dir === undefined ? undefined : '';
  return files
    .map((f) => {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (err) {
        throw new OciDeltaError('ERR_INPUT', `cannot read CA certificate ${f}`, { path: f }, { cause: err });
      }
      if (!text.includes('-----BEGIN CERTIFICATE-----')) {
        throw new OciDeltaError('ERR_INPUT', `${f} is not a PEM certificate`, { path: f });
      }
      return text;
    })
    .join('\n');
}

/** `--timeout SECONDS`: the response-header and body-idle deadline (a positive number). */
export function timeoutsOption(value: string | number): { headersMs: number; bodyIdleMs: number } {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `--timeout must be a positive number of seconds, not "${value}"`,
      {
        option: '--timeout',
      },
    );
  }
  return { headersMs: seconds * 1000, bodyIdleMs: seconds * 1000 };
}

/**
 * Run `action` with a registry client configured from the shared options (see
 * {@link createClient}), closing the client afterwards whether or not `action` succeeds.
 */
export async function withClient<T>(
  opts: RegistryCliOptions,
  io: CliIO,
  refs: readonly string[],
  action: (client: RegistryClient) => Promise<T>,
): Promise<T> {
  const client = createClient(opts, io, refs);
  try {
    return await action(client);
  } finally {
    await client.close();
  }
}

/** Print a value as indented JSON. */
export function writeJson(io: CliIO, value: unknown, options: { compact?: boolean } = {}): void {
  const text = options.compact ? JSON.stringify(value) : JSON.stringify(value, null, 2);
  io.stdout.write(`${io.redact ? io.redact(text) : text}\n`);
}

/** Print a result: all of it as JSON with `--json`, else only its digest on a line. */
export function writeResult(io: CliIO, opts: RegistryCliOptions, result: { digest: string }): void {
  if (opts.json) writeJson(io, result);
  else io.stdout.write(`${result.digest}\n`);
}

/** A string option, or undefined; a repeated or valueless option is a usage error. */
export function stringOption(value: unknown, flag: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', `${flag} needs one value`, { option: flag });
  }
  return value;
}

/** A positive integer option (e.g. --concurrency). */
export function intOption(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `${flag} must be a positive integer (got ${String(value)})`,
      {
        option: flag,
      },
    );
  }
  return n;
}

/**
 * A whole-number option (0 or more, e.g. --layer, --mtime), or undefined; anything else is a
 * usage error `FLAG must be DESCRIPTION (got VALUE)`.
 */
export function wholeNumberOption(value: unknown, flag: string, description: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', `${flag} must be ${description} (got ${String(value)})`, {
      option: flag,
    });
  }
  return n;
}
