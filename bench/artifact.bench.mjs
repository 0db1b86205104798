// Mender artifact writer: `ocidelta artifact write module-image` vs `mender-artifact write
// module-image` on the same 500 MB payload, compression none and gzip, same run. Both run as
// child processes with the same flags (wall time includes process start-up) and their peak RSS
// is measured. gzip: both use level 6 (Go's gzip.DefaultCompression, what mender-artifact uses;
// ours: node:zlib at the same level, parallel blocks on the libuv pool; mender-artifact 3.9 uses
// klauspost/pgzip, also parallel). Two payloads: "compressed" (random bytes, like the
// images.tar.gz an app update carries) and "mixed" (half random, half text).
// Each payload file is read once by both tools.
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, fmtMB, measure, repoRoot, table } from './lib.mjs';

const SIZE = Number(process.env.ARTIFACT_BENCH_MB ?? 500) * 1e6;
const bin = join(repoRoot, 'packages/cli/dist/bin.js');

/** Generate (once, cached) a payload: random bytes, or random 64 KiB blocks alternating with text. */
async function makePayload(kind) {
  const file = join(cacheDir, `artifact-payload-${kind}-${SIZE / 1e6}MB.bin`);
  if (existsSync(file) && statSync(file).size === SIZE) return file;
  console.log(`generating ${fmtMB(SIZE)} ${kind} payload in ${file} ...`);
  const out = createWriteStream(`${file}.tmp`);
  const text = Buffer.from(
    Array.from({ length: 2048 }, (_, i) => `line ${i % 977} key=value path=/usr/lib/x${i % 13}.so\n`).join(
      '',
    ),
  ).subarray(0, 65536);
  let written = 0;
  for (let n = 0; written < SIZE; n++) {
    let chunk = kind === 'mixed' && n % 2 === 1 ? text : randomBytes(65536);
    chunk = chunk.subarray(0, Math.min(chunk.length, SIZE - written));
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
    written += chunk.length;
  }
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
  renameSync(`${file}.tmp`, file);
  return file;
}

const RUNS = Number(process.env.ARTIFACT_BENCH_RUNS ?? 3);
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Run a command RUNS times; median wall seconds, CPU seconds (user+sys) and peak RSS (MB). */
async function run(cmd, args) {
  const results = [];
  for (let i = 0; i < RUNS; i++) {
    if (gnuTime) {
      const r = await measure(gnuTime, ['-f', 'TIME %e %U %S %M', cmd, ...args]);
      const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr);
      results.push({ seconds: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), peakMB: Number(m[4]) / 1024 });
    } else {
      const r = await measure(cmd, args);
      results.push({ seconds: r.seconds, cpu: Number.NaN, peakMB: r.peakMB });
    }
  }
  const median = (k) => results.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
  return {
    seconds: median('seconds'),
    cpu: median('cpu'),
    peakMB: Math.max(...results.map((r) => r.peakMB)),
  };
}

const rows = [];
const ratios = [];
for (const kind of ['compressed', 'mixed']) {
  const payload = await makePayload(kind);
  for (const compression of ['none', 'gzip']) {
    const args = (out) => [
      'write',
      'module-image',
      '-T',
      'app',
      '-t',
      'bench-device',
      '-n',
      'bench-1',
      '-f',
      payload,
      '-o',
      out,
      '--compression',
      compression,
    ];
    const theirsOut = join(cacheDir, `bench-theirs-${compression}.mender`);
    const oursOut = join(cacheDir, `bench-ours-${compression}.mender`);
    // Warm the page cache so neither tool pays for the first read of the payload.
    await measure('cat', [payload]);
    const theirs = await run('mender-artifact', args(theirsOut));
    const ours = await run(process.execPath, [bin, 'artifact', ...args(oursOut)]);
    const theirSize = statSync(theirsOut).size;
    const ourSize = statSync(oursOut).size;
    for (const [tool, r, size] of [
      ['mender-artifact 3.9', theirs, theirSize],
      ['ocidelta', ours, ourSize],
    ]) {
      rows.push({
        payload: kind,
        compression: compression === 'gzip' ? 'gzip -6' : 'none',
        tool,
        seconds: r.seconds.toFixed(2),
        'cpu s': r.cpu.toFixed(2),
        'MB/s': (SIZE / 1e6 / r.seconds).toFixed(0),
        'peak RSS': `${r.peakMB.toFixed(0)} MB`,
        artifact: fmtMB(size),
      });
    }
    ratios.push({ kind, compression, ratio: ours.seconds / theirs.seconds, cpu: ours.cpu / theirs.cpu });
    rmSync(theirsOut, { force: true });
    rmSync(oursOut, { force: true });
  }
}
console.log(
  `payload ${fmtMB(SIZE)}; gzip level 6 for both (Go DefaultCompression = 6; mender-artifact 3.9 compresses with klauspost/pgzip, ours with node:zlib in parallel blocks)\n`,
);
table(rows);
console.log('');
for (const { kind, compression, ratio } of ratios) {
  console.log(
    `ratio ocidelta / mender-artifact (${kind}, ${compression}): ${ratio.toFixed(2)} (target <= 1.0)`,
  );
}
