// `ocidelta delta image` with registry references: both images are pushed to the real
// docker-registry with skopeo, then read back through @ocidelta/registry.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDockerArchive, writeDockerArchive } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { type AppImages, appImages } from '../../delta/test/fixtures/images.js';
import { type RunningRegistry, skopeoCopy, startRegistry } from '../../registry/test/harness/index.js';
import { runCli } from '../src/index.js';
import { captureIO } from './support.js';

describe.skipIf(!haveBinaries('docker-registry', 'skopeo'))('ocidelta delta image from a registry', () => {
  let reg: RunningRegistry;
  let root: string;
  let imgs: AppImages;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ocidelta-cli-delta-reg-'));
    imgs = await appImages(join(root, 'images'));
    reg = await startRegistry();
    await skopeoCopy(`oci:${imgs.v1.dir}:v1`, `docker://${reg.host}/app:v1`);
    await skopeoCopy(`oci:${imgs.v2.dir}:v2`, `docker://${reg.host}/app:v2`);
  });

  afterAll(async () => {
    await reg?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('builds a containerd deep delta naming the pulled compressed blobs, and it applies', async () => {
    const io = captureIO({ cwd: root });
    const code = await runCli(
      [
        'delta',
        'image',
        '--current',
        `${reg.host}/app:v1`,
        '--new',
        `${reg.host}/app:v2`,
        '-o',
        'image.img',
        '--device-store',
        'containerd',
        '--insecure',
        '--json',
      ],
      io,
    );
    expect(code, io.err()).toBe(0);
    const result = JSON.parse(io.out());
    expect(result.layers.map((l: { sourcePath: string }) => l.sourcePath)).toEqual(
      imgs.v1.image.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`),
    );
    // The device (containerd store, pulled v1) saves the compressed blobs as pulled.
    const current = join(root, 'current.tar');
    await writeDockerArchive(current, [{ image: imgs.v1.image, repoTags: ['app:v1'] }], { layers: 'stored' });
    const apply = captureIO({ cwd: root });
    expect(
      await runCli(['delta', 'apply', '--current', current, '--delta', 'image.img', '-o', 'new.tar'], apply),
    ).toBe(0);
    const rebuilt = await readDockerArchive(join(root, 'new.tar'));
    expect(rebuilt.entries[0]!.image.configDigest).toBe(imgs.v2.image.configDigest);
  });
});
