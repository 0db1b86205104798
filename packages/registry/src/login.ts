/**
 * `docker login` / `docker logout` for Docker's config.json (and containers-auth.json, same
 * format): credentials are checked against the registry first (GET /v2/ with them, through the
 * Basic or token challenge it answers), then stored: in the credential helper the config names
 * for the registry (`credHelpers`, else `credsStore`: `docker-credential-<name> store`), else as
 * an `auths` entry. The file is rewritten atomically with mode 0600, every other field kept.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OciDeltaError, writeFileAtomic } from '@ocidelta/core';
import { RegistryClient } from './client.js';
import {
  type CredentialStoreOptions,
  credentialFiles,
  DOCKER_HUB_KEY,
  findCredHelper,
  helperServerUrl,
  normalizeConfigKey,
  runHelperProgram,
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
  await writeFileAtomic(file, `${JSON.stringify(config, null, '\t')}\n`, { mode: 0o600 });
}

/** The config key for a registry: Docker Hub's legacy URL, else the host as given. */
function configKey(registry: string): string {
  return normalizeConfigKey(registry) === 'docker.io' ? DOCKER_HUB_KEY : registry;
}

/** `store` / `erase` through the helper; ERR_AUTH when it exits non-zero. */
async function runHelper(
  helper: string,
  action: 'store' | 'erase',
  input: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const { code, stdout, stderr } = await runHelperProgram(helper, action, input, env);
  if (code !== 0) {
    const msg = `${stdout}\n${stderr}`.trim().slice(0, 200);
    throw new OciDeltaError(
      'ERR_AUTH',
      `credential helper docker-credential-${helper} ${action} failed (exit ${code}): ${msg}`,
      { helper },
    );
  }
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
