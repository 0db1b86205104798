import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDockerArchive, writeDockerArchive } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppImages,
  appFiles,
  appImages,
  baseFiles,
  buildImage,
} from '../../delta/test/fixtures/images.js';
import { runCli } from '../src/index.js';
import { captureIO } from './support.js';

let root: string;
let imgs: AppImages;
let v1tar: string;
let v2tar: string;
let v1stored: string;
let threeDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ocidelta-cli-delta-'));
  imgs = await appImages(join(root, 'images'));
  v1tar = join(root, 'v1.tar');
  v2tar = join(root, 'v2.tar');
  v1stored = join(root, 'v1-stored.tar');
  await writeDockerArchive(v1tar, [{ image: imgs.v1.image, repoTags: ['app:v1'] }], {
    layers: 'uncompressed',
  });
  await writeDockerArchive(v1stored, [{ image: imgs.v1.image, repoTags: ['app:v1'] }], { layers: 'stored' });
  await writeDockerArchive(v2tar, [{ image: imgs.v2.image, repoTags: ['app:v2'] }], { layers: 'stored' });
  threeDir = (
    await buildImage(join(root, 'three'), {
      tag: 'v3',
      layers: [baseFiles(), appFiles(2), appFiles(3).slice(-2)],
    })
  ).dir;
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ocidelta delta image / delta apply', () => {
  for (const store of ['classic', 'containerd'] as const) {
    it(`builds a deep delta from archives and applies it back (${store})`, async () => {
      const io = captureIO({ cwd: root });
      const img = `image-${store}.img`;
      const code = await runCli(
        [
          'delta',
          'image',
          '--current',
          'v1-stored.tar',
          '--new',
          'v2.tar',
          '-o',
          img,
          '--device-store',
          store,
          '--json',
        ],
        io,
      );
      expect(code, io.err()).toBe(0);
      const result = JSON.parse(io.out());
      expect(result.deviceStore).toBe(store);
      expect(result.layers.map((l: { diffId: string }) => l.diffId)).toEqual(
        imgs.v2.image.config.rootfs.diff_ids,
      );
      expect(result.layers[1].sourcePath).toBe(
        `blobs/sha256/${(store === 'classic' ? imgs.v1.image.layers[1]!.diffId : imgs.v1.image.layers[1]!.digest).slice(7)}`,
      );

      // The device's own `docker save`: uncompressed by diff_id (classic), the pulled blobs (containerd).
      const apply = captureIO({ cwd: root });
      const current = store === 'classic' ? 'v1.tar' : 'v1-stored.tar';
      const out = `new-${store}.tar`;
      expect(
        await runCli(['delta', 'apply', '--current', current, '--delta', img, '-o', out], apply),
        apply.err(),
      ).toBe(0);
      expect(apply.out()).toContain(out);
      const rebuilt = await readDockerArchive(join(root, out));
      expect(rebuilt.entries[0]!.image.configDigest).toBe(imgs.v2.image.configDigest);
      expect(rebuilt.entries[0]!.image.layers.map((l) => l.digest)).toEqual(
        imgs.v2.image.config.rootfs.diff_ids,
      );
    });
  }

  it('-o - streams the same image.img to stdout (summary on stderr, no file, no temp left)', async () => {
    const file = captureIO({ cwd: root });
    const args = ['delta', 'image', '--current', 'v1-stored.tar', '--new', 'v2.tar'];
    expect(await runCli([...args, '-o', 'file.img'], file), file.err()).toBe(0);
    const tmpDir = join(root, 'stdout-tmp');
    await mkdir(tmpDir);
    const piped = captureIO({ cwd: root });
    expect(await runCli([...args, '-o', '-', '--tmp-dir', tmpDir], piped), piped.err()).toBe(0);
    expect(piped.raw().equals(await readFile(join(root, 'file.img')))).toBe(true);
    expect(piped.err()).toMatch(/wrote .*image\.img \(/);
    expect(await readdir(tmpDir)).toEqual([]);
    expect(existsSync(join(root, '-'))).toBe(false);
    const json = captureIO({ cwd: root });
    expect(await runCli([...args, '-o', '-', '--json'], json)).toBe(1);
    expect(json.err()).toContain('leave out --json');
  });

  it('accepts OCI layout directories (oci:DIR or ./DIR) and prints a per-layer summary', async () => {
    const io = captureIO({ cwd: root });
    const code = await runCli(
      ['delta', 'image', '--current', 'oci:images/v1', '--new', './images/v2', '-o', 'dir.img'],
      io,
    );
    expect(code, io.err()).toBe(0);
    expect(io.out()).toContain('layer 0');
    expect(io.out()).toContain('unchanged');
    expect(existsSync(join(root, 'dir.img'))).toBe(true);
    // skopeo's archive transports too, and the same delta from them
    const named = captureIO({ cwd: root });
    expect(
      await runCli(
        ['delta', 'image', '--current', 'docker-archive:v1.tar', '--new', 'oci:images/v2', '-o', 'arch.img'],
        named,
      ),
      named.err(),
    ).toBe(0);
  });

  it('decides local or registry from the text: a mistyped path is "no such file", never a registry lookup', async () => {
    for (const typo of ['./images/v9', 'v9.tar', '/nonexistent/layout']) {
      const io = captureIO({ cwd: root });
      expect(await runCli(['delta', 'image', '--current', typo, '--new', 'v2.tar', '-o', 't.img'], io)).toBe(
        2,
      );
      expect(io.err()).toMatch(/--current .*: no such file or directory/);
    }
    const io = captureIO({ cwd: root });
    expect(await runCli(['inspect', 'oci:images/v1'], io)).toBe(2);
    expect(io.err()).toContain(
      '"oci:images/v1" names a local image (oci), but this reference must be in a registry',
    );
  });

  it('exits 1 on a missing option or an unknown device store', async () => {
    const missing = captureIO({ cwd: root });
    expect(await runCli(['delta', 'image', '--current', 'v1.tar', '-o', 'x.img'], missing)).toBe(1);
    expect(missing.err()).toContain('--new is required');
    const bad = captureIO({ cwd: root });
    expect(
      await runCli(
        ['delta', 'image', '--current', 'v1.tar', '--new', 'v2.tar', '-o', 'x.img', '--device-store', 'zfs'],
        bad,
      ),
    ).toBe(1);
    expect(bad.err()).toContain('--device-store must be one of classic, containerd');
  });

  it('exits 2 with ERR_NO_DEEP_DELTA when the current image has more layers', async () => {
    const io = captureIO({ cwd: root });
    const code = await runCli(
      ['delta', 'image', '--current', threeDir, '--new', 'v2.tar', '-o', 'no.img'],
      io,
    );
    expect(code).toBe(2);
    expect(io.err()).toContain('ERR_NO_DEEP_DELTA');
    expect(existsSync(join(root, 'no.img'))).toBe(false);
  });

  it('exits 2 naming a missing input file', async () => {
    const io = captureIO({ cwd: root });
    expect(
      await runCli(['delta', 'apply', '--current', 'nope.tar', '--delta', 'x.img', '-o', 'y.tar'], io),
    ).toBe(2);
    expect(io.err()).toContain('nope.tar');
    // A file-looking input that does not exist is not looked up in a registry.
    const img = captureIO({ cwd: root });
    expect(
      await runCli(['delta', 'image', '--current', 'nope.tar', '--new', 'v2.tar', '-o', 'y.img'], img),
    ).toBe(2);
    expect(img.err()).toMatch(/--current nope\.tar: \S*nope\.tar: no such file or directory/);
  });
});
