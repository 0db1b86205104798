// Fuzz targets of @ocidelta/core (see test-support/fuzz.ts for the property and the figures):
// the tar index, the artifact tar reader, layer extraction into a sandbox (nothing outside it
// may change), oci-archive and docker-archive readers, the Mender artifact reader (artifacts
// from our writer and from mender-artifact), references, platforms and build specs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { type FuzzTarget, fixTarChecksums, fuzz, tarHotspots } from '../../../test-support/fuzz.js';
import {
  type ArchiveImages,
  extractLayerTar,
  parseBuildSpec,
  parsePlatform,
  Reference,
  readDockerArchive,
  readOciArchive,
  TarIndex,
  writeDockerArchive,
  writeOciArchive,
} from '../src/index.js';
import { readArtifact, writeArtifact } from '../src/mender/index.js';
import { encodeHeader, encodePax, paddingFor } from '../src/tar/format.js';
import { readTar } from '../src/tar/index.js';
import { tarOf, twoLayers } from './layout-fixtures.js';

let work: string;
let n = 0;
const file = (bytes: Buffer, ext = 'bin') => {
  const p = join(work, `in-${n++}.${ext}`);
  writeFileSync(p, bytes);
  return p;
};
const seeds: Record<string, Buffer[]> = {};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ocidelta-fuzz-core-'));
  const { image } = await twoLayers();
  const oci = join(work, 'seed-oci.tar');
  const docker = join(work, 'seed-docker.tar');
  await writeOciArchive(oci, [{ image, ref: 'fuzz/app:1' }]);
  await writeDockerArchive(docker, [{ image, repoTags: ['fuzz/app:1'] }]);
  seeds.oci = [readFileSync(oci)];
  seeds.docker = [readFileSync(docker)];
  const layer = await tarOf([
    { path: 'etc/os-release', content: 'ID=fuzz\n' },
    { path: 'bin/tool', content: Buffer.alloc(1500, 3) },
  ]);
  // Entries that exercise links, whiteouts and replacement: mutations turn them hostile.
  const p = pack();
  const add = (h: Parameters<typeof p.entry>[0], body?: string) =>
    new Promise<void>((res, rej) => {
      const done = (e?: Error | null) => (e ? rej(e) : res());
      if (body === undefined) p.entry(h, done);
      else p.entry(h, body, done);
    });
  await add({ name: 'bin/tool', mode: 0o755 }, 'x');
  await add({ name: 'd/', type: 'directory', mode: 0o700 });
  await add({ name: 'l', type: 'symlink', linkname: '../outside' });
  await add({ name: 'd/.wh.x' }, '');
  await add({ name: 'h', type: 'link', linkname: 'bin/tool' });
  await add({ name: 'd', type: 'symlink', linkname: '/' });
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  const hostile = Buffer.concat(chunks);
  // pax records (path and size) in front of a 1024-byte file: the fields hostile tars lie in.
  const pax = encodePax({ path: `${'long-name-'.repeat(12)}.bin`, size: '1024' });
  const paxTar = Buffer.concat([
    encodeHeader({ name: 'PaxHeader', size: pax.length, type: 'pax' }),
    pax,
    Buffer.alloc(paddingFor(pax.length)),
    encodeHeader({ name: 'short.bin', size: 1024, type: 'file' }),
    Buffer.alloc(1024, 1),
    Buffer.alloc(1024),
  ]);
  seeds.layer = [layer, hostile, paxTar];
  const payload = join(work, 'payload.bin');
  writeFileSync(payload, Buffer.alloc(3000, 9));
  const base = { type: 'app', artifactName: 'a-1', deviceTypes: ['dev'], files: [payload] };
  const ours = join(work, 'seed.mender');
  await writeArtifact(ours, { ...base, compression: 'gzip', metaData: { k: 'v' } });
  const plain = join(work, 'seed-none.mender');
  await writeArtifact(plain, { ...base, compression: 'none' });
  seeds.artifact = [readFileSync(ours), readFileSync(plain)];
  if (haveBinaries('mender-artifact')) {
    const theirs = join(work, 'theirs.mender');
    execFileSync('mender-artifact', [
      'write',
      'module-image',
      '-T',
      'app',
      '-n',
      'b-1',
      '-t',
      'dev',
      '-f',
      payload,
      '-o',
      theirs,
    ]);
    seeds.artifact.push(readFileSync(theirs));
  }
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Extraction into `<sandbox>/target`: afterwards the sandbox holds exactly target and the sentinel. */
async function extractContained(input: Buffer): Promise<void> {
  const sandbox = mkdtempSync(join(work, 'sandbox-'));
  writeFileSync(join(sandbox, 'sentinel'), 'keep');
  mkdirSync(join(sandbox, 'target'));
  try {
    await extractLayerTar(Readable.from([input]), join(sandbox, 'target'));
  } finally {
    const left = readdirSync(sandbox).sort();
    const sentinel = readFileSync(join(sandbox, 'sentinel'), 'utf8');
    rmSync(sandbox, { recursive: true, force: true });
    if (left.join() !== 'sentinel,target' || sentinel !== 'keep') {
      // Not an OciDeltaError: the fuzz property reports it as a failure.
      // biome-ignore lint/correctness/noUnsafeFinally: the escape is the finding
      throw new Error(`ESCAPE: extraction changed the sandbox: ${left.join()}`);
    }
  }
}

async function drainTar(input: Buffer): Promise<void> {
  for await (const entry of readTar(Readable.from([input]), 'fuzz')) for await (const _ of entry.body);
}

async function readArchiveFully(read: (f: string) => Promise<ArchiveImages>, input: Buffer): Promise<void> {
  const archive = await read(file(input, 'tar'));
  for (const e of archive.entries)
    for (const l of e.image.layers) for await (const _ of await l.compressed());
}

const targets = (): FuzzTarget[] => [
  {
    name: 'tar-index',
    fixup: fixTarChecksums,
    hotspots: tarHotspots,
    seeds: [...seeds.oci!, ...seeds.layer!],
    runs: 4500,
    run: async (b) => TarIndex.scan(file(b, 'tar')),
  },
  {
    name: 'artifact-tar',
    fixup: fixTarChecksums,
    hotspots: tarHotspots,
    seeds: [...seeds.artifact!, ...seeds.layer!],
    runs: 4500,
    run: drainTar,
  },
  {
    name: 'layer-extract',
    fixup: fixTarChecksums,
    hotspots: tarHotspots,
    seeds: seeds.layer!,
    runs: 2400,
    run: extractContained,
  },
  {
    name: 'oci-archive',
    fixup: fixTarChecksums,
    hotspots: tarHotspots,
    seeds: seeds.oci!,
    runs: 1800,
    run: (b) => readArchiveFully(readOciArchive, b),
  },
  {
    name: 'docker-archive',
    fixup: fixTarChecksums,
    hotspots: tarHotspots,
    seeds: seeds.docker!,
    runs: 1800,
    run: (b) => readArchiveFully(readDockerArchive, b),
  },
  {
    name: 'mender-artifact',
    fixup: fixTarChecksums,
    hotspots: tarHotspots,
    seeds: seeds.artifact!,
    runs: 2400,
    run: async (b) => readArtifact(file(b, 'mender')),
  },
  {
    name: 'reference',
    seeds: [
      `registry.example.com:5000/team/app:1.2@sha256:${'a'.repeat(64)}`,
      'docker.io/library/nginx',
      'localhost/x',
    ].map((s) => Buffer.from(s)),
    runs: 12000,
    run: async (b) => Reference.parse(b.toString('latin1')),
  },
  {
    name: 'platform',
    seeds: ['linux/arm64/v8', 'linux/amd64'].map((s) => Buffer.from(s)),
    runs: 6000,
    run: async (b) => parsePlatform(b.toString('latin1')),
  },
  {
    name: 'build-spec',
    seeds: [
      Buffer.from(
        'images:\n  - os: linux\n    architecture: &a amd64\n    layers:\n      - dir: ./x\n    config:\n      Env: [A=1]\n      Labels: {x: *a}\n',
      ),
    ],
    runs: 4500,
    run: async (b) => parseBuildSpec(b.toString('utf8'), 'spec.yaml'),
  },
];

describe('fuzz: core readers', () => {
  it('every target gives a result or a typed error, in time and bounded memory', {
    timeout: 600_000,
  }, async () => {
    const failures: string[] = [];
    for (const t of targets()) failures.push(...(await fuzz(t)).failures.map((f) => `${t.name}: ${f}`));
    expect(failures).toEqual([]);
  });
});
