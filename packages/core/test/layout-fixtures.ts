/**
 * Test fixtures for layout/archive tests: small images with real tar layers (tar-stream), gzip
 * (node:zlib) or uncompressed, OCI or Docker media types, served from memory as core `Image`s.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import { expect } from 'vitest';
import {
  type BlobSource,
  digestOf,
  type Image,
  isOciDeltaError,
  loadImage,
  MediaType,
  OciDeltaError,
} from '../src/index.js';

export interface FileSpec {
  path: string;
  content: string | Buffer;
}

/** An uncompressed layer tar of small files with fixed mtimes. */
export async function tarOf(files: FileSpec[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  for (const f of files) {
    p.entry({ name: f.path, mode: 0o644, mtime: new Date(1_700_000_000_000) }, Buffer.from(f.content));
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A BlobSource over an in-memory map of blobs. */
export class MemorySource implements BlobSource {
  readonly blobs = new Map<string, Buffer>();
  put(data: Buffer): { digest: `sha256:${string}`; size: number } {
    const digest = digestOf(data) as `sha256:${string}`;
    this.blobs.set(digest, data);
    return { digest, size: data.length };
  }
  async openBlob(d: { digest: string }): Promise<Readable> {
    const b = this.blobs.get(d.digest);
    if (!b) throw new OciDeltaError('ERR_BLOB_UNKNOWN', `memory: no blob ${d.digest}`);
    return Readable.from([b]);
  }
}

export interface BuildOptions {
  layers: FileSpec[][];
  compression?: 'gzip' | 'none';
  flavor?: 'oci' | 'docker';
  seed?: string;
}

/** Build an image in memory; returns it with its source and the raw layer tars. */
export async function buildImage(
  options: BuildOptions,
): Promise<{ image: Image; source: MemorySource; tars: Buffer[] }> {
  const source = new MemorySource();
  const docker = options.flavor === 'docker';
  const gzip = (options.compression ?? 'gzip') === 'gzip';
  const tars: Buffer[] = [];
  const layers = [];
  for (const files of options.layers) {
    const tar = await tarOf(files);
    tars.push(tar);
    const stored = gzip ? gzipSync(tar) : tar;
    const { digest, size } = source.put(stored);
    const mediaType = docker
      ? gzip
        ? MediaType.DockerLayerGzip
        : MediaType.DockerLayer
      : gzip
        ? MediaType.OciLayerGzip
        : MediaType.OciLayer;
    layers.push({ mediaType, digest, size });
  }
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'], Labels: { seed: options.seed ?? 'x' } },
    rootfs: { type: 'layers', diff_ids: tars.map((t) => digestOf(t)) },
    history: tars.map(() => ({ created_by: 'test' })),
  };
  const cfg = source.put(Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: docker ? MediaType.DockerManifest : MediaType.OciManifest,
    config: { mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig, ...cfg },
    layers,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  source.put(manifestBytes);
  const image = await loadImage(source, manifestBytes);
  return { image, source, tars };
}

/** Read a stream fully. */
export async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Assert that `p` rejects with an OciDeltaError of `code` whose message mentions `mentions`. */
export async function expectCode(p: Promise<unknown>, code: string, mentions?: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isOciDeltaError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  if (mentions) expect((err as Error).message).toContain(mentions);
}

/** Entries of a tar as read by an independent reader (tar-stream). */
export async function listTar(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      collect(stream).then((b) => {
        out.set(header.name, b);
        next();
      }, reject);
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
  });
  ex.end(await readFile(file));
  await done;
  return out;
}

/** Write a tar by hand with tar-stream (for hostile or foreign archives). */
export async function handTar(
  file: string,
  entries: { name: string; data?: string | Buffer; type?: 'symlink'; linkname?: string }[],
): Promise<void> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) {
    if (e.type === 'symlink') p.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else p.entry({ name: e.name }, Buffer.from(e.data ?? ''));
  }
  p.finalize();
  await done;
  await writeFile(file, Buffer.concat(chunks));
}

/** A two-layer gzip OCI image with a few small files. */
export const twoLayers = () =>
  buildImage({
    layers: [
      [
        { path: 'etc/os-release', content: 'ID=test\n' },
        { path: 'bin/tool', content: Buffer.alloc(3000, 7) },
      ],
      [{ path: 'app/main.js', content: 'console.log(1)\n' }],
    ],
  });
