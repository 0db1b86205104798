/**
 * Test harness: small test images written as OCI image layouts (built here with tar-stream and
 * node:zlib, independently of the code under test), and wrappers around the real `skopeo` to
 * push, copy and inspect them.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

const execFileP = promisify(execFile);

export interface TestLayerSpec {
  /** Files in the layer (path -> content). */
  files: Record<string, string | Uint8Array>;
  /** Stored compression (default gzip). */
  compression?: 'gzip' | 'none';
  /** gzip level (default 6; big fixtures use 1 for speed). */
  gzipLevel?: number;
  /** Tar the files in the record's order instead of sorted by path (content moved in the tar). */
  keepOrder?: boolean;
}

export interface TestPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface TestImageSpec {
  layers?: TestLayerSpec[];
  platform?: TestPlatform;
  /** Makes otherwise identical specs produce different images. */
  label?: string;
}

export interface BuiltBlob {
  digest: string;
  size: number;
  mediaType: string;
}

export interface BuiltImage {
  digest: string;
  size: number;
  mediaType: string;
  manifestBytes: Buffer;
  config: BuiltBlob;
  layers: BuiltBlob[];
  platform: TestPlatform;
}

export interface BuiltLayout {
  dir: string;
  tag: string;
  /** Digest of what the tag points at (the index when several images, else the image). */
  digest: string;
  mediaType: string;
  images: BuiltImage[];
  /** Every blob digest written (configs, layers, manifests, index). */
  blobs: string[];
}

const sha256 = (data: Uint8Array | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A deterministic tar of `files` (fixed mtime, sorted names). */
export async function tarFiles(
  files: Record<string, string | Uint8Array>,
  options: { keepOrder?: boolean } = {},
): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  const names = options.keepOrder ? Object.keys(files) : Object.keys(files).sort();
  for (const name of names) {
    const content = files[name] as string | Uint8Array;
    await new Promise<void>((resolve, reject) =>
      p.entry({ name, mtime: new Date(1_700_000_000_000), mode: 0o644 }, Buffer.from(content), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Deterministic pseudo-random bytes (for layers that should not compress). */
export function pseudoRandom(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

async function putBlob(dir: string, data: Uint8Array, blobs: string[]): Promise<string> {
  const digest = sha256(data);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  if (!blobs.includes(digest)) blobs.push(digest);
  return digest;
}

const DEFAULT_PLATFORM: TestPlatform = { os: 'linux', architecture: 'amd64' };

/**
 * Write an OCI layout at `dir` whose `index.json` has one entry tagged `tag`: the image when
 * one spec is given (and `index` is not forced), else an OCI index of all images.
 */
export async function buildTestLayout(
  dir: string,
  specs: TestImageSpec[],
  options: { tag?: string; index?: boolean } = {},
): Promise<BuiltLayout> {
  const tag = options.tag ?? 'latest';
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const blobs: string[] = [];
  const images: BuiltImage[] = [];
  for (const [n, spec] of specs.entries()) {
    const platform = spec.platform ?? DEFAULT_PLATFORM;
    const layerSpecs = spec.layers ?? [
      { files: { [`hello-${n}.txt`]: `hello from image ${n} ${spec.label ?? ''}\n` } },
      { files: { 'etc/release': `${platform.os}/${platform.architecture} ${spec.label ?? ''}\n` } },
    ];
    const layers: BuiltBlob[] = [];
    const diffIds: string[] = [];
    for (const l of layerSpecs) {
      const tar = await tarFiles(l.files, { keepOrder: l.keepOrder });
      diffIds.push(sha256(tar));
      const gz = (l.compression ?? 'gzip') === 'gzip';
      const stored = gz ? gzipSync(tar, { level: l.gzipLevel ?? 6 }) : tar;
      layers.push({
        digest: await putBlob(dir, stored, blobs),
        size: stored.length,
        mediaType: gz
          ? 'application/vnd.oci.image.layer.v1.tar+gzip'
          : 'application/vnd.oci.image.layer.v1.tar',
      });
    }
    const configJson = Buffer.from(
      JSON.stringify({
        created: '2024-01-01T00:00:00Z',
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        config: { Env: ['PATH=/usr/bin:/bin'], Labels: { 'test.label': spec.label ?? `image-${n}` } },
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: layerSpecs.map(() => ({
          created: '2024-01-01T00:00:00Z',
          created_by: 'ocidelta test harness',
        })),
      }),
    );
    const config: BuiltBlob = {
      digest: await putBlob(dir, configJson, blobs),
      size: configJson.length,
      mediaType: 'application/vnd.oci.image.config.v1+json',
    };
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config,
        layers,
      }),
    );
    images.push({
      digest: await putBlob(dir, manifestBytes, blobs),
      size: manifestBytes.length,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      manifestBytes,
      config,
      layers,
      platform,
    });
  }
  let top: { digest: string; size: number; mediaType: string };
  if (images.length === 1 && !options.index) {
    top = images[0] as BuiltImage;
  } else {
    const indexBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: images.map((i) => ({
          mediaType: i.mediaType,
          digest: i.digest,
          size: i.size,
          platform: i.platform,
        })),
      }),
    );
    top = {
      digest: await putBlob(dir, indexBytes, blobs),
      size: indexBytes.length,
      mediaType: 'application/vnd.oci.image.index.v1+json',
    };
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return { dir, tag, digest: top.digest, mediaType: top.mediaType, images, blobs };
}

export interface SkopeoAuth {
  /** `user:pass` */
  creds?: string;
}

/** Run skopeo with the insecure policy (tests only); returns stdout. */
export async function skopeo(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileP('skopeo', ['--insecure-policy', ...args], {
      maxBuffer: 64 * 1024 * 1024,
      encoding: 'utf8',
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

const credArgs = (prefix: 'src' | 'dest', auth?: SkopeoAuth) =>
  auth?.creds ? [`--${prefix}-creds`, auth.creds] : [`--${prefix}-no-creds`];

/** Push a layout built by buildTestLayout to `docker://<host>/<repoTag>` with the real skopeo. */
export async function skopeoPushLayout(
  layout: BuiltLayout,
  host: string,
  repoTag: string,
  auth?: SkopeoAuth,
) {
  await skopeo([
    'copy',
    '--all',
    '--preserve-digests',
    // Fixture setup, not the code under test: docker-registry 2.8 has answered a blob HEAD in a
    // fresh repository with a 500 on a loaded machine (seen once in a full run).
    '--retry-times',
    '3',
    '--dest-tls-verify=false',
    ...credArgs('dest', auth),
    `oci:${layout.dir}:${layout.tag}`,
    `docker://${host}/${repoTag}`,
  ]);
}

/**
 * `skopeo copy` any two transports (registry refs must be written as docker://...), keeping the
 * digests; with `format` (e.g. `v2s2` for Docker schema 2) the manifests are converted instead.
 */
export async function skopeoCopy(
  src: string,
  dest: string,
  options: { all?: boolean; format?: 'v2s2' | 'oci'; srcAuth?: SkopeoAuth; destAuth?: SkopeoAuth } = {},
): Promise<void> {
  const args = ['copy', ...(options.format ? ['--format', options.format] : ['--preserve-digests'])];
  if (options.all) args.push('--all');
  if (src.startsWith('docker://')) args.push('--src-tls-verify=false', ...credArgs('src', options.srcAuth));
  if (dest.startsWith('docker://'))
    args.push('--dest-tls-verify=false', ...credArgs('dest', options.destAuth));
  await skopeo([...args, src, dest]);
}

/** `skopeo inspect --raw` of a registry ref: the exact manifest bytes as served. */
export async function skopeoInspectRaw(ref: string, auth?: SkopeoAuth): Promise<string> {
  const creds = auth?.creds ? ['--creds', auth.creds] : ['--no-creds'];
  return skopeo(['inspect', '--raw', '--tls-verify=false', ...creds, `docker://${ref}`]);
}

/** `skopeo inspect` (parsed JSON: Digest, RepoTags, Layers, Architecture...). */
export async function skopeoInspect(ref: string, auth?: SkopeoAuth): Promise<Record<string, unknown>> {
  const creds = auth?.creds ? ['--creds', auth.creds] : ['--no-creds'];
  return JSON.parse(await skopeo(['inspect', '--tls-verify=false', ...creds, `docker://${ref}`])) as Record<
    string,
    unknown
  >;
}

/** `skopeo list-tags` of `host/repo`. */
export async function skopeoListTags(repo: string, auth?: SkopeoAuth): Promise<string[]> {
  const creds = auth?.creds ? ['--creds', auth.creds] : ['--no-creds'];
  const out = JSON.parse(await skopeo(['list-tags', '--tls-verify=false', ...creds, `docker://${repo}`])) as {
    Tags: string[];
  };
  return out.Tags;
}

/** sha256 digest of bytes (a string as UTF-8), computed here with node:crypto (for assertions). */
export const digestOfBytes = sha256;
