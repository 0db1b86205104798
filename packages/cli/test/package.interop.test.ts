// The packages as users get them: `npm pack` (plain npm) of each workspace package, then
// `npm install` of the four tarballs into an empty project (dependencies from the npm
// registry). The tarballs carry README and LICENSE, no source maps and no `workspace:` ranges;
// the installed CLI runs and round-trips a delta (one window in this thread, several in its encode
// workers: the same bytes), writes an xz artifact (the optional native module as npm installs it);
// the libraries import; the checkout is left as
// it was (package.json restored, the copied LICENSE removed).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = resolve(__dirname, '../../..');
const PACKAGES = ['core', 'registry', 'delta', 'cli'] as const;
const built = PACKAGES.every((d) => existsSync(join(root, 'packages', d, 'dist', 'index.js')));

describe('packed tarballs install with plain npm', () => {
  let work: string;
  beforeAll(async () => {
    if (!built) {
      if (process.env.CI) throw new Error('packages are not built: the test command builds first');
      console.warn('SKIP packed tarballs: packages not built (pnpm build)');
    }
    work = await mkdtemp(join(tmpdir(), 'ocidelta-pack-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it.skipIf(!built)(
    'npm pack -> npm install in an empty project -> the CLI and the libraries work',
    async () => {
      const manifests = await Promise.all(
        PACKAGES.map((d) => readFile(join(root, 'packages', d, 'package.json'), 'utf8')),
      );
      const tarballs: string[] = [];
      for (const d of PACKAGES) {
        const { stdout } = await exec('npm', ['pack', '--pack-destination', work, '--silent'], {
          cwd: join(root, 'packages', d),
        });
        const file = join(work, stdout.trim().split('\n').at(-1) as string);
        tarballs.push(file);
        const { stdout: list } = await exec('tar', ['tzf', file]);
        const names = list.split('\n');
        expect(names).toContain('package/LICENSE');
        expect(names).toContain('package/README.md');
        expect(names.filter((n) => n.endsWith('.map') || n.includes('/src/'))).toEqual([]);
        const { stdout: pkg } = await exec('tar', ['xzfO', file, 'package/package.json']);
        expect(pkg).not.toContain('workspace:');
        expect(JSON.parse(pkg).repository?.directory).toBe(`packages/${d}`);
      }
      // the checkout is as it was
      for (const [i, d] of PACKAGES.entries()) {
        expect(await readFile(join(root, 'packages', d, 'package.json'), 'utf8')).toBe(manifests[i]);
        expect(existsSync(join(root, 'packages', d, 'LICENSE'))).toBe(false);
      }

      const proj = join(work, 'project');
      await exec('mkdir', ['-p', proj]);
      await writeFile(
        join(proj, 'package.json'),
        '{"name":"t","version":"1.0.0","type":"module","private":true}\n',
      );
      await exec('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], {
        cwd: proj,
        timeout: 240_000,
      });
      const bin = join(proj, 'node_modules', '.bin', 'ocidelta');
      const { stdout: version } = await exec(bin, ['--version']);
      expect(version.trim()).toBe(JSON.parse(manifests[3] as string).version);
      const old = Buffer.alloc(200_000, 7);
      const next = Buffer.concat([old.subarray(0, 150_000), Buffer.from('changed'), old.subarray(150_000)]);
      await writeFile(join(proj, 'old.bin'), old);
      await writeFile(join(proj, 'new.bin'), next);
      await exec(bin, ['delta', 'encode', '--source', 'old.bin', '--target', 'new.bin', '-o', 'd.vcdiff'], {
        cwd: proj,
      });
      await exec(bin, ['delta', 'decode', '--source', 'old.bin', '--delta', 'd.vcdiff', '-o', 'back.bin'], {
        cwd: proj,
      });
      expect((await readFile(join(proj, 'back.bin'))).equals(next)).toBe(true);
      // Several 8 MiB windows: the installed encode workers run (the same bytes as one thread).
      const { randomBytes } = await import('node:crypto');
      const big = randomBytes(12 << 20);
      const moved = Buffer.concat([big.subarray(6 << 20), Buffer.from('new'), big.subarray(0, 6 << 20)]);
      await writeFile(join(proj, 'big-old.bin'), big);
      await writeFile(join(proj, 'big-new.bin'), moved);
      const encodeBig = (jobs: string, out: string) =>
        exec(
          bin,
          ['delta', 'encode', '--source', 'big-old.bin', '--target', 'big-new.bin', '-j', jobs, '-o', out],
          {
            cwd: proj,
          },
        );
      await encodeBig('1', 'big-1.vcdiff');
      await encodeBig('2', 'big-2.vcdiff');
      const two = await readFile(join(proj, 'big-2.vcdiff'));
      expect(two.equals(await readFile(join(proj, 'big-1.vcdiff')))).toBe(true);
      expect(two.length).toBeLessThan(1 << 20);
      // xz through the optional native module, as npm installed it.
      await exec(
        bin,
        ['artifact', 'write', 'module-image', '-T', 'app', '-t', 'd', '-n', 'x-1', '-f', 'new.bin'].concat([
          '--compression',
          'xz',
          '-o',
          'x.mender',
        ]),
        { cwd: proj },
      );
      const { stdout: inspected } = await exec(bin, ['artifact', 'inspect', 'x.mender'], { cwd: proj });
      expect(inspected).toMatch(/compression xz/);
      const { stdout: kinds } = await exec(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          "const c = await import('@ocidelta/core'); const r = await import('@ocidelta/registry'); const d = await import('@ocidelta/delta'); const o = await import('ocidelta'); console.log([typeof c.parseReference, typeof r.RegistryClient, typeof d.encode, typeof o.runCli, (await import('ocidelta/package.json', { with: { type: 'json' } })).default.name].join(' '))",
        ],
        { cwd: proj },
      );
      expect(kinds.trim()).toBe('function function function function ocidelta');
    },
    300_000,
  );
});
