// Start-up cost of the built CLI against `node -e 0` and skopeo: CPU time (user + system, of the
// process tree) and wall time of `--version`, `--help` and a command's own `--help`, median of 9.
// Target (issue: instant CLI start): CPU of `ocidelta --version` <= 2x that of `node -e 0`.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './lib.mjs';

const bin = join(repoRoot, 'packages/cli/dist/bin.js');
const RUNS = 9;

/** Median CPU and wall seconds of `cmd args`, from GNU time-like accounting via /proc of sh. */
function cost(cmd, args) {
  const cpu = [];
  const wall = [];
  for (let i = 0; i < RUNS; i++) {
    const quoted = [cmd, ...args].map((a) => `'${a}'`).join(' ');
    const start = process.hrtime.bigint();
    // The shell waits for the child, then reports its children's user + system ticks.
    const r = spawnSync('sh', ['-c', `${quoted} >/dev/null 2>&1; cat /proc/$$/stat`], { encoding: 'utf8' });
    wall.push(Number(process.hrtime.bigint() - start) / 1e9);
    const f = r.stdout.trim().split(' ');
    cpu.push((Number(f[15]) + Number(f[16])) / 100);
  }
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { cpu: median(cpu), wall: median(wall) };
}

const base = cost(process.execPath, ['-e', '0']);
const rows = [
  ['node -e 0', base],
  ['ocidelta --version', cost(process.execPath, [bin, '--version'])],
  ['ocidelta --help', cost(process.execPath, [bin, '--help'])],
  ['ocidelta pull --help', cost(process.execPath, [bin, 'pull', '--help'])],
  ['ocidelta tags --help', cost(process.execPath, [bin, 'tags', '--help'])],
];
const skopeo = spawnSync('skopeo', ['--version']).status === 0 ? cost('skopeo', ['--version']) : undefined;
if (skopeo) rows.push(['skopeo --version', skopeo]);
console.log(`start-up, median of ${RUNS} (CPU = user + system of the process tree)`);
console.log(`${'command'.padEnd(22)} ${'CPU s'.padStart(6)} ${'wall s'.padStart(7)}  CPU / node -e 0`);
for (const [name, c] of rows)
  console.log(
    `${name.padEnd(22)} ${c.cpu.toFixed(2).padStart(6)} ${c.wall.toFixed(2).padStart(7)}  ${(c.cpu / base.cpu).toFixed(2)}x`,
  );
const version = rows[1][1];
console.log(
  `target: --version CPU <= 2x node -e 0: ${(version.cpu / base.cpu).toFixed(2)}x ${version.cpu <= 2 * base.cpu ? 'OK' : 'MISSED'}`,
);
