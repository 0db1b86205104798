// VCDIFF encoder vs stock xdelta3 on realistic layer pairs (uncompressed tars of real content):
//   node and rootfs pairs from ./fixtures.mjs (real npm packages; Debian packages + an "upgrade")
// Prints delta size, encode wall time, peak RSS and stock `xdelta3 -d` decode time per encoder
// (ours per effort, and with one encode worker against the default of one per core),
// with ratios against the targets (size <= 1.02x `-B <source size>`, time <= xdelta3 default,
// RSS <= 2x source + 150 MB, decode <= 1.2x xdelta3's own delta).
import { spawnSync } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureDir as dir, nodeLayer, rootfsLayer } from './fixtures.mjs';
import { fmtMB, measure, repoRoot, table } from './lib.mjs';

const ours = join(repoRoot, 'packages/delta/dist/vcdiff/index.js');
const ourEncoder = (src, tgt, out, effort, jobs) => [
  '--input-type=module',
  '-e',
  `import { encodeFile } from ${JSON.stringify(ours)}; await encodeFile(${JSON.stringify(src)}, ${JSON.stringify(tgt)}, ${JSON.stringify(out)}, { effort: ${JSON.stringify(effort)}${jobs ? `, jobs: ${jobs}` : ''} });`,
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
    ['ocidelta encode --effort best', process.execPath, (o) => ourEncoder(src, tgt, o, 'best')],
    ['ocidelta encode --jobs 1', process.execPath, (o) => ourEncoder(src, tgt, o, 'default', 1)],
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
