// Pull a multi-layer image of ~230 MB from a local docker-registry into an OCI layout: ours
// (`pullImage`, 4 parallel layer downloads, each streamed to disk and verified) against
// `skopeo copy docker://... oci:...`, in the same run, each in its own process so the peak RSS
// is its own. Target: ratio (ours / skopeo) <= 1.0 and our peak RSS < 200 MB.
// The image (random, incompressible layers stored as plain tar) is generated once into the
// bench cache; the registry is started here with a temp storage dir and filled with skopeo.
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cacheDir, measure, repoRoot, startRegistry, table } from './lib.mjs';

const LAYERS_MB = [96, 64, 40, 20, 8, 2]; // 230 MB
const RUNS = 3;
const RSS_LIMIT_MB = 200;
const dir = join(cacheDir, 'registry-pull');
const coreUrl = pathToFileURL(join(repoRoot, 'packages/core/dist/index.js')).href;
const registryUrl = pathToFileURL(join(repoRoot, 'packages/registry/dist/index.js')).href;

function* randomChunks(total) {
  for (let done = 0; done < total; done += 1 << 20) yield randomBytes(Math.min(1 << 20, total - done));
}

async function sha256File(path) {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

/** Build (once) an OCI layout with one image of LAYERS_MB random layers. */
async function ensureLayout() {
  const layout = join(dir, 'source');
  if (existsSync(join(layout, 'index.json'))) return layout;
  const { TarWriter } = await import(coreUrl);
  const staging = `${layout}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, 'blobs', 'sha256'), { recursive: true });
  const layers = [];
  for (const [i, mb] of LAYERS_MB.entries()) {
    const tarFile = join(staging, `layer-${i}.tar`);
    const tw = await TarWriter.create(tarFile);
    const size = mb * 1024 * 1024 - 3 * 512;
    await tw.addStream(`data/layer-${i}.bin`, randomChunks(size), { size });
    await tw.commit();
    const digest = await sha256File(tarFile);
    renameSync(tarFile, join(staging, 'blobs', 'sha256', digest.slice(7)));
    layers.push({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest,
      size: statSync(join(staging, 'blobs', 'sha256', digest.slice(7))).size,
    });
  }
  const put = (obj) => {
    const bytes = Buffer.from(JSON.stringify(obj));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    writeFileSync(join(staging, 'blobs', 'sha256', digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const config = put({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const manifest = put({
    schemaVersion: 2,
    mediaType,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers,
  });
  writeFileSync(join(staging, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(staging, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
    }),
  );
  renameSync(staging, layout);
  return layout;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const layout = await ensureLayout();
const totalMB = LAYERS_MB.reduce((a, b) => a + b, 0);
const work = mkdtempSync(join(tmpdir(), 'ocidelta-bench-pull-'));
const registry = await startRegistry(work);
try {
  const ref = `${registry.host}/bench/big:v1`;
  await measure('skopeo', [
    '--insecure-policy',
    'copy',
    '--dest-tls-verify=false',
    `oci:${layout}:v1`,
    `docker://${ref}`,
  ]);
  // The child reports the time of the pull itself (after Node start and module loading) on stderr.
  const ourScript = `
    const { RegistryClient, pullImage } = await import(${JSON.stringify(registryUrl)});
    const start = performance.now();
    const client = new RegistryClient({ useDockerConfig: false });
    const r = await pullImage(client, ${JSON.stringify(ref)}, { oci: process.argv[1] });
    await client.close();
    if (r.blobs.transferred !== ${LAYERS_MB.length + 1}) throw new Error('unexpected blob count ' + JSON.stringify(r.blobs));
    process.stderr.write(JSON.stringify({ pullSeconds: (performance.now() - start) / 1000 }));
  `;
  const ours = { seconds: [], pullSeconds: [], peakMB: [] };
  const skopeo = { seconds: [], peakMB: [] };
  for (let run = 0; run <= RUNS; run++) {
    // Run 0 warms the page cache and connections; it is not counted.
    const a = join(work, `ours-${run}`);
    const b = join(work, `skopeo-${run}`);
    const o = await measure(process.execPath, ['--input-type=module', '-e', ourScript, a]);
    const s = await measure('skopeo', [
      '--insecure-policy',
      'copy',
      '--src-tls-verify=false',
      `docker://${ref}`,
      `oci:${b}:v1`,
    ]);
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
    if (run === 0) continue;
    ours.seconds.push(o.seconds);
    ours.pullSeconds.push(JSON.parse(o.stderr).pullSeconds);
    ours.peakMB.push(o.peakMB);
    skopeo.seconds.push(s.seconds);
    skopeo.peakMB.push(s.peakMB);
  }
  const ratio = median(ours.seconds) / median(skopeo.seconds);
  const pullRatio = median(ours.pullSeconds) / median(skopeo.seconds);
  const ourPeak = Math.max(...ours.peakMB);
  console.log(
    `pull ${totalMB} MB (${LAYERS_MB.length} layers) from docker-registry into an OCI layout, median of ${RUNS}`,
  );
  table([
    {
      tool: 'ocidelta pullImage (process)',
      'wall s': median(ours.seconds).toFixed(2),
      'MB/s': (totalMB / median(ours.seconds)).toFixed(0),
      'peak RSS MB': ourPeak.toFixed(0),
    },
    {
      tool: '  of which the pull itself',
      'wall s': median(ours.pullSeconds).toFixed(2),
      'MB/s': (totalMB / median(ours.pullSeconds)).toFixed(0),
      'peak RSS MB': '',
    },
    {
      tool: 'skopeo copy (process)',
      'wall s': median(skopeo.seconds).toFixed(2),
      'MB/s': (totalMB / median(skopeo.seconds)).toFixed(0),
      'peak RSS MB': Math.max(...skopeo.peakMB).toFixed(0),
    },
  ]);
  console.log(
    `ratio ours/skopeo, whole processes: ${ratio.toFixed(2)} (target <= 1.0) ${ratio <= 1 ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `ratio ours/skopeo, our pull without Node start-up and module loading: ${pullRatio.toFixed(2)}`,
  );
  console.log(
    `our peak RSS: ${ourPeak.toFixed(0)} MB (target < ${RSS_LIMIT_MB}) ${ourPeak < RSS_LIMIT_MB ? 'OK' : 'MISSED'}`,
  );
} finally {
  registry.stop();
  rmSync(work, { recursive: true, force: true });
}
