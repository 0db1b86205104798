// End to end `ocidelta app` against the peer pipeline the original tool ran, on the same registry
// images in one run, for each case:
//   synthetic: a changed base layer (~100 MB of generated files, every 20th changed, 8 added, same
//              tar order) + an unchanged 20 MB app layer
//   rootfs:    the realistic Debian rootfs pair of ./fixtures.mjs (bookworm minbase by debootstrap,
//              121 -> 157 MB tar: curl, python3-minimal, tzdata... added) as the base layer + a
//              small app layer whose config changed
//   rootfs-reordered: the same, but the new base layer's tar lists its files in directory order
//              (as a rebuilt layer does), so moved content lies beyond xdelta3's 64 MiB window
//   rootfs-node: the rootfs pair as the base layer + a Node app layer (node_modules of real npm
//              packages, old -> new versions, ./fixtures.mjs): the case, for which the
//              bench also prints the figures table (below)
//   rootfs-node-as-built: the same with both rootfs trees as debootstrap leaves them (apt's .deb
//              cache, lists and logs kept: 204 -> 250 MB), the first measurement; figures too
// Peer: skopeo copy both images, decompress layers, `xdelta3 -e -S none -s` per layer, tar + gzip,
// `mender-artifact write module-image`. Wall time and peak RSS come from GNU time (max over the
// process tree); sizes are the .mender files.
// Targets: ours <= 0.3x the peer's wall time and <= 0.36x its artifact size.
// Figures (the rootfs-node cases): besides time and size against the peer, the artifact against
// `zstd -19 --long=28 --patch-from` of each changed layer summed (the best general-purpose delta,
// which the device cannot decode; computed once and cached), a containerd-store artifact against
// the peer's, the CPU of `ocidelta --version` against `node -e 0`, and the whole-process wall time
// of `ocidelta pull v2 --oci` against `skopeo copy` of the same image from the same registry.
// Build farm: runner A (empty cache, --store: computes the delta and pushes it) against runner B
// (another empty cache, same --store: takes the delta from the store and verifies it by
// rebuilding the new image as the device would). Target: B <= 0.5x A.
// Env: OCIDELTA_BENCH_APP_CASES=synthetic,rootfs,rootfs-reordered picks cases; OCIDELTA_BENCH_RUNS=N runs per case.
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { createGzip, gzipSync } from 'node:zlib';
import { nodeLayer, reorderedLayer, rootfsLayer } from './fixtures.mjs';
import { cacheDir, cpuCost, fmtMB, median, repoRoot, startRegistry, table } from './lib.mjs';

const dir = join(cacheDir, 'app-bench');
const coreUrl = pathToFileURL(join(repoRoot, 'packages/core/dist/index.js')).href;
const bin = join(repoRoot, 'packages/cli/dist/bin.js');
const FILES = 400; // base layer files, ~256 KB each: ~100 MB
const FILE_SIZE = 256 * 1024;
const RUNS = Number(process.env.OCIDELTA_BENCH_RUNS ?? 3);

const noise = (size, seed) =>
  createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16)).update(
    Buffer.alloc(size),
  );
/** Half random, half text: compresses like real binaries and configs. */
const fileContent = (i, gen) =>
  Buffer.concat([
    noise(FILE_SIZE / 2, `f${i}g${gen}`),
    Buffer.from(`line ${i} of a config file\n`.repeat(FILE_SIZE / 2 / 26 + 1)).subarray(0, FILE_SIZE / 2),
  ]);

async function layerTar(file, entries) {
  const { TarWriter } = await import(coreUrl);
  const tw = await TarWriter.create(file);
  for (const [name, data] of entries) await tw.addBuffer(name, data);
  await tw.commit();
}

const sha = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A pass-through stream that hashes what flows through it into `hash`. */
const hashing = (hash) =>
  new Transform({
    transform(chunk, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });

/** gzip an existing layer tar into the layout's blobs, streaming; returns descriptor + diff id. */
async function putTarFile(staging, tarFile) {
  const tmp = join(staging, 'layer.tar.gz');
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  await pipeline(
    createReadStream(tarFile),
    hashing(diff),
    createGzip(),
    hashing(blob),
    createWriteStream(tmp),
  );
  const digest = `sha256:${blob.digest('hex')}`;
  const size = statSync(tmp).size;
  renameSync(tmp, join(staging, 'blobs', 'sha256', digest.slice(7)));
  return { digest, size, diffId: `sha256:${diff.digest('hex')}` };
}

/**
 * Write an OCI layout (gzip layers) for one image; returns its dir. A layer is a list of
 * [name, bytes] entries or `{ tar: path }` of an existing layer tar.
 */
async function buildLayout(name, layers) {
  const out = join(dir, name);
  if (existsSync(join(out, 'index.json'))) return out;
  const staging = `${out}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, 'blobs', 'sha256'), { recursive: true });
  const put = (bytes) => {
    const d = sha(bytes);
    writeFileSync(join(staging, 'blobs', 'sha256', d.slice(7)), bytes);
    return { digest: d, size: bytes.length };
  };
  const descs = [];
  const diffIds = [];
  for (const [i, entries] of layers.entries()) {
    if (!Array.isArray(entries)) {
      const { diffId, ...desc } = await putTarFile(staging, entries.tar);
      diffIds.push(diffId);
      descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...desc });
      continue;
    }
    const tarFile = join(staging, `l${i}.tar`);
    await layerTar(tarFile, entries);
    const tar = readFileSync(tarFile);
    rmSync(tarFile);
    diffIds.push(sha(tar));
    descs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...put(gzipSync(tar)) });
  }
  const config = put(
    Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }),
    ),
  );
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: descs,
      }),
    ),
  );
  writeFileSync(join(staging, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(staging, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v' } }],
    }),
  );
  renameSync(staging, out);
  return out;
}

function baseFiles(gen) {
  const entries = [];
  for (let i = 0; i < FILES; i++) {
    // Generation 2 changes every 20th file and adds a few.
    const changed = gen === 2 && i % 20 === 0;
    entries.push([`usr/lib/file-${String(i).padStart(4, '0')}.so`, fileContent(i, changed ? 2 : 1)]);
  }
  if (gen === 2)
    for (let i = 0; i < 8; i++) entries.push([`usr/share/new-${i}.dat`, fileContent(1000 + i, 2)]);
  return entries;
}
const appFiles = () => [
  ['app/server', noise(20 * 1024 * 1024, 'app')],
  ['app/config.yml', Buffer.from('port: 8080\n')],
];
/** A small app layer (2 MB binary + config); generation 2 changes the config. */
const smallAppFiles = (gen) => [
  ['app/server', noise(2 * 1024 * 1024, 'small-app')],
  ['app/config.yml', Buffer.from(`port: 8080\nrelease: ${gen}\n`)],
];

/** Run `cmd args` under GNU time: wall seconds and peak RSS (MB) of the whole process tree. */
function timedRun(cmd, args, cwd) {
  try {
    execFileSync('/usr/bin/time', ['-o', join(cwd, 'time.txt'), '-f', '%e %M', cmd, ...args], {
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
      maxBuffer: 1 << 26,
    });
  } catch (err) {
    throw new Error(`${cmd} failed: ${err.stderr}`);
  }
  const [s, kb] = readFileSync(join(cwd, 'time.txt'), 'utf8').trim().split(/\s+/).map(Number);
  return { seconds: s, peakMB: kb / 1024 };
}

const PEER = String.raw`
set -euo pipefail
H="$1"; OUT="$2"; R="$3"; W="$PWD/peer"
rm -rf "$W"; mkdir -p "$W/cur" "$W/new" "$W/img/blobs/sha256" "$W/art/images/img" "$W/art/manifests"
skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$H/$R:v1" "oci:$W/cur:v1"
skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$H/$R:v2" "oci:$W/new:v2"
layers() { jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2 | xargs -I{} jq -r '.layers[].digest' "$1/blobs/sha256/{}" | cut -d: -f2; }
paste <(layers "$W/cur") <(layers "$W/new") | while read -r c n; do
  gzip -dc "$W/cur/blobs/sha256/$c" > "$W/c.tar"
  gzip -dc "$W/new/blobs/sha256/$n" > "$W/n.tar"
  xdelta3 -e -S none -f -s "$W/c.tar" "$W/n.tar" "$W/img/blobs/sha256/$n.vcdiff"
  echo "blobs/sha256/$c" > "$W/img/blobs/sha256/$n.source"
done
cp "$W/new/index.json" "$W/new/oci-layout" "$W/img/"
tar -cf "$W/art/images/img/image.img" -C "$W/img" .
echo "$H/$R:v2" > "$W/art/images/img/url-new.txt"; echo "$H/$R:v1" > "$W/art/images/img/url-current.txt"
touch "$W/art/images/img/deep_delta"
printf 'services:\n  app:\n    image: %s\n' "$H/$R:v2" > "$W/art/manifests/docker-compose.yml"
tar -czf "$W/images.tar.gz" -C "$W/art" images
tar -czf "$W/manifests.tar.gz" -C "$W/art" manifests
echo '{"application_name":"bench","orchestrator":"docker-compose","platform":"linux/amd64","version":"1"}' > "$W/meta.json"
mender-artifact write module-image -T app -t dev -n bench-2 -o "$OUT" -f "$W/images.tar.gz" -f "$W/manifests.tar.gz" -m "$W/meta.json" --software-name bench --software-version 2 >/dev/null
rm -rf "$W"
`;

const CASES = [
  {
    name: 'synthetic',
    repo: 'bench/app',
    label:
      'generated base layer (~100 MB, 5% of files changed, 8 added, same tar order) + unchanged 20 MB app layer',
    images: async () => [
      await buildLayout('v1', [baseFiles(1), appFiles()]),
      await buildLayout('v2-rebuilt', [baseFiles(2), appFiles()]),
    ],
  },
  {
    name: 'rootfs',
    repo: 'bench/rootfs-app',
    label:
      'Debian bookworm minbase base layer (121 -> 157 MB tar, packages added) + 2 MB app layer (config changed)',
    images: async () => [
      await buildLayout('rootfs-v1', [{ tar: rootfsLayer('old') }, smallAppFiles(1)]),
      await buildLayout('rootfs-v2', [{ tar: rootfsLayer('new') }, smallAppFiles(2)]),
    ],
  },
  {
    name: 'rootfs-reordered',
    repo: 'bench/rootfs-reordered-app',
    label:
      'the rootfs case with the new base layer re-packed in directory order (a rebuilt layer: same files, another tar order)',
    images: async () => [
      await buildLayout('rootfs-v1', [{ tar: rootfsLayer('old') }, smallAppFiles(1)]),
      await buildLayout('rootfs-reordered-v2', [
        { tar: reorderedLayer(rootfsLayer('new')) },
        smallAppFiles(2),
      ]),
    ],
  },
];
/** A figures case: a rootfs pair (`rootfsLayer` with `rootfs` options) as the base layer + the Node app pair. */
function rootfsNodeCase(name, label, rootfs) {
  const layers = (which) => [rootfsLayer(which, rootfs), nodeLayer(which)];
  return {
    name,
    repo: `bench/${name}-app`,
    label,
    figures: true,
    pairs: () => [0, 1].map((i) => [layers('old')[i], layers('new')[i]]),
    images: async () => [
      await buildLayout(
        `${name}-v1`,
        layers('old').map((tar) => ({ tar })),
      ),
      await buildLayout(
        `${name}-v2`,
        layers('new').map((tar) => ({ tar })),
      ),
    ],
  };
}
CASES.push(
  rootfsNodeCase(
    'rootfs-node',
    'Debian bookworm minbase base layer (121 -> 157 MB tar) + a Node app layer (node_modules of 6 npm packages, old -> new versions)',
    {},
  ),
  rootfsNodeCase(
    'rootfs-node-as-built',
    "the same, but both rootfs trees as debootstrap leaves them (apt's .deb cache and lists, logs: 204 -> 250 MB tar): the issue's first measurement",
    { asBuilt: true },
  ),
);
const GOALS = { time: 0.3, size: 0.36, zstd: 1.0, containerd: 0.45, startup: 2, pull: 1.0 };
const wanted = (process.env.OCIDELTA_BENCH_APP_CASES ?? CASES.map((c) => c.name).join(',')).split(',');

/** Push both images of a case, run both pipelines RUNS times (alternating), return the numbers. */
async function runCase(c, registry, work) {
  const [v1, v2] = await c.images();
  const copy = (layout, tag) =>
    execFileSync('skopeo', [
      '--insecure-policy',
      'copy',
      '-q',
      '--dest-tls-verify=false',
      `oci:${layout}:v`,
      `docker://${registry.host}/${c.repo}:${tag}`,
    ]);
  copy(v1, 'v1');
  copy(v2, 'v2');
  const v1Digest = sha(
    readFileSync(
      join(
        v1,
        'blobs',
        'sha256',
        JSON.parse(readFileSync(join(v1, 'index.json'), 'utf8')).manifests[0].digest.slice(7),
      ),
    ),
  );
  const caseDir = join(work, c.name);
  const project = join(caseDir, 'project');
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, 'VERSION'), '2\n');
  writeFileSync(
    join(project, 'docker-compose.yml'),
    `services:\n  app:\n    image: ${registry.host}/${c.repo}:v2\n`,
  );
  writeFileSync(
    join(project, 'previous.json'),
    JSON.stringify({
      version: '1',
      services: { app: { image: { ref: `${registry.host}/${c.repo}:v1`, hash: v1Digest } } },
    }),
  );

  // Median of RUNS runs each, alternating; every run of ours starts with an empty cache.
  // The figures case also runs ours with --compression xz (the smaller, slower artifact).
  const runs = { ours: [], peer: [], xz: [] };
  const ourRun = (out, extra = []) => {
    rmSync(join(caseDir, 'cache'), { recursive: true, force: true });
    return timedRun(
      process.execPath,
      [bin, 'app', 'docker-compose.yml', '-t', 'dev', '-p', 'linux/amd64', '-r', '-m', 'bench']
        .concat(['--previous-manifest', 'previous.json', '--cache-dir', join(caseDir, 'cache')])
        .concat(['-a', join(caseDir, out), '-l', 'warn', ...extra]),
      project,
    );
  };
  for (let i = 0; i < RUNS; i++) {
    runs.ours.push(ourRun('ours.mender'));
    if (c.figures) runs.xz.push(ourRun('ours-xz.mender', ['--compression', 'xz']));
    runs.peer.push(
      timedRun('bash', [join(work, 'peer.sh'), registry.host, join(caseDir, 'peer.mender'), c.repo], caseDir),
    );
  }
  rmSync(join(caseDir, 'cache'), { recursive: true, force: true });
  // Build farm: A and B share a store repository and nothing else.
  const store = `${registry.host}/bench/store-${c.name}-${Date.now()}`;
  const farm = (cache) =>
    timedRun(
      process.execPath,
      [bin, 'app', 'docker-compose.yml', '-t', 'dev', '-p', 'linux/amd64', '-r', '-m', 'bench']
        .concat(['--previous-manifest', 'previous.json', '--cache-dir', join(caseDir, cache)])
        .concat(['--store', store, '-a', join(caseDir, `${cache}.mender`), '-l', 'warn']),
      project,
    );
  const runnerA = farm('farm-a');
  const runnerB = farm('farm-b');
  rmSync(join(caseDir, 'farm-a'), { recursive: true, force: true });
  rmSync(join(caseDir, 'farm-b'), { recursive: true, force: true });
  const figures = c.figures ? await extraFigures(c, registry, caseDir, project) : undefined;
  const summary = (rs) => ({
    seconds: median(rs.map((r) => r.seconds)),
    peakMB: Math.max(...rs.map((r) => r.peakMB)),
  });
  return {
    ours: { ...summary(runs.ours), size: statSync(join(caseDir, 'ours.mender')).size },
    ...(c.figures
      ? { xz: { ...summary(runs.xz), size: statSync(join(caseDir, 'ours-xz.mender')).size } }
      : {}),
    peer: { ...summary(runs.peer), size: statSync(join(caseDir, 'peer.mender')).size },
    farm: {
      a: { ...runnerA, size: statSync(join(caseDir, 'farm-a.mender')).size },
      b: { ...runnerB, size: statSync(join(caseDir, 'farm-b.mender')).size },
    },
    figures,
  };
}

/** Sum over the case's layer pairs of `zstd -19 --long=28 --patch-from=OLD NEW`, cached by input. */
function zstdPatchSum(pairs) {
  let total = 0;
  for (const [oldTar, newTar] of pairs) {
    const key = createHash('sha256')
      .update(`${oldTar} ${statSync(oldTar).size} ${newTar} ${statSync(newTar).size}`)
      .digest('hex')
      .slice(0, 16);
    const cached = join(dir, `zstd-patch-${key}.txt`);
    if (!existsSync(cached)) {
      console.log(`  zstd -19 --long=28 --patch-from of ${newTar} (once, cached)...`);
      const out = join(dir, `zstd-patch-${key}.zst`);
      execFileSync('zstd', [
        '-q',
        '-f',
        '-19',
        '--long=28',
        '-T0',
        `--patch-from=${oldTar}`,
        newTar,
        '-o',
        out,
      ]);
      writeFileSync(cached, String(statSync(out).size));
      rmSync(out);
    }
    total += Number(readFileSync(cached, 'utf8'));
  }
  return total;
}

/** The further figures: containerd artifact, zstd sum, start-up CPU, pull wall time. */
async function extraFigures(c, registry, caseDir, project) {
  const cache = join(caseDir, 'cache-containerd');
  rmSync(cache, { recursive: true, force: true });
  timedRun(
    process.execPath,
    [bin, 'app', 'docker-compose.yml', '-t', 'dev', '-p', 'linux/amd64', '-r', '-m', 'bench']
      .concat(['--previous-manifest', 'previous.json', '--cache-dir', cache, '--device-store', 'containerd'])
      .concat(['-a', join(caseDir, 'containerd.mender'), '-l', 'warn']),
    project,
  );
  rmSync(cache, { recursive: true, force: true });
  const pulls = { ours: [], skopeo: [] };
  const ref = `${registry.host}/${c.repo}:v2`;
  for (let i = 0; i < RUNS; i++) {
    const out = join(caseDir, 'pulled');
    rmSync(out, { recursive: true, force: true });
    pulls.ours.push(timedRun(process.execPath, [bin, 'pull', ref, '--oci', out, '-q'], caseDir).seconds);
    rmSync(out, { recursive: true, force: true });
    pulls.skopeo.push(
      timedRun(
        'skopeo',
        ['--insecure-policy', 'copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${out}:v2`],
        caseDir,
      ).seconds,
    );
    rmSync(out, { recursive: true, force: true });
  }
  const node = cpuCost(process.execPath, ['-e', '0']);
  const version = cpuCost(process.execPath, [bin, '--version']);
  return {
    containerdSize: statSync(join(caseDir, 'containerd.mender')).size,
    zstdSize: zstdPatchSum(c.pairs()),
    startup: { ours: version.cpu, node: node.cpu },
    pull: { ours: median(pulls.ours), skopeo: median(pulls.skopeo) },
  };
}

const verdict = (value, goal) => `${value.toFixed(2)} (<=${goal}) ${value <= goal ? 'OK' : 'MISSED'}`;

mkdirSync(dir, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'ocidelta-bench-app-'));
const registry = await startRegistry(work);
try {
  writeFileSync(join(work, 'peer.sh'), PEER);
  const rows = [];
  const notes = [];
  const figureRows = [];
  for (const c of CASES.filter((x) => wanted.includes(x.name))) {
    console.log(`${c.name}: preparing images (cached after the first run)...`);
    const { ours, xz, peer, farm, figures } = await runCase(c, registry, work);
    const t = ours.seconds / peer.seconds;
    const s = ours.size / peer.size;
    notes.push(`${c.name}: ${c.label}`);
    for (const [pipeline, r] of [
      ['ocidelta app', ours],
      ...(xz ? [['ocidelta app --compression xz', xz]] : []),
      ['peer (skopeo+xdelta3+mender-artifact)', peer],
    ]) {
      const mine = r !== peer;
      rows.push({
        case: c.name,
        pipeline,
        'wall s': r.seconds.toFixed(2),
        'peak RSS MB': r.peakMB.toFixed(0),
        artifact: fmtMB(r.size),
        'time ours/peer': mine ? verdict(r.seconds / peer.seconds, GOALS.time) : '',
        'size ours/peer': mine ? verdict(r.size / peer.size, GOALS.size) : '',
      });
    }
    if (figures) {
      const fig = (figure, value, goal, detail) =>
        figureRows.push({ case: c.name, figure, value: verdict(value, goal), measured: detail });
      fig(
        'ocidelta app wall time / peer',
        t,
        GOALS.time,
        `${ours.seconds.toFixed(2)} s / ${peer.seconds.toFixed(2)} s`,
      );
      fig('artifact size / peer', s, GOALS.size, `${fmtMB(ours.size)} / ${fmtMB(peer.size)}`);
      fig(
        '  the same with --compression xz (time, size)',
        xz.size / peer.size,
        GOALS.size,
        `${fmtMB(xz.size)} in ${xz.seconds.toFixed(2)} s (time ratio ${(xz.seconds / peer.seconds).toFixed(2)})`,
      );
      fig(
        'artifact size / zstd -19 --long=28 --patch-from (summed)',
        ours.size / figures.zstdSize,
        GOALS.zstd,
        `${fmtMB(ours.size)} / ${fmtMB(figures.zstdSize)}`,
      );
      fig(
        'containerd-store artifact / peer',
        figures.containerdSize / peer.size,
        GOALS.containerd,
        `${fmtMB(figures.containerdSize)} / ${fmtMB(peer.size)}`,
      );
      fig(
        'CPU of ocidelta --version / node -e 0',
        figures.startup.ours / figures.startup.node,
        GOALS.startup,
        `${figures.startup.ours.toFixed(2)} s / ${figures.startup.node.toFixed(2)} s`,
      );
      fig(
        'ocidelta pull --oci wall / skopeo copy',
        figures.pull.ours / figures.pull.skopeo,
        GOALS.pull,
        `${figures.pull.ours.toFixed(2)} s / ${figures.pull.skopeo.toFixed(2)} s`,
      );
      fig(
        'peak RSS of ocidelta app (MB)',
        ours.peakMB,
        1024,
        'O(largest changed source layer) + workers x window',
      );
    }
    const f = farm.b.seconds / farm.a.seconds;
    for (const [pipeline, r] of [
      ['farm runner A (--store: computes, pushes)', farm.a],
      ['farm runner B (--store: takes, verifies)', farm.b],
    ]) {
      rows.push({
        case: c.name,
        pipeline,
        'wall s': r.seconds.toFixed(2),
        'peak RSS MB': r.peakMB.toFixed(0),
        artifact: fmtMB(r.size),
        'time ours/peer': r === farm.b ? `B/A ${verdict(f, 0.5)}` : '',
        'size ours/peer': '',
      });
    }
  }
  console.log(`cold cache, median of ${RUNS} run(s) per pipeline, peak RSS = max over runs`);
  for (const n of notes) console.log(n);
  table(rows);
  if (figureRows.length > 0) {
    console.log('\nthe figures');
    table(figureRows);
  }
} finally {
  registry.stop();
  rmSync(work, { recursive: true, force: true });
}
