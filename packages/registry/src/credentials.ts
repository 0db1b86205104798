/**
 * Registry credentials: from client options, or from Docker's `config.json` (`auths` entries
 * with `auth` / `identitytoken`, `credHelpers`, `credsStore`), `$DOCKER_CONFIG` and
 * `$REGISTRY_AUTH_FILE` (containers-auth.json, same format). Credential helpers are run as
 * `docker-credential-<name> get` with the server URL on stdin (the documented helper protocol).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OciDeltaError, validate } from '@ocidelta/core';
import { z } from 'zod';

/** Username + password, or an identity (OAuth2 refresh) token. */
export type Creds = { username: string; password: string } | { identityToken: string; username?: string };

/** What callers may pass: fixed credentials, or a resolver per registry host. */
export type CredentialsOption = Creds | ((registry: string) => Promise<Creds | undefined>);

const AuthEntrySchema = z
  .object({
    auth: z.string().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    identitytoken: z.string().optional(),
  })
  .loose();

/** The parts of Docker's config.json (and containers-auth.json) that hold credentials. */
export const DockerConfigSchema = z
  .object({
    auths: z.record(z.string(), AuthEntrySchema).optional(),
    credHelpers: z.record(z.string(), z.string()).optional(),
    credsStore: z.string().optional(),
  })
  .loose();
export type DockerConfig = z.infer<typeof DockerConfigSchema>;

/** Docker Hub's historical key in config files and credential helpers. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_ALIASES = [
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
];

/** Strip scheme and path from a config key: `https://host:5000/v1/` -> `host:5000`. */
export function normalizeConfigKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z]+:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  return DOCKER_HUB_ALIASES.includes(k) ? 'docker.io' : k;
}

/** The server URL a credential helper is asked for: Docker Hub's legacy URL, else the host. */
export function helperServerUrl(registry: string): string {
  return normalizeConfigKey(registry) === 'docker.io' ? DOCKER_HUB_KEY : registry;
}

/** Decode an `auths` entry; undefined when it holds no usable credential. */
export function credsFromAuthEntry(entry: z.infer<typeof AuthEntrySchema>, where: string): Creds | undefined {
  let username = entry.username;
  let password = entry.password;
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new OciDeltaError('ERR_AUTH', `${where}: "auth" is not base64 of "user:password"`, {
        path: where,
      });
    }
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (entry.identitytoken) {
    return username
      ? { identityToken: entry.identitytoken, username }
      : { identityToken: entry.identitytoken };
  }
  if (username !== undefined && password !== undefined && (username !== '' || password !== '')) {
    return { username, password };
  }
  return undefined;
}

/** Find the entry for `registry` in a parsed config (`auths`), by normalized key. */
export function findAuthEntry(
  config: DockerConfig,
  registry: string,
): z.infer<typeof AuthEntrySchema> | undefined {
  const want = normalizeConfigKey(registry);
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (normalizeConfigKey(key) === want) return entry;
  }
  return undefined;
}

/** Find the credential helper name configured for `registry` in `credHelpers`. */
export function findCredHelper(config: DockerConfig, registry: string): string | undefined {
  const want = normalizeConfigKey(registry);
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
    if (normalizeConfigKey(key) === want) return helper;
  }
  return undefined;
}

const HelperOutputSchema = z.object({ Username: z.string(), Secret: z.string() }).loose();

/** What a credential helper run printed, and how it exited. */
export interface HelperRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run `docker-credential-<helper> <action>` with `input` on stdin (the Docker credential helper
 * protocol: get / store / erase). ERR_AUTH when the name is not a plain program name or the
 * program cannot be started; the exit code is the caller's to judge.
 */
export function runHelperProgram(
  helper: string,
  action: 'get' | 'store' | 'erase',
  input: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HelperRun> {
  const program = `docker-credential-${helper}`;
  if (!/^[A-Za-z0-9_.-]+$/.test(helper)) {
    return Promise.reject(
      new OciDeltaError('ERR_AUTH', `invalid credential helper name "${helper}"`, { helper }),
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) =>
      reject(
        new OciDeltaError('ERR_AUTH', `credential helper ${program} could not be run: ${e.message}`, {
          helper: program,
        }),
      ),
    );
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8').trim(),
        stderr: Buffer.concat(err).toString('utf8').trim(),
      }),
    );
    child.stdin.on('error', () => {}); // helper exited before reading: reported by 'close'
    child.stdin.end(input);
  });
}

/**
 * Ask `docker-credential-<helper> get` for `serverUrl`'s credentials. Returns undefined when the
 * helper has none ("credentials not found"); throws ERR_AUTH when it fails otherwise or is missing.
 */
export async function runCredentialHelper(
  helper: string,
  serverUrl: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Creds | undefined> {
  const program = `docker-credential-${helper}`;
  const { code, stdout, stderr } = await runHelperProgram(helper, 'get', serverUrl, env);
  if (code !== 0) {
    const msg = stdout || stderr;
    if (/credentials not found/i.test(msg)) return undefined;
    throw new OciDeltaError(
      'ERR_AUTH',
      `credential helper ${program} failed for ${serverUrl} (exit ${code}): ${msg.slice(0, 200)}`,
      { helper: program, serverUrl },
    );
  }
  let parsed: z.infer<typeof HelperOutputSchema>;
  try {
    parsed = HelperOutputSchema.parse(JSON.parse(stdout));
  } catch {
    throw new OciDeltaError(
      'ERR_AUTH',
      `credential helper ${program} returned invalid JSON for ${serverUrl}`,
      {
        helper: program,
        serverUrl,
      },
    );
  }
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
  return { username: parsed.Username, password: parsed.Secret };
}

/** Where to look for credential files. */
export interface CredentialStoreOptions {
  /** An explicit auth file (`--authfile`); when set, the environment's files are not read. */
  authFile?: string;
  /** Read `$REGISTRY_AUTH_FILE` and `$DOCKER_CONFIG/config.json` (~/.docker). Default true. */
  useDockerConfig?: boolean;
  /** Environment (default process.env); used for the file locations and the helpers. */
  env?: NodeJS.ProcessEnv;
}

/** The config files consulted, in order of precedence. */
export function credentialFiles(options: CredentialStoreOptions = {}): string[] {
  if (options.authFile) return [options.authFile];
  if (options.useDockerConfig === false) return [];
  const env = options.env ?? process.env;
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  const dockerDir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
  files.push(join(dockerDir, 'config.json'));
  return files;
}

async function readConfig(path: string, required: boolean): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OciDeltaError('ERR_AUTH', `cannot read auth file ${path}: ${(err as Error).message}`, { path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new OciDeltaError('ERR_AUTH', `auth file ${path} is not valid JSON: ${(err as Error).message}`, {
      path,
    });
  }
  return validate(DockerConfigSchema, json, {
    code: 'ERR_AUTH',
    what: `invalid auth file ${path}`,
    details: { path },
  });
}

/** Look up credentials for `registry` in one parsed config: credHelpers, then auths, then credsStore. */
export async function credsFromConfig(
  config: DockerConfig,
  registry: string,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Creds | undefined> {
  const helper = findCredHelper(config, registry);
  if (helper) return runCredentialHelper(helper, helperServerUrl(registry), env);
  const entry = findAuthEntry(config, registry);
  const fromFile = entry ? credsFromAuthEntry(entry, where) : undefined;
  if (fromFile) return fromFile;
  if (config.credsStore) {
    try {
      return await runCredentialHelper(config.credsStore, helperServerUrl(registry), env);
    } catch (err) {
      // A credsStore copied from another machine (e.g. "desktop") must not break anonymous pulls.
      if (entry === undefined) return undefined;
      throw err;
    }
  }
  return undefined;
}

/**
 * Resolves credentials per registry host and caches the answers (helpers run once per host).
 */
export class CredentialStore {
  private readonly cache = new Map<string, Promise<Creds | undefined>>();
  constructor(
    private readonly explicit: CredentialsOption | undefined,
    private readonly options: CredentialStoreOptions = {},
  ) {}

  /** Credentials for a registry host (as in a reference, e.g. `docker.io`, `localhost:5000`). */
  get(registry: string): Promise<Creds | undefined> {
    let p = this.cache.get(registry);
    if (!p) {
      p = this.lookup(registry);
      this.cache.set(registry, p);
      p.catch(() => this.cache.delete(registry));
    }
    return p;
  }

  private async lookup(registry: string): Promise<Creds | undefined> {
    if (typeof this.explicit === 'function') {
      const c = await this.explicit(registry);
      if (c) return c;
    } else if (this.explicit) {
      return this.explicit;
    }
    const env = this.options.env ?? process.env;
    const files = credentialFiles(this.options);
    for (const file of files) {
      const config = await readConfig(file, file === this.options.authFile);
      if (!config) continue;
      const c = await credsFromConfig(config, registry, file, env);
      if (c) return c;
    }
    return undefined;
  }
}
