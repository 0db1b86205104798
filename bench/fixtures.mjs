// Realistic layer pairs (uncompressed tars of real content) shared by the benchmarks, generated
// once and cached under cacheDir/vcdiff:
//   node:   a node_modules tree of real npm packages, old versions -> new versions
//   rootfs: Debian bookworm minbase (debootstrap), then an "upgrade" adding a few packages
// plus reorderedLayer(): the same files in another tar order, as a rebuilt layer has them
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** The rootfs pair, pinned: Debian bookworm minbase, and the same plus these packages. */
const ROOTFS_SUITE = 'bookworm';
const ROOTFS_MIRROR = 'http://deb.debian.org/debian';
const ROOTFS_NEW_PACKAGES = ['ca-certificates', 'curl', 'openssl', 'procps', 'python3-minimal', 'tzdata'];

/**
 * Path of a tar of a Debian rootfs ('old': `debootstrap --variant=minbase bookworm`, 121 MB;
 * 'new': the same with a few packages more, as an app's base image upgrade adds them, 157 MB).
 * Built once with debootstrap (Debian package; needs root and the Debian mirror) and cached;
 * delete the cached tar to rebuild. Files keep the mtimes the packages give them (as in a real
 * image); logs, apt lists and the machine id are dropped, as image builds do. `asBuilt` keeps
 * the logs, apt's lists and its cache of the downloaded .debs, as a tree straight out of
 * debootstrap has them (204 -> 250 MB: the pair the first figures came from).
 */
export function rootfsLayer(which, { asBuilt = false } = {}) {
  const out = join(fixtureDir, `rootfs-${ROOTFS_SUITE}-${which}${asBuilt ? '-as-built' : ''}.tar`);
  if (existsSync(out)) return out;
  if (process.getuid?.() !== 0)
    throw new Error('the rootfs fixture is built with debootstrap: run the bench as root once');
  const root = join(fixtureDir, `rootfs-${which}`);
  rmSync(root, { recursive: true, force: true });
  const include = which === 'new' ? [`--include=${ROOTFS_NEW_PACKAGES.join(',')}`] : [];
  sh('debootstrap', ['--variant=minbase', ...include, ROOTFS_SUITE, root, ROOTFS_MIRROR], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // Run-specific files: logs, caches, machine ids (asBuilt: only the machine id, so the layer
  // keeps apt's package cache and lists as an unstripped `debootstrap` tree has them).
  const drop = asBuilt
    ? ['etc/machine-id']
    : ['var/log', 'var/cache/apt', 'var/lib/apt/lists', 'etc/machine-id', 'debootstrap'];
  for (const p of drop) rmSync(join(root, p), { recursive: true, force: true });
  sh('tar', ['--sort=name', '--owner=0', '--group=0', '-cf', `${out}.tmp`, '-C', root, '.']);
  renameSync(`${out}.tmp`, out);
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
