/**
 * Test harness: runs the real `docker-registry serve` (Debian, distribution 2.8) on a free
 * loopback port with a temp storage dir, in one of three auth configurations (none, htpasswd,
 * token with the harness's own token server).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server.js';

export type RegistryAuth = 'none' | 'htpasswd' | 'token';

export interface StartRegistryOptions {
  auth?: RegistryAuth;
  /** Allow DELETE of manifests and blobs (storage.delete.enabled). */
  deleteEnabled?: boolean;
  /** Token server options (auth 'token' only). */
  tokenOptions?: Omit<TokenServerOptions, 'service' | 'issuer' | 'workDir'>;
  /** Default user's name and password (htpasswd and token). */
  username?: string;
  password?: string;
  /** Extra htpasswd users (name -> password). */
  extraUsers?: Record<string, string>;
}

export interface RunningRegistry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`, the registry part of image references. */
  host: string;
  auth: RegistryAuth;
  username: string;
  password: string;
  /** Storage root of the registry (filesystem driver). */
  storageDir: string;
  tokenServer?: TokenServer;
  /** Registry stderr collected so far (for debugging failed tests). */
  logs(): string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound then released; the caller binds it right away). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** One bcrypt htpasswd line from `htpasswd -nbB` (apache2-utils). */
export function htpasswdLine(user: string, password: string): string {
  return execFileSync('htpasswd', ['-nbB', user, password], { encoding: 'utf8' }).trim();
}

/**
 * Wait until OUR registry answers: it sends `X-Ocidelta-Registry: <id>` (config http.headers),
 * so a registry of another test that won the race for the same free port is not mistaken for it.
 */
async function waitForRegistry(
  url: string,
  child: ChildProcess,
  logs: () => string,
  id: string,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`docker-registry exited with ${child.exitCode}: ${logs()}`);
    }
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      const ours = res.headers.get('x-ocidelta-registry') === id;
      if (!ours) throw new Error(`another server answers on ${url}`);
      if (res.status === 200 || res.status === 401) return;
    } catch (err) {
      if ((err as Error).message.startsWith('another server')) throw err;
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer on ${url}/v2/ within 15 s: ${logs()}`);
}

/** Start a registry; always `stop()` it (afterAll). */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const auth = options.auth ?? 'none';
  const username = options.username ?? 'testuser';
  const password = options.password ?? 'testpass';
  const dir = await mkdtemp(join(tmpdir(), 'ocidelta-registry-'));
  const storageDir = join(dir, 'storage');
  let tokenServer: TokenServer | undefined;
  const authConfig: Record<string, unknown> = {};
  if (auth === 'htpasswd') {
    const users = { [username]: password, ...options.extraUsers };
    const lines = Object.entries(users).map(([u, p]) => htpasswdLine(u, p));
    const file = join(dir, 'htpasswd');
    await writeFile(file, `${lines.join('\n')}\n`);
    authConfig.htpasswd = { realm: 'ocidelta-test', path: file };
  } else if (auth === 'token') {
    tokenServer = await startTokenServer({
      ...options.tokenOptions,
      users: { [username]: { password }, ...options.tokenOptions?.users },
      service: 'ocidelta-test-registry',
      issuer: 'ocidelta-test-issuer',
      workDir: dir,
    });
    authConfig.token = {
      realm: tokenServer.realm,
      service: tokenServer.service,
      issuer: tokenServer.issuer,
      rootcertbundle: tokenServer.certFile,
    };
  }

  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const url = `http://${host}`;
    const id = randomBytes(8).toString('hex');
    // YAML is a superset of JSON: the config is written as JSON.
    const config = {
      version: 0.1,
      log: { level: 'warn', accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: storageDir },
        delete: { enabled: options.deleteEnabled ?? false },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { addr: host, secret: randomBytes(16).toString('hex'), headers: { 'X-Ocidelta-Registry': [id] } },
      ...(auth === 'none' ? {} : { auth: authConfig }),
    };
    const configFile = join(dir, 'config.yml');
    await writeFile(configFile, JSON.stringify(config, null, 2));
    const child = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-20_000);
    });
    const logs = () => stderr;
    try {
      await waitForRegistry(url, child, logs, id);
    } catch (err) {
      lastError = err;
      child.kill('SIGKILL');
      continue;
    }
    return {
      url,
      host,
      auth,
      username,
      password,
      storageDir,
      tokenServer,
      logs,
      async stop() {
        if (child.exitCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
          if (child.exitCode === null) child.kill('SIGKILL');
        }
        await tokenServer?.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await tokenServer?.stop();
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

/** A real docker-registry serving TLS with a fresh self-signed certificate for 127.0.0.1. */
export interface TlsRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** The certificate (PEM): the CA clients must trust. */
  ca: string;
  /** Where cert.pem and key.pem are. */
  dir: string;
  stop(): Promise<void>;
}

export async function startTlsRegistry(): Promise<TlsRegistry> {
  const { mkdtemp, readFile, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { spawn } = await import('node:child_process');
  const { makeSelfSignedCert } = await import('./certs.js');
  const dir = await mkdtemp(join(tmpdir(), 'ocidelta-tls-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  makeSelfSignedCert({
    keyFile: key,
    certFile: cert,
    subject: '/CN=127.0.0.1',
    subjectAltName: 'IP:127.0.0.1,DNS:localhost',
  });
  const ca = await readFile(cert, 'utf8');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: join(dir, 'storage') } },
    http: { addr: host, tls: { certificate: cert, key } },
  };
  await writeFile(join(dir, 'config.yml'), JSON.stringify(config));
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  // Up once the TLS port completes a handshake with the certificate trusted.
  const { connect } = await import('node:tls');
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port, ca }, () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    ca,
    dir,
    async stop() {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
