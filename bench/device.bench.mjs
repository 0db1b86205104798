// Deltas as the device decodes them: for the rootfs pair, the rootfs pair rebuilt in another tar
// order (content moved far), and the Node app pair (./fixtures.mjs), the size of our classic-store
// delta (seekable source: the uncompressed layer) and containerd-store delta (sequential source:
// the pulled gzip blob, which the device's xdelta3 reads through `gzip -dc`, keeping only its
// last -B bytes) beside `xdelta3 -e -S none` with the default -B and with -B 1G; the source bytes
// the device's decoder reads (our emulation of its cache, for every delta); and whether stock
// `xdelta3 -d -s` really rebuilds the layer from the plain file and from the gzip file.
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureDir as dir, nodeLayer, reorderedLayer, rootfsLayer } from './fixtures.mjs';
import { fmtMB, measure, repoRoot, table } from './lib.mjs';

const delta = await import(join(repoRoot, 'packages/delta/dist/index.js'));

const encoder = (src, tgt, out, access) => [
  '--input-type=module',
  '-e',
  `import { encodeFile } from ${JSON.stringify(join(repoRoot, 'packages/delta/dist/index.js'))};
   await encodeFile(${JSON.stringify(src)}, ${JSON.stringify(tgt)}, ${JSON.stringify(out)}, { sourceAccess: ${JSON.stringify(access)} });`,
];

/** What the device's decoder reads for `vcdiff` (emulated), or why it fails. */
async function deviceRead(src, vcdiff, access) {
  let stats;
  try {
    const out = delta.decode(src, createReadStream(vcdiff), {
      device: { sourceAccess: access },
      onDeviceStats: (s) => {
        stats = s;
      },
    });
    for await (const _ of out) {
      // drain
    }
    return fmtMB(stats.sourceBytesRead);
  } catch (err) {
    return err.code === 'ERR_DEVICE_DECODE' ? 'FAILS' : `error ${err.code}`;
  }
}

function stockDecode(src, vcdiff, tgt) {
  const check = `${vcdiff}.check`;
  const r = spawnSync('xdelta3', ['-d', '-f', '-s', src, vcdiff, check], { encoding: 'utf8' });
  const ok = r.status === 0 && spawnSync('cmp', ['-s', check, tgt]).status === 0;
  spawnSync('rm', ['-f', check]);
  return ok ? 'ok' : /non-seekable/.test(r.stderr) ? 'FAILS (non-seekable)' : 'FAILS';
}

const rootOld = rootfsLayer('old');
const rootNew = rootfsLayer('new');
const pairs = [
  ['rootfs', rootOld, rootNew],
  ['rootfs reordered', rootOld, reorderedLayer(rootNew)],
  ['node app', nodeLayer('old'), nodeLayer('new')],
];
const rows = [];
for (const [name, src, tgt] of pairs) {
  const gz = `${src}.gz`;
  if (!existsSync(gz))
    spawnSync('sh', ['-c', `gzip -1 -c < '${src}' > '${gz}.tmp' && mv '${gz}.tmp' '${gz}'`]);
  const tag = name.replace(/\W+/g, '_');
  const out = (label) => join(dir, `device.${tag}.${label}.vcdiff`);
  const runs = [
    ['xdelta3 -e (default -B)', 'xdelta3', ['-e', '-f', '-S', 'none', '-s', src, tgt, out('x')], out('x')],
    [
      'xdelta3 -e -B 1G',
      'xdelta3',
      ['-e', '-f', '-S', 'none', '-B', String(1 << 30), '-s', src, tgt, out('xB')],
      out('xB'),
    ],
    [
      'ocidelta classic (seekable)',
      process.execPath,
      encoder(src, tgt, out('seek'), 'seekable'),
      out('seek'),
    ],
    [
      'ocidelta containerd (sequential)',
      process.execPath,
      encoder(src, tgt, out('seq'), 'sequential'),
      out('seq'),
    ],
  ];
  console.log(`${name}: source ${fmtMB(statSync(src).size)}, target ${fmtMB(statSync(tgt).size)}`);
  const base = {};
  for (const [label, cmd, args, file] of runs) {
    const enc = await measure(cmd, args);
    const size = statSync(file).size;
    base[label] = size;
    const ref = base['xdelta3 -e (default -B)'];
    rows.push({
      pair: name,
      encoder: label,
      delta: fmtMB(size),
      'vs xdelta3': `${(size / ref).toFixed(3)}x`,
      'encode s': enc.seconds.toFixed(2),
      'device reads (plain)': await deviceRead(src, file, 'seekable'),
      'device reads (gzip)': await deviceRead(src, file, 'sequential'),
      'xdelta3 -d plain': stockDecode(src, file, tgt),
      'xdelta3 -d gzip': stockDecode(gz, file, tgt),
    });
  }
}
table(rows);
