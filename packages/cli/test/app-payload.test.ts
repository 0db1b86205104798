import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { appMetaData, writeImagesTarGz, writeManifestsTarGz } from '../src/app/app-payload.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-payload-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('app meta-data', () => {
  it('has the fields the device requires, sorted unique image ids', () => {
    expect(appMetaData('shop', 'linux/arm64', [B, A, B])).toEqual({
      application_name: 'shop',
      orchestrator: 'docker-compose',
      platform: 'linux/arm64',
      version: '1',
      images: [A, B],
    });
  });
});

describe.skipIf(!haveBinaries('tar'))('payload tars as the device unpacks them (tar -xzf)', () => {
  it('writes images.tar.gz with one directory per image and manifests.tar.gz', async () => {
    const imgA = join(dir, 'a.img');
    const imgB = join(dir, 'b.img');
    await writeFile(imgA, Buffer.alloc(300_000, 7));
    await writeFile(imgB, 'delta-bytes');
    const images = join(dir, 'images.tar.gz');
    const seen: number[] = [];
    await writeImagesTarGz(
      images,
      [
        {
          urlNew: 'r/b:2',
          urlCurrent: 'r/b:1',
          sumNew: `sha256:${B}` as const,
          sumCurrent: `sha256:${A}` as const,
          imageFile: imgB,
          deepDelta: true,
        },
        {
          urlNew: 'r/a:1',
          urlCurrent: 'r/a:1',
          sumNew: `sha256:${A}` as const,
          sumCurrent: `sha256:${A}` as const,
          imageFile: imgA,
          deepDelta: false,
        },
      ],
      { onProgress: (_id, done) => seen.push(done) },
    );
    expect(seen.at(-1)).toBeGreaterThan(0);
    const out = join(dir, 'unpacked');
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-xzf', images, '-C', out]);
    expect((await readdir(join(out, 'images'))).sort()).toEqual([A, B]);
    expect((await readdir(join(out, 'images', B))).sort()).toEqual([
      'deep_delta',
      'image.img',
      'sums-current.txt',
      'sums-new.txt',
      'url-current.txt',
      'url-new.txt',
    ]);
    expect(await readdir(join(out, 'images', A))).not.toContain('deep_delta');
    expect(await readFile(join(out, 'images', B, 'url-current.txt'), 'utf8')).toBe('r/b:1');
    expect(await readFile(join(out, 'images', B, 'sums-current.txt'), 'utf8')).toBe(A);
    expect(await readFile(join(out, 'images', B, 'image.img'), 'utf8')).toBe('delta-bytes');
    expect((await readFile(join(out, 'images', A, 'image.img'))).equals(Buffer.alloc(300_000, 7))).toBe(true);

    const manifests = join(dir, 'manifests.tar.gz');
    await writeManifestsTarGz(manifests, [{ name: 'docker-compose.yml', data: 'services: {}\n' }]);
    const list = execFileSync('tar', ['-tzf', manifests], { encoding: 'utf8' }).trim().split('\n');
    expect(list).toEqual(['manifests/', 'manifests/docker-compose.yml']);
    // No temp files left beside the outputs.
    expect((await readdir(dir)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('rejects a digest that is not sha256 (the device names and checks images by its hex)', async () => {
    const target = join(dir, 'bad-digest.tar.gz');
    await expect(
      writeImagesTarGz(target, [
        {
          urlNew: 'x',
          urlCurrent: 'x',
          sumNew: `sha512:${A}`,
          sumCurrent: `sha256:${A}`,
          imageFile: join(dir, 'nope'),
          deepDelta: false,
        },
      ]),
    ).rejects.toThrow(/invalid image digest "sha512:a+" \(sha256 expected\)/);
    expect(await readdir(dir)).not.toContain('bad-digest.tar.gz');
  });

  it('leaves nothing behind when an image file is missing', async () => {
    const target = join(dir, 'broken.tar.gz');
    await expect(
      writeImagesTarGz(target, [
        {
          urlNew: 'x',
          urlCurrent: 'x',
          sumNew: `sha256:${A}` as const,
          sumCurrent: `sha256:${A}` as const,
          imageFile: join(dir, 'nope'),
          deepDelta: false,
        },
      ]),
    ).rejects.toThrow();
    const names = await readdir(dir);
    expect(names).not.toContain('broken.tar.gz');
    expect(names.filter((n) => n.includes('broken'))).toEqual([]);
  });
});
