// Shared helpers for benchmarks: timing, peak RSS of child processes, cache dir, table output,
// a throwaway local docker-registry.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const cacheDir = process.env.OCIDELTA_BENCH_CACHE ?? join(repoRoot, '..', '.bench-cache');
mkdirSync(cacheDir, { recursive: true });

/**
 * Run a command, returning wall time (s) and peak RSS (MB) measured by GNU time if present,
 * else by polling /proc.
 */
export function measure(cmd, args, options = {}) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'], ...options });
    let peak = 0;
    let stderr = '';
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    const poll = setInterval(() => {
      try {
        const status = require('node:fs').readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const m = /VmHWM:\s+(\d+) kB/.exec(status);
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch {}
    }, 50);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ seconds, peakMB: peak, stderr });
    });
  });
}

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Print rows as an aligned table. */
export function table(rows) {
  const cols = Object.keys(rows[0] ?? {});
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals) => vals.map((v, i) => String(v).padEnd(width[i])).join('  ');
  console.log(line(cols));
  console.log(line(width.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => r[c])));
}

export const fmtMB = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;

/** A free loopback TCP port. */
export async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Start the real docker-registry (plain HTTP, no auth) on a free loopback port, storing its
 * config and data under `storage`; resolves once /v2/ answers. Returns `{ host, stop }`.
 */
export async function startRegistry(storage) {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const configFile = join(storage, 'config.yml');
  writeFileSync(
    configFile,
    JSON.stringify({
      version: 0.1,
      log: { level: 'error', accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: join(storage, 'data') } },
      http: { addr: host, secret: randomBytes(8).toString('hex') },
    }),
  );
  const child = spawn('docker-registry', ['serve', configFile], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).ok) return { host, stop: () => child.kill('SIGTERM') };
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('docker-registry did not start');
}

/** Median of numbers. */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Median CPU (user + system of the process tree) and wall seconds of `cmd args` over `runs` runs:
 * a shell waits for the command, then reports its children's ticks from /proc.
 */
export function cpuCost(cmd, args, runs = 9) {
  const cpu = [];
  const wall = [];
  for (let i = 0; i < runs; i++) {
    const quoted = [cmd, ...args].map((a) => `'${a}'`).join(' ');
    const start = process.hrtime.bigint();
    const r = spawnSync('sh', ['-c', `${quoted} >/dev/null 2>&1; cat /proc/$$/stat`], { encoding: 'utf8' });
    wall.push(Number(process.hrtime.bigint() - start) / 1e9);
    const f = r.stdout.trim().split(' ');
    cpu.push((Number(f[15]) + Number(f[16])) / 100);
  }
  return { cpu: median(cpu), wall: median(wall) };
}
