// Shared helpers for benchmarks: timing, peak RSS of child processes, cache dir, table output.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
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
