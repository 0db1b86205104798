import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf, OciLayout, writeOciLayout } from '../src/index.js';
import { buildImage, collect, expectCode } from './layout-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-layout-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('OciLayout', () => {
  it('create writes oci-layout and an empty index, and is idempotent', async () => {
    const layout = await OciLayout.create(join(dir, 'l'));
    expect(JSON.parse(await readFile(join(dir, 'l', 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    });
    expect((await layout.readIndex()).manifests).toEqual([]);
    const { digest } = await layout.writeBlob(Buffer.from('hello'));
    const again = await OciLayout.create(join(dir, 'l'));
    expect(await again.hasBlob(digest)).toBe(true);
  });

  it('writeBlob hashes, verifies and leaves no temp files', async () => {
    const layout = await OciLayout.create(dir);
    const data = Buffer.from('some blob content');
    const expected = digestOf(data);
    const progress: number[] = [];
    const r = await layout.writeBlob(
      Readable.from([data.subarray(0, 4), data.subarray(4)]),
      { digest: expected, size: data.length },
      { onProgress: (p) => progress.push(p.done) },
    );
    expect(r).toEqual({ digest: expected, size: data.length });
    expect(progress.at(-1)).toBe(data.length);
    expect(await readFile(layout.blobPath(expected))).toEqual(data);
    await expectCode(layout.writeBlob(Buffer.from('other'), { digest: expected }), 'ERR_DIGEST_MISMATCH');
    await expectCode(layout.writeBlob(Buffer.from('other'), { size: 3 }), 'ERR_SIZE_MISMATCH');
    const wrong = digestOf('x');
    await expectCode(layout.writeBlob(Buffer.from('y'), { digest: wrong }), 'ERR_DIGEST_MISMATCH');
    expect(await layout.hasBlob(wrong)).toBe(false);
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([expected.slice(7)]);
  });

  it('writeBlob honours an abort signal and cleans up', async () => {
    const layout = await OciLayout.create(dir);
    const ac = new AbortController();
    async function* slow() {
      yield Buffer.from('a');
      ac.abort();
      await new Promise((r) => setTimeout(r, 10));
      yield Buffer.from('b');
    }
    await expectCode(layout.writeBlob(slow(), {}, { signal: ac.signal }), 'ERR_ABORTED');
    expect(await readdir(join(dir, 'blobs', 'sha256'))).toEqual([]);
  });

  it('never maps a digest outside blobs/', async () => {
    const layout = await OciLayout.create(dir);
    expect(() => layout.blobPath('sha256:../../etc/passwd')).toThrow(/invalid digest/);
    await expectCode(layout.writeBlob(Buffer.from('x'), { digest: 'sha256:../../x' }), 'ERR_INVALID_DIGEST');
    await expectCode(layout.writeBlob(Buffer.from('x'), { digest: '../../../x:abc' }), 'ERR_INVALID_DIGEST');
    expect(await readdir(dir)).toEqual(['blobs', 'index.json', 'oci-layout']);
  });

  it('openBlob names the missing path', async () => {
    const layout = await OciLayout.create(dir);
    const d = digestOf('nope');
    await expectCode(layout.openBlob({ mediaType: 'x', digest: d, size: 4 }), 'ERR_BLOB_UNKNOWN', d.slice(7));
  });

  it('open rejects missing or broken oci-layout / index.json naming the file', async () => {
    await expectCode(OciLayout.open(dir), 'ERR_INVALID_LAYOUT', 'oci-layout');
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await expectCode(OciLayout.open(dir), 'ERR_INVALID_LAYOUT', 'index.json');
    await writeFile(join(dir, 'index.json'), '{not json');
    await expectCode(OciLayout.open(dir), 'ERR_INVALID_LAYOUT', 'index.json');
    await writeFile(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[{"digest":"bad"}]}');
    await expectCode(OciLayout.open(dir), 'ERR_INVALID_LAYOUT', 'index.json');
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await expectCode(OciLayout.open(dir), 'ERR_INVALID_LAYOUT', 'imageLayoutVersion');
  });

  it('writeOciLayout round-trips images, names them, skips existing blobs', async () => {
    const a = await buildImage({
      layers: [[{ path: 'a.txt', content: 'A' }], [{ path: 'b', content: 'B' }]],
    });
    const b = await buildImage({
      layers: [[{ path: 'a.txt', content: 'A' }]],
      flavor: 'docker',
      compression: 'none',
      seed: 'b',
    });
    const phases: string[] = [];
    const layout = await writeOciLayout(
      dir,
      [
        { image: a.image, ref: 'v1' },
        { image: b.image, ref: 'registry.example:5000/app/b:2.0' },
      ],
      { onProgress: (p) => phases.push(p.phase) },
    );
    expect(phases).toContain('layer');
    const index = await layout.readIndex();
    expect(index.manifests.map((m) => m.annotations)).toEqual([
      { 'org.opencontainers.image.ref.name': 'v1' },
      {
        'io.containerd.image.name': 'registry.example:5000/app/b:2.0',
        'org.opencontainers.image.ref.name': '2.0',
      },
    ]);
    const ra = await layout.image({ ref: 'v1' });
    expect(ra.digest).toBe(a.image.digest);
    expect(ra.layers.map((l) => l.diffId)).toEqual(a.tars.map((t) => digestOf(t)));
    expect(await collect(await ra.layers[1]!.uncompressed())).toEqual(a.tars[1]);
    const rb = await layout.image({ ref: '2.0' });
    expect(rb.digest).toBe(b.image.digest);
    expect(rb.mediaType).toBe(b.image.mediaType);
    expect((await layout.image({ ref: 'registry.example:5000/app/b:2.0' })).digest).toBe(b.image.digest);
    // Full names are normalized when written and matched after normalization.
    await writeOciLayout(dir, [{ image: a.image, ref: 'alpine:3' }]);
    const named = (await layout.readIndex()).manifests.at(-1)!;
    expect(named.annotations).toEqual({
      'io.containerd.image.name': 'docker.io/library/alpine:3',
      'org.opencontainers.image.ref.name': '3',
    });
    expect((await layout.image({ ref: 'alpine:3' })).digest).toBe(a.image.digest);
    expect((await layout.image({ ref: 'docker.io/library/alpine:3' })).digest).toBe(a.image.digest);
    expect((await layout.image({ digest: b.image.digest })).digest).toBe(b.image.digest);
    // Several images and no name: an error listing them, never the first one silently.
    await expect(layout.image()).rejects.toMatchObject({
      code: 'ERR_MANIFEST_UNKNOWN',
      message: expect.stringMatching(
        /holds 3 images \(v1, registry\.example:5000\/app\/b:2\.0, docker\.io\/library\/alpine:3\); name the one/,
      ),
    });
    await expectCode(layout.image({ ref: 'missing' }), 'ERR_MANIFEST_UNKNOWN', 'missing');

    // Moving a tag replaces the entry; re-writing skips blobs already present.
    const skipped: string[] = [];
    await writeOciLayout(dir, [{ image: b.image, ref: 'v1' }], {
      onProgress: (p) => {
        if (p.phase === 'skip') skipped.push(p.item!);
      },
    });
    const after = await layout.readIndex();
    expect(after.manifests).toHaveLength(3);
    expect((await layout.image({ ref: 'v1' })).digest).toBe(b.image.digest);
    expect(skipped).toContain(b.image.configDigest);
  });

  it('concurrent addManifest calls from several instances lose no entry', async () => {
    const first = await OciLayout.create(dir);
    const second = await OciLayout.open(dir);
    const names = Array.from({ length: 12 }, (_, i) => `t${i}`);
    await Promise.all(
      names.map((name, i) =>
        (i % 2 ? first : second).addManifest({
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: digestOf(name),
          size: 1,
          annotations: { 'org.opencontainers.image.ref.name': name },
        }),
      ),
    );
    const index = await first.readIndex();
    expect(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort()).toEqual(
      [...names].sort(),
    );
    expect(await readdir(dir)).not.toContain('index.json.lock');
  });

  it('detects a corrupted blob when read', async () => {
    const a = await buildImage({ layers: [[{ path: 'f', content: 'content' }]] });
    const layout = await writeOciLayout(dir, [{ image: a.image, ref: 'x' }]);
    const img = await layout.image();
    await writeFile(layout.blobPath(img.layers[0]!.digest), Buffer.from('corrupt'));
    await expectCode(collect(await img.layers[0]!.compressed()), 'ERR_SIZE_MISMATCH');
  });

  it('rejects an unknown manifest media type', async () => {
    const layout = await OciLayout.create(dir);
    const bytes = Buffer.from('{"schemaVersion":2,"mediaType":"application/x-unknown","manifests":[]}');
    const { digest, size } = await layout.writeBlob(bytes);
    await layout.addManifest({ mediaType: 'application/x-unknown', digest, size });
    await expectCode(layout.image(), 'ERR_UNSUPPORTED_MEDIA_TYPE', 'application/x-unknown');
  });
});
