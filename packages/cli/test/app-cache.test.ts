import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Digest, digestOf, OciLayout } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppCache, type DeltaInfo } from '../src/app/cache.js';
import { sampleImage } from '../src/commands/demo.js';
import { parseByteSize } from '../src/kit/size.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-cache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const D1 = digestOf('one') as Digest;
const D2 = digestOf('two') as Digest;

describe('AppCache', () => {
  it('parses sizes by one rule: MB is 1000^2, MiB and M are 1024^2', () => {
    expect(parseByteSize('500M')).toBe(500 * 1024 * 1024);
    expect(parseByteSize('500MB')).toBe(500_000_000);
    expect(parseByteSize('500mb')).toBe(500_000_000);
    expect(parseByteSize('64MiB')).toBe(64 * 1024 ** 2);
    expect(parseByteSize('64Mi')).toBe(64 * 1024 ** 2);
    expect(parseByteSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize('2kB')).toBe(2000);
    expect(parseByteSize('2K')).toBe(2048);
    expect(parseByteSize('1TB')).toBe(1e12);
    expect(parseByteSize('123')).toBe(123);
    expect(parseByteSize('123B')).toBe(123);
    for (const bad of ['ten', '5i', '5PB', '-1M', '1e3', '']) {
      expect(() => parseByteSize(bad, '--max-size')).toThrowError(
        new RegExp(`--max-size: invalid size "${bad}"`),
      );
    }
  });

  it('stores an image content-addressed and serves it back verified, as an OCI layout', async () => {
    const cache = await AppCache.open(join(dir, 'c1'));
    const image = await sampleImage([{ 'a.bin': randomBytes(10_000) }, { 'b.txt': 'hello' }], 'x');
    expect(await cache.image(image.digest)).toBeUndefined();
    const progress: number[] = [];
    const cached = await cache.add(image, {
      ref: 'demo.local/x:1',
      onProgress: (p) => progress.push(p.done),
    });
    expect(cached.digest).toBe(image.digest);
    expect(cached.layers.map((l) => l.diffId)).toEqual(image.layers.map((l) => l.diffId));
    expect(progress.length).toBeGreaterThan(0);
    // A second cache object (another process) sees it, and its blobs verify.
    const again = await (await AppCache.open(join(dir, 'c1'))).image(image.digest);
    expect(again).toBeDefined();
    const chunks: Buffer[] = [];
    for await (const c of await again!.layers[0]!.uncompressed()) chunks.push(c as Buffer);
    expect(digestOf(Buffer.concat(chunks))).toBe(image.layers[0]!.diffId);
    const layout = await OciLayout.open(join(dir, 'c1', 'oci'));
    const index = await layout.readIndex();
    expect(index.manifests.map((m) => m.digest)).toContain(image.digest);
    // An image with a missing layer blob is not served.
    await rm(layout.blobPath(image.layers[1]!.digest));
    expect(await cache.image(image.digest)).toBeUndefined();
  });

  it('fetches a blob two images share once when both are added at once, and alone when the other fetch fails', async () => {
    const shared = randomBytes(50_000);
    const one = await sampleImage([{ 'a.bin': shared }, { 'b.txt': 'one' }], 'x');
    const two = await sampleImage([{ 'a.bin': shared }, { 'b.txt': 'two' }], 'y');
    const common = one.layers[0]!.digest;
    expect(two.layers[0]!.digest).toBe(common);
    const opened: string[] = [];
    const counting = (image: typeof one, fail?: string): typeof one => ({
      ...image,
      source: {
        openBlob: async (d, o) => {
          opened.push(d.digest);
          if (d.digest === fail) throw new Error(`blob ${d.digest} unavailable`);
          return image.source.openBlob(d, o);
        },
      },
    });
    const cache = await AppCache.open(join(dir, 'shared'));
    const [a, b] = await Promise.all([cache.add(counting(one)), cache.add(counting(two))]);
    expect(a.digest).toBe(one.digest);
    expect(b.digest).toBe(two.digest);
    expect(opened.filter((d) => d === common)).toHaveLength(1);

    // The first image's fetch of the shared blob fails: the second fetches it itself.
    opened.length = 0;
    const other = await AppCache.open(join(dir, 'shared-fail'));
    const [failed, ok] = await Promise.allSettled([
      other.add(counting(one, common)),
      other.add(counting(two)),
    ]);
    expect(failed.status).toBe('rejected');
    expect(ok.status).toBe('fulfilled');
    expect((await other.image(two.digest))?.layers[0]?.digest).toBe(common);
  });

  it('refuses a blob whose bytes are not its digest or size, and keeps nothing of it', async () => {
    const image = await sampleImage([{ 'a.bin': randomBytes(20_000) }], 'x');
    const layer = image.layers[0]!.digest;
    const serving = (bytes: (real: Buffer) => Buffer): typeof image => ({
      ...image,
      source: {
        openBlob: async (d, o) => {
          const chunks: Buffer[] = [];
          for await (const c of await image.source.openBlob(d, o)) chunks.push(c as Buffer);
          const real = Buffer.concat(chunks);
          const { Readable } = await import('node:stream');
          return Readable.from([d.digest === layer ? bytes(real) : real]);
        },
      },
    });
    const cache = await AppCache.open(join(dir, 'tampered'));
    const flipped = (real: Buffer) => {
      const b = Buffer.from(real);
      b[b.length >> 1] = b[b.length >> 1]! ^ 1;
      return b;
    };
    const cases = [
      ['ERR_DIGEST_MISMATCH', flipped],
      ['ERR_SIZE_MISMATCH', (real: Buffer) => Buffer.concat([real, Buffer.from('more')])],
    ] as const;
    for (const [code, bytes] of cases) {
      await expect(cache.add(serving(bytes))).rejects.toMatchObject({ code });
      const layout = await OciLayout.open(join(dir, 'tampered', 'oci'));
      expect(await layout.hasBlob(layer)).toBe(false);
      const files = await readdir(join(dir, 'tampered', 'oci', 'blobs', 'sha256'));
      expect(files.filter((f) => f !== image.manifest.config.digest.slice(7))).toEqual([]);
    }
    // The real bytes are stored.
    expect((await cache.add(image)).layers[0]!.digest).toBe(layer);
  });

  it('keeps deltas by (from, to, store, delivery, platform, device -B) and release records', async () => {
    const cache = await AppCache.open(join(dir, 'c2'));
    const key = {
      from: D1,
      to: D2,
      deviceStore: 'classic' as const,
      delivery: 'registry' as const,
      platform: 'linux/amd64',
      sourceWindow: 64 * 1024 * 1024,
    };
    expect(await cache.delta(key)).toBeUndefined();
    const file = join(dir, 'delta.img');
    await writeFile(file, 'delta');
    const info: DeltaInfo = { ...key, fromRef: 'r/a:1', toRef: 'r/a:2', size: 5, createdAt: 'now' };
    const stored = await cache.putDelta(info, file);
    expect(await cache.delta(key)).toBe(stored);
    expect(await readFile(stored, 'utf8')).toBe('delta');
    expect(await cache.delta({ ...key, deviceStore: 'containerd' })).toBeUndefined();
    expect(await cache.delta({ ...key, delivery: 'artifact' })).toBeUndefined();
    expect(await cache.delta({ ...key, platform: 'linux/arm64' })).toBeUndefined();
    expect(await cache.delta({ ...key, sourceWindow: 128 * 1024 * 1024 })).toBeUndefined();
    // The archive carries the image names: another name is another delta.
    expect(await cache.delta({ ...key, repoTags: ['r/a:2-renamed'] })).toBeUndefined();
    const list = await cache.list();
    expect(list.find((e) => e.kind === 'delta')?.label).toBe('r/a:1 -> r/a:2 (classic, registry)');

    await cache.writePrevious({
      format: 'ocidelta-app-release',
      formatVersion: 1,
      softwareName: 'shop',
      artifactName: 'shop-1',
      version: '1',
      platform: 'linux/arm64',
      deviceStore: 'classic',
      createdAt: 'now',
      services: { web: { image: { ref: 'r/web:1', hash: D1, delivery: 'artifact' } } },
    });
    expect((await cache.readPrevious('shop'))?.services.web?.image.hash).toBe(D1);
    expect(await cache.readPrevious('other')).toBeUndefined();
  });

  it('prunes least recently used first down to the limit, keeping release records', async () => {
    const root = join(dir, 'c3');
    const cache = await AppCache.open(root);
    const olds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const data = randomBytes(1000);
      const { digest } = await cache.layout.writeBlob(data);
      const path = cache.layout.blobPath(digest);
      await utimes(path, new Date(1000 * (i + 1)), new Date(1000 * (i + 1)));
      olds.push(path);
    }
    await mkdir(join(root, 'manifests', 'x'), { recursive: true });
    await writeFile(join(root, 'manifests', 'x', 'previous_artifact.json'), '{"version":"1","services":{}}');
    const { removed } = await cache.prune({ maxSize: 2500 });
    expect(removed.map((e) => e.path)).toEqual([olds[0], olds[1]]);
    const left = await cache.list();
    expect(
      left
        .filter((e) => e.kind === 'blob')
        .map((e) => e.path)
        .sort(),
    ).toEqual([olds[2], olds[3]].sort());
    expect(left.some((e) => e.kind === 'release')).toBe(true);
    await cache.prune();
    expect((await cache.list()).filter((e) => e.kind !== 'release')).toEqual([]);
  });

  it('touches reused blobs, so prune removes what was least recently used, not first downloaded', async () => {
    const root = join(dir, 'c5');
    const cache = await AppCache.open(root);
    const added = await cache.add(await sampleImage([{ a: randomBytes(2000) }, { b: 'x' }], 'touch'));
    const old = new Date(1000);
    const paths = [added.digest, added.configDigest, ...added.layers.map((l) => l.digest)].map((d) =>
      cache.layout.blobPath(d),
    );
    for (const p of paths) await utimes(p, old, old);
    expect(await cache.image(added.digest)).toBeDefined();
    for (const p of paths) expect((await stat(p)).mtimeMs).toBeGreaterThan(old.getTime());
  });

  it('serializes lock holders and breaks the lock of a dead process', async () => {
    const root = join(dir, 'c4');
    const cache = await AppCache.open(root);
    const log = join(dir, 'lock.log');
    await writeFile(log, '');
    // Two concurrent users append start/end under the same lock file; lines must not interleave.
    const users = [0, 1].map(async (n) => {
      for (let i = 0; i < 5; i++) {
        await cache.withLock('t', async () => {
          await writeFile(log, `start ${n}\n`, { flag: 'a' });
          await new Promise((r) => setTimeout(r, 5));
          await writeFile(log, `end ${n}\n`, { flag: 'a' });
        });
      }
    });
    await Promise.all(users);
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(20);
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]!.replace('start', 'end')).toBe(lines[i + 1]);
    }
    // A lock left by a process that died on this host (same PID namespace) is broken at once.
    const { spawnSync } = await import('node:child_process');
    const { hostname } = await import('node:os');
    const { readlinkSync } = await import('node:fs');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await writeFile(
      join(root, 'locks', 'dead.lock'),
      JSON.stringify({ host: hostname(), pidns: readlinkSync('/proc/self/ns/pid'), pid: dead, since: '' }),
    );
    let ran = false;
    await cache.withLock('dead', async () => {
      ran = true;
    });
    expect(ran).toBe(true);
    expect(await readdir(join(root, 'locks'))).toEqual([]);
  });

  it('says when the cache directory is not writable', async () => {
    const ro = join(dir, 'ro');
    await mkdir(ro);
    await chmod(ro, 0o500);
    try {
      if (process.getuid?.() === 0) {
        // root ignores permissions: use a path under a file instead.
        await writeFile(join(dir, 'file'), 'x');
        await expect(AppCache.open(join(dir, 'file', 'cache'))).rejects.toMatchObject({
          message: expect.stringMatching(/is not writable.*run without a cache/),
          details: { hint: 'cache-dir' },
        });
      } else {
        await expect(AppCache.open(join(ro, 'cache'))).rejects.toMatchObject({
          message: expect.stringMatching(/is not writable/),
          details: { hint: 'cache-dir' },
        });
      }
    } finally {
      await chmod(ro, 0o700);
    }
    expect((await stat(ro)).isDirectory()).toBe(true);
  });
});
