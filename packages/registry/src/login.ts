/**
 * `docker login` / `docker logout` for Docker's config.json (and containers-auth.json, same
 * format): credentials are checked against the registry first (GET /v2/ with them, through the
 * Basic or token challenge it answers), then stored: in the credential helper the config names
 * for the registry (`credHelpers`, else `credsStore`: `docker-credential-<name> store`), else as
 * an `auths` entry. The file is rewritten atomically with mode 0600, every other field kept.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import { RegistryClient } from './client.js';
import {
  type CredentialStoreOptions,
  credentialFiles,
  DOCKER_HUB_KEY,
  findCredHelper,
  helperServerUrl,
  normalizeConfigKey,
} from './credentials.js';

export interface LoginOptions extends CredentialStoreOptions {
  /** Registries that may use plain HTTP (as RegistryClient's option). */
  insecureRegistries?: string[];
  ca?: string | Buffer;
  signal?: AbortSignal;
}

/** The file login writes: `authFile`, else $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json. */
export function loginFile(options: CredentialStoreOptions = {}): string {
  return credentialFiles({ ...options, useDockerConfig: true })[0] as string;
}

type ConfigJson = Record<string, unknown> & {
  auths?: Record<string, Record<string, unknown>>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
};

async function readConfigJson(file: string): Promise<ConfigJson> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new OciDeltaError('ERR_AUTH', `cannot read ${file}: ${(err as Error).message}`, { path: file });
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not an object');
    return value as ConfigJson;
  } catch (err) {
    throw new OciDeltaError('ERR_AUTH', `${file} is not a JSON object: ${(err as Error).message}`, {
      path: file,
    });
  }
}

async function writeConfigJson(file: string, config: ConfigJson): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The config key for a registry: Docker Hub's legacy URL, else the host as given. */
function configKey(registry: string): string {
  return normalizeConfigKey(registry) === 'docker.io' ? DOCKER_HUB_KEY : registry;
}

/** Run `docker-credential-<helper> <action>` with `input` on stdin. */
function runHelper(
  helper: string,
  action: 'store' | 'erase',
  input: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const program = `docker-credential-${helper}`;
  if (!/^[A-Za-z0-9_.-]+$/.test(helper)) {
    return Promise.reject(
      new OciDeltaError('ERR_AUTH', `invalid credential helper name "${helper}"`, { helper }),
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => out.push(b));
    child.on('error', (e) =>
      reject(
        new OciDeltaError('ERR_AUTH', `credential helper ${program} could not be run: ${e.message}`, {
          helper,
        }),
      ),
    );
    child.on('close', (code) => {
      if (code === 0) resolve();
      else {
        const msg = Buffer.concat(out).toString('utf8').trim().slice(0, 200);
        reject(
          new OciDeltaError(
            'ERR_AUTH',
            `credential helper ${program} ${action} failed (exit ${code}): ${msg}`,
            { helper },
          ),
        );
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/**
 * Check `username`/`password` against `registry` and store them. ERR_AUTH (nothing written)
 * when the registry refuses them. Returns where they went.
 */
export async function login(
  registry: string,
  creds: { username: string; password: string },
  options: LoginOptions = {},
): Promise<{ stored: 'file' | 'helper'; file: string; helper?: string }> {
  const client = new RegistryClient({
    credentials: creds,
    useDockerConfig: false,
    ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  try {
    await client.checkLogin(registry, options.signal);
  } finally {
    await client.close();
  }
  const file = loginFile(options);
  const config = await readConfigJson(file);
  const helper = findCredHelper({ credHelpers: config.credHelpers }, registry) ?? config.credsStore;
  if (helper) {
    const input = JSON.stringify({
      ServerURL: helperServerUrl(registry),
      Username: creds.username,
      Secret: creds.password,
    });
    await runHelper(helper, 'store', input, options.env ?? process.env);
    return { stored: 'helper', file, helper };
  }
  const auth = Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
  config.auths = { ...(config.auths ?? {}), [configKey(registry)]: { auth } };
  await writeConfigJson(file, config);
  return { stored: 'file', file };
}

/** Remove the stored credentials of `registry` (every `auths` key naming it, and its helper's). */
export async function logout(
  registry: string,
  options: CredentialStoreOptions = {},
): Promise<{ removed: boolean; file: string }> {
  const file = loginFile(options);
  const config = await readConfigJson(file);
  const want = normalizeConfigKey(registry);
  const keys = Object.keys(config.auths ?? {}).filter((k) => normalizeConfigKey(k) === want);
  for (const k of keys) delete config.auths?.[k];
  if (keys.length > 0) await writeConfigJson(file, config);
  const helper = findCredHelper({ credHelpers: config.credHelpers }, registry) ?? config.credsStore;
  let erased = false;
  if (helper) {
    await runHelper(helper, 'erase', helperServerUrl(registry), options.env ?? process.env);
    erased = true;
  }
  return { removed: keys.length > 0 || erased, file };
}
