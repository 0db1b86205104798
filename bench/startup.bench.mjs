// Start-up cost of the built CLI against `node -e 0` and skopeo: CPU time (user + system, of the
// process tree) and wall time of `--version`, `--help` and a command's own `--help`, median of 9.
// Target (issue: instant CLI start): CPU of `ocidelta --version` <= 2x that of `node -e 0`.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cpuCost, repoRoot } from './lib.mjs';

const bin = join(repoRoot, 'packages/cli/dist/bin.js');
const RUNS = 9;
const cost = (cmd, args) => cpuCost(cmd, args, RUNS);

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
