/**
 * The committed API reports (packages/<pkg>/api-report.md) match the entry points: a change of
 * any package's public API must come with its report (`pnpm api-report` rewrites them).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '../../..');

describe('public API reports', () => {
  it('every package entry exports exactly what its committed report lists', () => {
    const run = spawnSync(process.execPath, [join(root, 'scripts/api-report.mjs'), '--check'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('api reports up to date');
  }, 60_000);
});
