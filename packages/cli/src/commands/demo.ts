/**
 * `ocidelta demo`: the README demo, offline and without any external binary. Builds two versions
 * of a sample app image as OCI archives, builds release 1.0.0 (full images), then release 1.1.0
 * with `ocidelta app --service-file ... --previous-manifest ...` (deep deltas), and inspects both
 * artifacts with our reader.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  type Digest,
  digestOf,
  type Image,
  imageFromBlobs,
  MediaType,
  overlaySource,
  packTar,
  writeOciArchive,
} from '@ocidelta/core';
import { readArtifact } from '@ocidelta/core/mender';
import type { CAC } from 'cac';
import { buildAppArtifact } from '../app/build-app-artifact.js';
import { serializeReleaseMetadata } from '../app/release-metadata.js';
import { runCli } from '../cli.js';
import { type CliIO, type CommandDef, ExitCode } from '../command.js';
import { formatIecBytes } from '../kit/size.js';

const PLATFORM = 'linux/arm64';

/** Deterministic pseudo-random bytes (incompressible, like real binaries). */
function noise(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

async function tarOf(files: Record<string, Buffer | string>): Promise<Buffer> {
  const members = Object.keys(files)
    .sort()
    .map((name) => ({ name, mode: 0o755, mtime: 1_700_000_000, body: files[name]! }));
  const chunks: Buffer[] = [];
  for await (const chunk of packTar(members)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Build an image in memory from layer file sets (gzip layers, OCI media types); used by the demo and tests. */
export async function sampleImage(layers: Record<string, Buffer | string>[], label: string): Promise<Image> {
  const blobs = new Map<Digest, Uint8Array>();
  const descriptors = [];
  const diffIds: Digest[] = [];
  for (const files of layers) {
    const tar = await tarOf(files);
    const gz = gzipSync(tar);
    blobs.set(digestOf(gz), gz);
    diffIds.push(digestOf(tar));
    descriptors.push({ mediaType: MediaType.OciLayerGzip, digest: digestOf(gz), size: gz.length });
  }
  return imageFromBlobs(
    {
      mediaType: MediaType.OciManifest,
      configMediaType: MediaType.OciConfig,
      config: {
        architecture: 'arm64',
        os: 'linux',
        config: { Cmd: ['/app/server'], Labels: { 'org.opencontainers.image.version': label } },
        rootfs: { type: 'layers', diff_ids: diffIds },
      },
      layers: descriptors,
    },
    overlaySource(blobs),
  );
}

/** The sample images: a web app (1.0 and 1.1: new app layer) and a database (unchanged). */
async function writeSampleArchives(dir: string): Promise<Record<string, string>> {
  const base = { 'usr/lib/libbase.so': noise(3 * 1024 * 1024, 'base'), 'etc/os-release': 'ID=demo\n' };
  const runtime = { 'usr/lib/runtime.so': noise(2 * 1024 * 1024, 'runtime') };
  const server = noise(1024 * 1024, 'server');
  const appV1 = { 'app/server': server, 'app/VERSION': '1.0\n' };
  const patchedServer = Buffer.concat([
    server.subarray(0, 400_000),
    Buffer.from('fix #42'),
    server.subarray(400_007),
  ]);
  const appV2 = {
    'app/server': patchedServer,
    'app/VERSION': '1.1\n',
    'app/static/index.html': '<h1>1.1</h1>\n',
  };
  const images: [string, string, Image][] = [
    ['web-1.0.tar', 'demo.local/shop/web:1.0', await sampleImage([base, runtime, appV1], '1.0')],
    ['web-1.1.tar', 'demo.local/shop/web:1.1', await sampleImage([base, runtime, appV2], '1.1')],
    [
      'db-1.0.tar',
      'demo.local/shop/db:1.0',
      await sampleImage([base, { 'usr/bin/db': noise(1536 * 1024, 'db') }], '1.0'),
    ],
  ];
  const out: Record<string, string> = {};
  for (const [file, ref, image] of images) {
    out[file] = join(dir, file);
    await writeOciArchive(out[file]!, [{ image, ref }]);
  }
  return out;
}

async function describeArtifact(file: string, io: CliIO): Promise<void> {
  const info = await readArtifact(file);
  io.stdout.write(`\n${relative(process.cwd(), file) || file}: ${formatIecBytes(info.size)}, verified\n`);
  io.stdout.write(`  name:     ${info.headerInfo.artifact_provides.artifact_name}\n`);
  io.stdout.write(`  devices:  ${info.headerInfo.artifact_depends.device_type.join(', ')}\n`);
  io.stdout.write(`  provides: ${JSON.stringify(info.typeInfo.artifact_provides ?? {})}\n`);
  io.stdout.write(`  depends:  ${JSON.stringify(info.typeInfo.artifact_depends ?? {})}\n`);
  io.stdout.write(
    `  payloads: ${info.payloads.map((p) => `${p.name} (${formatIecBytes(p.size)})`).join(', ')}\n`,
  );
}

async function run(o: Record<string, unknown>, io: CliIO): Promise<number> {
  const dir =
    typeof o.dir === 'string' ? resolve(io.cwd, o.dir) : await mkdtemp(join(tmpdir(), 'ocidelta-demo-'));
  const project = join(dir, 'shop');
  await mkdir(project, { recursive: true });
  io.stdout.write(`demo directory: ${dir}\n\n1. building sample images (OCI archives, no network)\n`);
  const archives = await writeSampleArchives(dir);
  const compose = join(project, 'compose.yaml');
  await writeFile(
    compose,
    'services:\n  web:\n    image: demo.local/shop/web:1.0\n    ports: ["8080:8080"]\n  db:\n    image: demo.local/shop/db:1.0\n',
  );
  await writeFile(join(project, 'VERSION'), '1.0.0\n');
  const cacheDir = join(dir, 'cache');

  io.stdout.write('2. release 1.0.0: every image ships full\n');
  const v1 = await buildAppArtifact({
    composeFile: compose,
    deviceTypes: ['demo-device'],
    platform: PLATFORM,
    release: true,
    manifestName: 'shop',
    serviceFiles: { web: archives['web-1.0.tar']!, db: archives['db-1.0.tar']! },
    cacheDir,
    artifactFilename: join(dir, 'shop-1.0.0.mender'),
    cwd: dir,
    env: {},
  });
  const previous = join(dir, 'previous_artifact.json');
  await writeFile(previous, serializeReleaseMetadata(v1.metadata));
  await describeArtifact(v1.artifactFile!, io);

  await writeFile(join(project, 'VERSION'), '1.1.0\n');
  const args = [
    'app',
    'shop/compose.yaml',
    '-t',
    'demo-device',
    '-p',
    PLATFORM,
    '-m',
    'shop',
    '--release',
    '-f',
    'web',
    'web-1.1.tar',
    '-f',
    'db',
    'db-1.0.tar',
    '--previous-manifest',
    'previous_artifact.json',
    '--cache-dir',
    'cache',
    '--report',
    'report.html',
  ];
  io.stdout.write(`\n3. release 1.1.0 with deep deltas:\n$ ocidelta ${args.join(' ')}\n`);
  const code = await runCli(args, { ...io, cwd: dir, env: {} });
  if (code !== ExitCode.Ok) return code;
  const v2File = join(dir, 'shop-1.1.0.mender');
  await describeArtifact(v2File, io);
  const [s1, s2] = [(await readArtifact(v1.artifactFile!)).size, (await readArtifact(v2File)).size];
  io.stdout.write(
    `\nfull release: ${formatIecBytes(s1)}; delta release: ${formatIecBytes(s2)} (${((s2 / s1) * 100).toFixed(1)}% of full)\n`,
  );
  return ExitCode.Ok;
}

export const demoCommand: CommandDef = {
  path: ['demo'],
  summary: 'Offline demo: two versions of a sample app -> full and deep-delta app artifacts',
  define(cli: CAC, io: CliIO) {
    cli
      .command('', 'Run the demo')
      .option('--dir <dir>', 'Work in this directory (default: a new temp directory)')
      .action((o: Record<string, unknown>) => run(o, io));
  },
};
