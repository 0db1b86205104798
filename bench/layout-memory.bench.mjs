// Memory and time of layouts/archives with a 1 GiB layer (uncompressed; gzip level 1, random-ish
// compressible data). Each step runs in its own Node process so its peak RSS is its own:
//   write-layout        copy the image into a fresh OCI layout (streamed, verified)
//   write-oci-archive   write it as an oci-archive tar
//   read-oci-archive    index the archive, stream the layer decompressed, check its diff_id
//   write-docker-flat   docker-archive with the layer decompressed while written (diff_id verified)
//   read-docker-flat    read that back: stream the layer, check its digest
// Peer: `skopeo copy oci:... oci-archive:...`. Target: every step < 150 MB peak RSS.
import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { cacheDir, measure, table } from './lib.mjs';

const core = () => import('../packages/core/dist/index.js');
const dir = join(cacheDir, 'layout-memory');
const work = join(dir, 'work');
const SIZE = 1024 * 1024 * 1024;
const LIMIT_MB = 150;

/** Random-ish compressible content: random bytes mixed with repeated text (gzip ~2-3x). */
function* content(total) {
  let x = 0x9e3779b9;
  const chunk = 1024 * 1024;
  for (let done = 0; done < total; done += chunk) {
    const buf = Buffer.alloc(Math.min(chunk, total - done));
    for (let i = 0; i < buf.length; i += 4096) {
      const end = Math.min(i + 4096, buf.length);
      if ((i / 4096) % 3 === 0) {
        for (let j = i; j < end; j++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          buf[j] = x & 0xff;
        }
      } else buf.write(`line ${done + i} of a generated layer file with some text\n`.repeat(80), i, end - i);
    }
    yield buf;
  }
}

/** Build (once) an OCI layout holding one image with a 1 GiB (uncompressed) gzip layer. */
async function ensureSource() {
  const layout = join(dir, 'source');
  if (existsSync(join(layout, 'index.json'))) return layout;
  const { OciLayout, MediaType, TarWriter } = await core();
  mkdirSync(dir, { recursive: true });
  // The layer tar (1 GiB, 8 files) with our own tar writer, then gzip -1 of it, hashing both.
  const tarFile = join(dir, 'layer.tar');
  const files = 8;
  const tw = await TarWriter.create(tarFile);
  for (let f = 0; f < files; f++) {
    const size = SIZE / files - 2048;
    await tw.addStream(`data/file-${f}.bin`, content(size), { size });
  }
  await tw.commit();
  const gz = join(dir, 'layer.tar.gz');
  const diff = createHash('sha256');
  await pipeline(
    createReadStream(tarFile),
    async function* (src) {
      for await (const c of src) {
        diff.update(c);
        yield c;
      }
    },
    createGzip({ level: 1 }),
    createWriteStream(gz),
  );
  rmSync(tarFile);
  const diffId = `sha256:${diff.digest('hex')}`;
  const tmp = `${layout}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const l = await OciLayout.create(tmp);
  const layer = await l.writeBlob(createReadStream(gz));
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }),
  );
  const cfg = await l.writeBlob(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, ...cfg },
      layers: [{ mediaType: MediaType.OciLayerGzip, ...layer }],
    }),
  );
  const m = await l.writeBlob(manifest);
  await l.addManifest({
    mediaType: MediaType.OciManifest,
    ...m,
    annotations: { 'org.opencontainers.image.ref.name': 'big' },
  });
  rmSync(gz);
  const { renameSync } = await import('node:fs');
  renameSync(tmp, layout);
  return layout;
}

async function drainDigest(stream) {
  const h = createHash('sha256');
  let n = 0;
  for await (const c of stream) {
    h.update(c);
    n += c.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size: n };
}

/** One step, run in a child process. */
async function step(name, source) {
  const c = await core();
  const image = async () => (await c.OciLayout.open(source)).image({ ref: 'big' });
  switch (name) {
    case 'write-layout':
      await c.writeOciLayout(join(work, 'layout'), [{ image: await image(), ref: 'big' }]);
      return;
    case 'write-oci-archive':
      await c.writeOciArchive(join(work, 'oci.tar'), [{ image: await image(), ref: 'big' }]);
      return;
    case 'read-oci-archive': {
      const a = await c.readOciArchive(join(work, 'oci.tar'));
      const layer = a.entries[0].image.layers[0];
      const r = await drainDigest(await layer.uncompressed());
      if (r.digest !== layer.diffId) throw new Error(`diff_id mismatch ${r.digest}`);
      return;
    }
    case 'write-docker-flat':
      await c.writeDockerArchive(join(work, 'docker.tar'), [{ image: await image(), repoTags: ['big:1'] }], {
        layers: 'uncompressed',
      });
      return;
    case 'read-docker-flat': {
      const a = await c.readDockerArchive(join(work, 'docker.tar'));
      const layer = a.entries[0].image.layers[0];
      const r = await drainDigest(await layer.compressed());
      if (r.digest !== layer.diffId) throw new Error(`digest mismatch ${r.digest}`);
      return;
    }
    default:
      throw new Error(`unknown step ${name}`);
  }
}

const self = fileURLToPath(import.meta.url);
if (process.argv[2] === '--step') {
  await step(process.argv[3], process.argv[4]);
} else {
  const source = await ensureSource();
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const rows = [];
  let over = 0;
  for (const name of [
    'write-layout',
    'write-oci-archive',
    'read-oci-archive',
    'write-docker-flat',
    'read-docker-flat',
  ]) {
    const r = await measure(process.execPath, [self, '--step', name, source]);
    if (r.peakMB >= LIMIT_MB) over++;
    rows.push({
      step: name,
      tool: 'ocidelta',
      seconds: r.seconds.toFixed(1),
      peakRSS: `${r.peakMB.toFixed(0)} MB`,
    });
  }
  const ours = rows.find((r) => r.step === 'write-oci-archive');
  try {
    const out = join(work, 'skopeo.tar');
    const r = await measure('skopeo', [
      '--insecure-policy',
      'copy',
      `oci:${source}:big`,
      `oci-archive:${out}:big`,
    ]);
    rows.push({
      step: 'write-oci-archive',
      tool: 'skopeo copy',
      seconds: r.seconds.toFixed(1),
      peakRSS: `${r.peakMB.toFixed(0)} MB`,
    });
    rows.push({
      step: 'ratio ocidelta/skopeo',
      tool: '',
      seconds: (Number(ours.seconds) / r.seconds).toFixed(2),
      peakRSS: (Number.parseFloat(ours.peakRSS) / r.peakMB).toFixed(2),
    });
  } catch (err) {
    rows.push({
      step: 'write-oci-archive',
      tool: 'skopeo copy',
      seconds: `failed: ${err.message}`,
      peakRSS: '',
    });
  }
  const layerBytes = statSync(join(work, 'oci.tar')).size;
  console.log(
    `layer: ${SIZE / 2 ** 20} MiB uncompressed, oci-archive ${(layerBytes / 2 ** 20).toFixed(0)} MiB`,
  );
  table(rows);
  console.log(
    over === 0 ? `all steps under ${LIMIT_MB} MB peak RSS` : `!!! ${over} step(s) at or over ${LIMIT_MB} MB`,
  );
  rmSync(work, { recursive: true, force: true });
  writeFileSync(join(dir, 'last-run.txt'), `${new Date().toISOString()}\n`);
  process.exitCode = over === 0 ? 0 : 1;
}
