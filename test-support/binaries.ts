/**
 * Interop tests need real binaries (docker-registry, skopeo, umoci, mender-artifact, xdelta3).
 * On a laptop without them the tests skip with a loud reason; under CI (CI=true) a missing
 * binary fails the run instead.
 */
import { execFileSync } from 'node:child_process';

const cache = new Map<string, string | undefined>();

/** Absolute path of `name` on PATH, or undefined. */
export function findBinary(name: string): string | undefined {
  if (!cache.has(name)) {
    let found: string | undefined;
    try {
      found = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      found = undefined;
    }
    cache.set(name, found);
  }
  return cache.get(name);
}

export const isCI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * Check that all `names` exist. Returns true when the suite may run. Without CI, prints a loud
 * reason and returns false (use with `describe.skipIf(!haveBinaries(...))`). Under CI, throws.
 */
export function haveBinaries(...names: string[]): boolean {
  const missing = names.filter((n) => findBinary(n) === undefined);
  if (missing.length === 0) return true;
  const msg = `interop test needs ${missing.join(', ')} on PATH (Debian packages: see .ci/run)`;
  if (isCI) throw new Error(`${msg}; CI=true so this is a failure, not a skip`);
  process.stderr.write(`\n!!! SKIPPING: ${msg}\n\n`);
  return false;
}
