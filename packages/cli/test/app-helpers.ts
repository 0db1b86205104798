/**
 * Test helpers for the app pipeline: a device simulation that follows docs/delta.md ("Deep deltas of images") with
 * the real `tar` and `xdelta3` (untar the artifact and its payloads, rebuild each deep delta
 * with `xdelta3 -d -s <current save>/$(cat X.source) X.vcdiff X`), and comparisons with the
 * image the device should end up with.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Image, writeDockerArchive } from '@ocidelta/core';

export function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** `name -> sha256` of every regular file under `<dir>/blobs/sha256`. */
export async function blobHashes(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const blobs = join(dir, 'blobs', 'sha256');
  for (const name of (await readdir(blobs)).sort()) out.set(name, await sha256File(join(blobs, name)));
  return out;
}

export interface DeviceImage {
  id: string;
  urlNew: string;
  urlCurrent: string;
  sumNew: string;
  sumCurrent: string;
  deepDelta: boolean;
  /** The rebuilt (or full) docker-save directory, ready for `docker load` (re-tarred as `tar`). */
  dir: string;
  tar: string;
  /** Names of the .source files' contents used. */
  sources: string[];
}

export interface DeviceResult {
  images: DeviceImage[];
  manifests: string[];
  metaData: Record<string, unknown>;
}

/**
 * Do what the device does with an app artifact. `currentSave(urlCurrent)` returns the device's
 * own `docker image save <url-current>` tar for deep deltas.
 */
export async function simulateDevice(
  artifact: string,
  work: string,
  currentSave: (urlCurrent: string, sumCurrent: string) => Promise<string>,
): Promise<DeviceResult> {
  await rm(work, { recursive: true, force: true });
  const art = join(work, 'artifact');
  const files = join(work, 'files');
  const tmp = join(work, 'tmp');
  for (const d of [art, files, tmp]) await mkdir(d, { recursive: true });
  run('tar', ['-xf', artifact, '-C', art]);
  const dataTar = (await readdir(join(art, 'data'))).find((n) => n.startsWith('0000.tar'))!;
  run('tar', ['-xf', join(art, 'data', dataTar), '-C', files]);
  run('tar', ['-xf', join(art, (await readdir(art)).find((n) => n.startsWith('header.tar'))!), '-C', art]);
  const metaData = JSON.parse(await readFile(join(art, 'headers', '0000', 'meta-data'), 'utf8')) as Record<
    string,
    unknown
  >;
  run('tar', ['-xzf', join(files, 'images.tar.gz'), '-C', tmp]);
  run('tar', ['-xzf', join(files, 'manifests.tar.gz'), '-C', tmp]);
  const images: DeviceImage[] = [];
  for (const id of (await readdir(join(tmp, 'images'))).sort()) {
    const d = join(tmp, 'images', id);
    const read = (n: string) => readFile(join(d, n), 'utf8').then((s) => s.trim());
    const img: DeviceImage = {
      id,
      urlNew: await read('url-new.txt'),
      urlCurrent: await read('url-current.txt'),
      sumNew: await read('sums-new.txt'),
      sumCurrent: await read('sums-current.txt'),
      deepDelta: existsSync(join(d, 'deep_delta')),
      dir: join(d, 'image'),
      tar: join(d, 'image.tar'),
      sources: [],
    };
    await mkdir(img.dir);
    run('tar', ['-xf', join(d, 'image.img'), '-C', img.dir]);
    if (img.deepDelta) {
      const cur = join(d, 'current');
      await mkdir(cur);
      run('tar', ['-xf', await currentSave(img.urlCurrent, img.sumCurrent), '-C', cur]);
      const blobs = join(img.dir, 'blobs', 'sha256');
      for (const name of await readdir(blobs)) {
        if (!name.endsWith('.vcdiff')) continue;
        const base = name.slice(0, -'.vcdiff'.length);
        const source = (await readFile(join(blobs, `${base}.source`), 'utf8')).trim();
        img.sources.push(source);
        // Exactly as the device runs it: stock xdelta3, no -D.
        run('xdelta3', ['-d', '-s', join(cur, source), join(blobs, name), join(blobs, base)]);
        await rm(join(blobs, name));
        await rm(join(blobs, `${base}.source`));
      }
    }
    run('tar', ['-cf', img.tar, '-C', img.dir, '.']);
    images.push(img);
  }
  return { images, manifests: await readdir(join(tmp, 'manifests')), metaData };
}

/** The docker-save directory the device should hold for `image` (uncompressed layers). */
export async function expectedSave(image: Image, dir: string, tags: string[] = []): Promise<string> {
  await mkdir(dir, { recursive: true });
  const tar = join(dir, 'expected.tar');
  await writeDockerArchive(tar, [{ image, repoTags: tags }], { layers: 'uncompressed' });
  const out = join(dir, 'expected');
  await mkdir(out);
  run('tar', ['-xf', tar, '-C', out]);
  return out;
}

/** The device's own `docker save` of a current image: classic exports uncompressed layers; containerd what it pulled. */
export async function deviceSave(
  image: Image,
  file: string,
  store: 'classic' | 'containerd-registry' | 'containerd-artifact',
  tags: string[] = [],
): Promise<string> {
  await writeDockerArchive(file, [{ image, repoTags: tags }], {
    layers: store === 'containerd-registry' ? 'stored' : 'uncompressed',
  });
  return file;
}

/**
 * Write `<root>/<name>/VERSION` and a `docker-compose.yml` whose services use `services[svc]`
 * (an image reference); returns the compose file's path.
 */
export async function writeComposeProject(
  root: string,
  name: string,
  version: string,
  services: Record<string, string>,
): Promise<string> {
  const p = join(root, name);
  await mkdir(p, { recursive: true });
  await writeFile(join(p, 'VERSION'), `${version}\n`);
  const lines = ['services:'];
  for (const [svc, image] of Object.entries(services)) lines.push(`  ${svc}:`, `    image: ${image}`);
  await writeFile(join(p, 'docker-compose.yml'), `${lines.join('\n')}\n`);
  return join(p, 'docker-compose.yml');
}
