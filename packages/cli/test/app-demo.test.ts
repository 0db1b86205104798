import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readArtifact } from '@ocidelta/core/mender';
import { afterAll, describe, expect, it } from 'vitest';
import { AppCache } from '../src/app/cache.js';
import { runCli } from '../src/cli.js';
import { cacheLsCommand, cachePruneCommand } from '../src/commands/cache.js';
import { demoCommand } from '../src/commands/demo.js';
import { captureIO } from './support.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('ocidelta demo (offline, no external binary)', () => {
  it('builds a full and a deep-delta release and inspects them; cache ls/prune work on its cache', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidelta-demo-test-'));
    dirs.push(dir);
    const io = captureIO({ cwd: dir });
    const code = await runCli(['demo', '--dir', 'work'], io, [demoCommand]);
    expect(io.err()).not.toMatch(/internal error/);
    expect(code).toBe(0);
    const out = io.out();
    expect(out).toMatch(/web\s+delta\s+1\/3/);
    expect(out).toMatch(/db\s+unchanged/);
    const v1 = await readArtifact(join(dir, 'work', 'shop-1.0.0.mender'));
    const v2 = await readArtifact(join(dir, 'work', 'shop-1.1.0.mender'));
    expect(v2.typeInfo.artifact_depends).toEqual({ 'rootfs-image.shop.version': '1.0.0' });
    expect(v2.typeInfo.artifact_provides).toEqual({ 'rootfs-image.shop.version': '1.1.0' });
    expect(v1.typeInfo.artifact_depends ?? {}).toEqual({});
    expect(v2.size).toBeLessThan(v1.size / 10);
    expect(out).toContain('% of full');
    // The release report of 1.1.0 (checked in a browser by report.interop.test.ts).
    const report = await readFile(join(dir, 'work', 'report.html'), 'utf8');
    expect(report).toContain('<h1>shop 1.0.0 &rarr; 1.1.0</h1>');

    const cacheDir = join(dir, 'work', 'cache');
    const ls = captureIO({ cwd: dir });
    expect(await runCli(['cache', 'ls', '--cache-dir', cacheDir, '--json'], ls, [cacheLsCommand])).toBe(0);
    const listing = JSON.parse(ls.out()) as { entries: { kind: string; size: number }[]; total: number };
    const kinds = new Set(listing.entries.map((e) => e.kind));
    expect(kinds).toEqual(new Set(['blob', 'delta']));
    const prune = captureIO({ cwd: dir });
    expect(
      await runCli(['cache', 'prune', '--cache-dir', cacheDir, '--max-size', '1M'], prune, [
        cachePruneCommand,
      ]),
    ).toBe(0);
    const after = await (await AppCache.open(cacheDir)).list();
    expect(after.reduce((n, e) => n + e.size, 0)).toBeLessThanOrEqual(1024 * 1024);
    expect(after.length).toBeLessThan(listing.entries.length);
  });
});
