// Runs every bench/*.bench.mjs (or those whose name contains argv[2]) one after another, each in
// its own Node process so peak RSS numbers are per benchmark. Benchmarks use the built dist/.
// Generated inputs are cached in $OCIDELTA_BENCH_CACHE (default: ../.bench-cache beside the repo).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const filter = process.argv[2] ?? '';
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.mjs') && f.includes(filter))
  .sort();
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const r = spawnSync(process.execPath, ['--expose-gc', `${dir}${f}`], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`!!! ${f} exited with ${r.status}`);
  }
}
process.exitCode = failed ? 1 : 0;
