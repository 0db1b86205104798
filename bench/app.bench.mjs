// End to end `ocidelta app` against the peer pipeline the original tool ran, on the same registry
// images in one run: a changed-base-layer update (base ~100 MB of files, ~5% of them changed and
// the layer rebuilt, so its tar lists the files in another order; app layer unchanged). Peer: skopeo copy both images, decompress layers, `xdelta3 -e -S none -s`
// per layer, tar + gzip, `mender-artifact write module-image`. Wall time and peak RSS come from
// GNU time (max over the process tree); sizes are the .mender files.
// Targets: ours <= 0.5x the peer's wall time and <= 0.6x its artifact size.
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import {
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
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { cacheDir, fmtMB, repoRoot, startRegistry, table } from './lib.mjs';

const dir = join(cacheDir, 'app-bench');
const coreUrl = pathToFileURL(join(repoRoot, 'packages/core/dist/index.js')).href;
const bin = join(repoRoot, 'packages/cli/dist/bin.js');
const FILES = 400; // base layer files, ~256 KB each: ~100 MB
const FILE_SIZE = 256 * 1024;
const RUNS = 3;

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

/** Write an OCI layout (gzip layers) for one image; returns its dir. */
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
H="$1"; OUT="$2"; W="$PWD/peer"
rm -rf "$W"; mkdir -p "$W/cur" "$W/new" "$W/img/blobs/sha256" "$W/art/images/img" "$W/art/manifests"
skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$H/bench/app:v1" "oci:$W/cur:v1"
skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$H/bench/app:v2" "oci:$W/new:v2"
layers() { jq -r '.manifests[0].digest' "$1/index.json" | cut -d: -f2 | xargs -I{} jq -r '.layers[].digest' "$1/blobs/sha256/{}" | cut -d: -f2; }
paste <(layers "$W/cur") <(layers "$W/new") | while read -r c n; do
  gzip -dc "$W/cur/blobs/sha256/$c" > "$W/c.tar"
  gzip -dc "$W/new/blobs/sha256/$n" > "$W/n.tar"
  xdelta3 -e -S none -f -s "$W/c.tar" "$W/n.tar" "$W/img/blobs/sha256/$n.vcdiff"
  echo "blobs/sha256/$c" > "$W/img/blobs/sha256/$n.source"
done
cp "$W/new/index.json" "$W/new/oci-layout" "$W/img/"
tar -cf "$W/art/images/img/image.img" -C "$W/img" .
echo "$H/bench/app:v2" > "$W/art/images/img/url-new.txt"; echo "$H/bench/app:v1" > "$W/art/images/img/url-current.txt"
touch "$W/art/images/img/deep_delta"
printf 'services:\n  app:\n    image: %s\n' "$H/bench/app:v2" > "$W/art/manifests/docker-compose.yml"
tar -czf "$W/images.tar.gz" -C "$W/art" images
tar -czf "$W/manifests.tar.gz" -C "$W/art" manifests
echo '{"application_name":"bench","orchestrator":"docker-compose","platform":"linux/amd64","version":"1"}' > "$W/meta.json"
mender-artifact write module-image -T app -t dev -n bench-2 -o "$OUT" -f "$W/images.tar.gz" -f "$W/manifests.tar.gz" -m "$W/meta.json" --software-name bench --software-version 2 >/dev/null
rm -rf "$W"
`;

mkdirSync(dir, { recursive: true });
console.log('preparing images (cached after the first run)...');
const v1 = await buildLayout('v1', [baseFiles(1), appFiles()]);
const v2 = await buildLayout('v2-rebuilt', [baseFiles(2), appFiles()]);
const work = mkdtempSync(join(tmpdir(), 'ocidelta-bench-app-'));
const registry = await startRegistry(work);
try {
  const copy = (layout, tag) =>
    execFileSync('skopeo', [
      '--insecure-policy',
      'copy',
      '-q',
      '--dest-tls-verify=false',
      `oci:${layout}:v`,
      `docker://${registry.host}/bench/app:${tag}`,
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
  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'VERSION'), '2\n');
  writeFileSync(
    join(project, 'docker-compose.yml'),
    `services:\n  app:\n    image: ${registry.host}/bench/app:v2\n`,
  );
  writeFileSync(
    join(project, 'previous.json'),
    JSON.stringify({
      version: '1',
      services: { app: { image: { ref: `${registry.host}/bench/app:v1`, hash: v1Digest } } },
    }),
  );
  writeFileSync(join(work, 'peer.sh'), PEER);

  // Median of RUNS runs each, alternating; every run of ours starts with an empty cache.
  const runs = { ours: [], peer: [] };
  for (let i = 0; i < RUNS; i++) {
    rmSync(join(work, 'cache'), { recursive: true, force: true });
    runs.ours.push(
      timedRun(
        process.execPath,
        [bin, 'app', 'docker-compose.yml', '-t', 'dev', '-p', 'linux/amd64', '-r', '-m', 'bench']
          .concat(['--previous-manifest', 'previous.json', '--cache-dir', join(work, 'cache')])
          .concat(['-a', join(work, 'ours.mender'), '-l', 'warn']),
        project,
      ),
    );
    runs.peer.push(timedRun('bash', [join(work, 'peer.sh'), registry.host, join(work, 'peer.mender')], work));
  }
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const ours = {
    seconds: median(runs.ours.map((r) => r.seconds)),
    peakMB: Math.max(...runs.ours.map((r) => r.peakMB)),
  };
  const peer = {
    seconds: median(runs.peer.map((r) => r.seconds)),
    peakMB: Math.max(...runs.peer.map((r) => r.peakMB)),
  };
  const oursSize = statSync(join(work, 'ours.mender')).size;
  const peerSize = statSync(join(work, 'peer.mender')).size;
  console.log(
    `rebuilt base layer (~100 MB, 5% of files changed, file order changed) + unchanged 20 MB app layer, cold cache, median of ${RUNS}`,
  );
  table([
    {
      pipeline: 'ocidelta app',
      'wall s': ours.seconds.toFixed(2),
      'peak RSS MB': ours.peakMB.toFixed(0),
      artifact: fmtMB(oursSize),
    },
    {
      pipeline: 'peer (skopeo+xdelta3+mender-artifact)',
      'wall s': peer.seconds.toFixed(2),
      'peak RSS MB': peer.peakMB.toFixed(0),
      artifact: fmtMB(peerSize),
    },
  ]);
  const t = ours.seconds / peer.seconds;
  const s = oursSize / peerSize;
  console.log(`wall time ratio ours/peer: ${t.toFixed(2)} (target <= 0.5) ${t <= 0.5 ? 'OK' : 'MISSED'}`);
  console.log(`artifact size ratio ours/peer: ${s.toFixed(2)} (target <= 0.6) ${s <= 0.6 ? 'OK' : 'MISSED'}`);
} finally {
  registry.stop();
  rmSync(work, { recursive: true, force: true });
}
