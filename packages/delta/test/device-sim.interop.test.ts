/**
 * Device simulation (docs/delta.md, "Deep deltas of images"): the app update module's deep-delta steps with the real
 * `tar` and the real stock `xdelta3 -d -s` (no -D), on our image.img and a current image archive
 * as each device store's `docker save` writes it; the rebuilt archive is checked with skopeo and
 * umoci and core. The shell steps mirror the docker-compose sub-module: unpack both archives, for each
 * `<new dir>/*\/*\/*.vcdiff` run `xdelta3 -d -s <cur dir>/$(cat X.source) X.vcdiff X`, re-tar
 * the new dir (the module leaves the .vcdiff/.source files in place).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobEntryName, OciLayout, readDockerArchive, writeDockerArchive } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { buildDeepDelta, type CurrentOrigin, type DeviceStore } from '../src/deep/index.js';
import { runDevice } from './device-steps.js';
import {
  type AppImages,
  appFiles,
  appImages,
  type BuiltImage,
  baseFiles,
  buildImage,
} from './fixtures/images.js';

function sha256File(file: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;
}

let root: string;
let imgs: AppImages;
let three: BuiltImage;

describe.skipIf(!haveBinaries('xdelta3', 'tar', 'skopeo', 'umoci', 'gzip'))(
  'device simulation with stock xdelta3',
  () => {
    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'ocidelta-device-'));
      imgs = await appImages(join(root, 'images'));
      three = await buildImage(join(root, 'three'), {
        tag: 'v3',
        layers: [baseFiles(), appFiles(2), appFiles(3).slice(-2)],
      });
    });

    afterAll(async () => {
      await rm(root, { recursive: true, force: true });
    });

    const modes: {
      name: string;
      store: DeviceStore;
      origin: CurrentOrigin;
      layers: 'uncompressed' | 'stored';
    }[] = [
      // Classic store: docker save exports uncompressed layers named by diff_id.
      { name: 'classic', store: 'classic', origin: 'registry', layers: 'uncompressed' },
      // containerd store, image pulled from a registry: the compressed blobs as pulled.
      { name: 'containerd, pulled', store: 'containerd', origin: 'registry', layers: 'stored' },
      // containerd store, image loaded from one of our artifacts: uncompressed blobs by diff_id.
      { name: 'containerd, from artifact', store: 'containerd', origin: 'artifact', layers: 'uncompressed' },
    ];

    for (const mode of modes) {
      for (const target of ['v2', 'v3 (extra layer)'] as const) {
        it(`rebuilds ${target} on a ${mode.name} device`, async () => {
          const next = target === 'v2' ? imgs.v2.image : three.image;
          const dir = await mkdtemp(join(root, 'dev-'));
          await writeDockerArchive(
            join(dir, 'current.tar'),
            [{ image: imgs.v1.image, repoTags: ['app:v1'] }],
            {
              layers: mode.layers,
            },
          );
          await buildDeepDelta(imgs.v1.image, next, join(dir, 'image.img'), {
            deviceStore: mode.store,
            currentOrigin: mode.origin,
            repoTags: ['app:new'],
          });
          const run = runDevice(dir);
          expect(run.output).not.toContain('checksum mismatch');
          expect(run.status, run.output).toBe(0);

          // Every rebuilt layer file hashes to the new image's diff_id.
          for (const diffId of next.config.rootfs.diff_ids) {
            expect(sha256File(join(dir, 'new', blobEntryName(diffId)))).toBe(diffId);
          }
          const archive = `docker-archive:${join(dir, 'rebuilt.tar')}`;
          const inspect = JSON.parse(execFileSync('skopeo', ['inspect', archive], { encoding: 'utf8' }));
          expect(inspect.Layers).toEqual(next.config.rootfs.diff_ids);
          const raw = JSON.parse(
            execFileSync('skopeo', ['inspect', '--config', archive], { encoding: 'utf8' }),
          );
          expect(raw.rootfs.diff_ids).toEqual(next.config.rootfs.diff_ids);
          // skopeo copy reads every layer and checks it against the config.
          execFileSync('skopeo', ['copy', '--quiet', archive, `oci:${join(dir, 'oci')}:app`], {
            stdio: 'pipe',
          });
          expect((await readdir(join(dir, 'oci', 'blobs', 'sha256'))).length).toBeGreaterThan(
            next.layers.length,
          );
          // The unpacked dir is also the OCI layout containerd's `docker load` reads (index.json ->
          // manifest -> blobs): umoci unpacks it, checking every blob against the manifest, and core
          // resolves it to the new config with layers named by diff_id.
          execFileSync(
            'umoci',
            ['unpack', '--rootless', '--image', `${join(dir, 'new')}:new`, join(dir, 'bundle')],
            {
              stdio: 'pipe',
            },
          );
          expect(readFileSync(join(dir, 'bundle', 'rootfs', 'app', 'package.json'), 'utf8')).toContain(
            '"version":"',
          );
          const layout = await (await OciLayout.open(join(dir, 'new'))).image({ ref: 'new' });
          expect(layout.configDigest).toBe(next.configDigest);
          expect(layout.layers.map((l) => l.digest)).toEqual(next.config.rootfs.diff_ids);
          // Core reads the re-tarred archive (`./`-prefixed names, .vcdiff/.source left in) too.
          const rebuilt = await readDockerArchive(join(dir, 'rebuilt.tar'));
          expect(rebuilt.entries[0]!.image.configDigest).toBe(next.configDigest);
          expect(rebuilt.entries[0]!.image.layers.map((l) => l.digest)).toEqual(next.config.rootfs.diff_ids);
        });
      }
    }

    it('rebuilds an unchanged image from self-deltas of a few bytes', async () => {
      const dir = await mkdtemp(join(root, 'dev-same-'));
      await writeDockerArchive(join(dir, 'current.tar'), [{ image: imgs.v2.image, repoTags: ['app:v2'] }], {
        layers: 'stored',
      });
      const result = await buildDeepDelta(imgs.v2.image, imgs.v2.image, join(dir, 'image.img'), {
        deviceStore: 'containerd',
      });
      expect(result.layers.every((l) => l.unchanged && l.deltaSize < 256)).toBe(true);
      const run = runDevice(dir);
      expect(run.status, run.output).toBe(0);
      for (const diffId of imgs.v2.image.config.rootfs.diff_ids) {
        expect(sha256File(join(dir, 'new', blobEntryName(diffId)))).toBe(diffId);
      }
    });

    it('fails on the device when the store mode does not match (the modes really differ)', async () => {
      const dir = await mkdtemp(join(root, 'dev-wrong-'));
      await writeDockerArchive(join(dir, 'current.tar'), [{ image: imgs.v1.image, repoTags: ['app:v1'] }], {
        layers: 'stored',
      });
      await buildDeepDelta(imgs.v1.image, imgs.v2.image, join(dir, 'image.img'), { deviceStore: 'classic' });
      expect(runDevice(dir).status).not.toBe(0);
    });
  },
);
