// VCDIFF encoder vs stock xdelta3 on realistic layer pairs (uncompressed tars of real content):
//   node:   a node_modules tree of real npm packages, old versions -> new versions
//   rootfs: Debian packages extracted from the apt cache, then an "upgrade": some removed, some
//           added, dpkg-like metadata rewritten
// Prints delta size, encode wall time, peak RSS and stock `xdelta3 -d` decode time per encoder,
// with ratios against the targets (size <= 1.02x `-B <source size>`, time <= xdelta3 default,
// RSS <= 2x source + 150 MB, decode <= 1.2x xdelta3's own delta).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, fmtMB, measure, repoRoot, table } from './lib.mjs';

const dir = join(cacheDir, 'vcdiff');
mkdirSync(dir, { recursive: true });
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

/** tar of a node_modules tree with one version of each package. */
function nodeLayer(which) {
  const out = join(dir, `node-${which}.tar`);
  if (existsSync(out)) return out;
  const npmDir = join(dir, 'npm');
  mkdirSync(npmDir, { recursive: true });
  const root = join(dir, `node-${which}`);
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

/** tar of a rootfs made of Debian packages from the apt cache; 'new' swaps some packages. */
function rootfsLayer(which) {
  const out = join(dir, `rootfs-${which}.tar`);
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
  const root = join(dir, `rootfs-${which}`);
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

const ours = join(repoRoot, 'packages/delta/dist/vcdiff/index.js');
const ourEncoder = (src, tgt, out, effort) => [
  '--input-type=module',
  '-e',
  `import { encodeFile } from ${JSON.stringify(ours)}; await encodeFile(${JSON.stringify(src)}, ${JSON.stringify(tgt)}, ${JSON.stringify(out)}, { effort: ${JSON.stringify(effort)} });`,
];

const pairs = [
  ['node', nodeLayer('old'), nodeLayer('new')],
  ['rootfs', rootfsLayer('old'), rootfsLayer('new')],
];
const rows = [];
for (const [name, src, tgt] of pairs) {
  const srcSize = statSync(src).size;
  const tgtSize = statSync(tgt).size;
  console.log(`${name}: source ${fmtMB(srcSize)}, target ${fmtMB(tgtSize)}`);
  const runs = [
    ['xdelta3 -e -S none', 'xdelta3', (o) => ['-e', '-f', '-S', 'none', '-s', src, tgt, o]],
    [
      'xdelta3 -e -S none -B <src>',
      'xdelta3',
      (o) => ['-e', '-f', '-S', 'none', '-B', String(Math.max(srcSize, 1 << 20)), '-s', src, tgt, o],
    ],
    ['ocidelta encode', process.execPath, (o) => ourEncoder(src, tgt, o, 'default')],
    ['ocidelta encode --effort fast', process.execPath, (o) => ourEncoder(src, tgt, o, 'fast')],
  ];
  const res = {};
  for (const [label, cmd, args] of runs) {
    const out = join(dir, `${name}.${label.replace(/[^a-z0-9]+/gi, '_')}.vcdiff`);
    const enc = await measure(cmd, args(out));
    const check = join(dir, `${name}.check`);
    const dec = await measure('xdelta3', ['-d', '-f', '-s', src, out, check]);
    const same = spawnSync('cmp', ['-s', check, tgt]).status === 0;
    rmSync(check, { force: true });
    res[label] = { size: statSync(out).size, enc: enc.seconds, rss: enc.peakMB, dec: dec.seconds, same };
  }
  const def = res['xdelta3 -e -S none'];
  const big = res['xdelta3 -e -S none -B <src>'];
  for (const [label, r] of Object.entries(res)) {
    const mine = label.startsWith('ocidelta encode');
    rows.push({
      pair: name,
      encoder: label,
      delta: fmtMB(r.size),
      'vs -B': `${(r.size / big.size).toFixed(3)}x${mine ? ' (<=1.02)' : ''}`,
      'encode s': r.enc.toFixed(2),
      'vs default': `${(r.enc / def.enc).toFixed(2)}x${mine ? ' (<=1)' : ''}`,
      'peak RSS': `${r.rss.toFixed(0)} MB${mine ? ` (<=${((2 * srcSize) / 1e6 + 150).toFixed(0)})` : ''}`,
      'xdelta3 -d s': r.dec.toFixed(2),
      'dec vs own': mine ? `${(r.dec / Math.min(def.dec, big.dec)).toFixed(2)}x (<=1.2)` : '',
      ok: r.same ? 'decoded ==' : 'MISMATCH',
    });
  }
}
table(rows);
