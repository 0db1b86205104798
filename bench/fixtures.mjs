// Realistic layer pairs (uncompressed tars of real content) shared by the benchmarks, generated
// once and cached under cacheDir/vcdiff:
//   node:   a node_modules tree of real npm packages, old versions -> new versions
//   rootfs: Debian packages extracted from the apt cache, then an "upgrade": some removed, some
//           added, dpkg-like metadata rewritten
// plus reorderedLayer(): the same files in another tar order, as a rebuilt layer has them
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './lib.mjs';

/** Where the layer pairs (and the VCDIFF bench's outputs) are cached. */
export const fixtureDir = join(cacheDir, 'vcdiff');
mkdirSync(fixtureDir, { recursive: true });
const sh = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });

const NPM_PAIRS = [
  ['next@14.2.3', 'next@14.2.30'],
  ['@biomejs/cli-linux-x64@2.0.0', '@biomejs/cli-linux-x64@2.3.0'],
  ['typescript@5.8.3', 'typescript@5.9.3'],
  ['@esbuild/linux-x64@0.25.0', '@esbuild/linux-x64@0.25.9'],
  ['vite@6.3.5', 'vite@7.1.5'],
  ['rollup@4.40.0', 'rollup@4.50.0'],
];

/** Path of a tar of a node_modules tree with one version ('old' | 'new') of each package. */
export function nodeLayer(which) {
  const out = join(fixtureDir, `node-${which}.tar`);
  if (existsSync(out)) return out;
  const npmDir = join(fixtureDir, 'npm');
  mkdirSync(npmDir, { recursive: true });
  const root = join(fixtureDir, `node-${which}`);
  rmSync(root, { recursive: true, force: true });
  for (const pair of NPM_PAIRS) {
    const spec = pair[which === 'old' ? 0 : 1];
    const at = spec.lastIndexOf('@');
    const name = spec.slice(0, at);
    const file = `${name.replace(/^@/, '').replace('/', '-')}-${spec.slice(at + 1)}.tgz`;
    if (!existsSync(join(npmDir, file))) sh('npm', ['pack', spec], { cwd: npmDir });
    const dest = join(root, 'app', 'node_modules', name);
    mkdirSync(dest, { recursive: true });
    sh('tar', ['-xzf', join(npmDir, file), '-C', dest, '--strip-components=1']);
  }
  writeFileSync(join(root, 'app', 'package.json'), JSON.stringify({ name: 'app', version: which }));
  sh('tar', ['--sort=name', '--owner=0', '--group=0', '-cf', out, '-C', root, '.']);
  rmSync(root, { recursive: true, force: true });
  return out;
}

/**
 * Path of a tar of a rootfs made of Debian packages from the apt cache; 'new' swaps some
 * packages ('old' | 'new').
 */
export function rootfsLayer(which) {
  const out = join(fixtureDir, `rootfs-${which}.tar`);
  if (existsSync(out)) return out;
  const apt = '/var/cache/apt/archives';
  const debs = readdirSync(apt)
    .filter((f) => f.endsWith('.deb'))
    .sort();
  // Small packages (< 3 MB .deb), every 3rd until ~80 MB of .debs; 'new' drops every 10th
  // and adds 20 others.
  const small = debs.filter((f) => statSync(join(apt, f)).size < 3e6);
  const base = [];
  let total = 0;
  for (let i = 0; i < small.length && total < 80e6; i += 3) {
    base.push(small[i]);
    total += statSync(join(apt, small[i])).size;
  }
  const extra = small.filter((_, i) => i % 3 === 1).slice(0, 20);
  const chosen = which === 'old' ? base : [...base.filter((_, i) => i % 10 !== 3), ...extra];
  const root = join(fixtureDir, `rootfs-${which}`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
  let status = '';
  for (const deb of chosen) {
    sh('dpkg-deb', ['-x', join(apt, deb), root]);
    status += `Package: ${deb.split('_')[0]}\nStatus: install ok installed\nVersion: ${deb.split('_')[1]}\n\n`;
  }
  writeFileSync(join(root, 'var/lib/dpkg/status'), status);
  sh('tar', ['--sort=name', '--owner=0', '--group=0', '-cf', out, '-C', root, '.']);
  rmSync(root, { recursive: true, force: true });
  return out;
}

/**
 * Path of `tarFile` re-packed in the file system's directory order (no --sort), the way a
 * rebuilt image layer lists the same files in another order; cached next to the input.
 */
export function reorderedLayer(tarFile) {
  const out = tarFile.replace(/\.tar$/, '-reordered.tar');
  if (existsSync(out)) return out;
  const root = `${out}.d`;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  sh('tar', ['-xf', tarFile, '-C', root]);
  sh('tar', ['--owner=0', '--group=0', '-cf', `${out}.tmp`, '-C', root, '.']);
  renameSync(`${out}.tmp`, out);
  rmSync(root, { recursive: true, force: true });
  return out;
}
