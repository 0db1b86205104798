import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  digestOf,
  readImageArchive,
  readOciArchive,
  TarIndex,
  TarWriter,
  writeDockerArchive,
  writeOciArchive,
} from '../src/index.js';
import {
  buildImage,
  collect,
  expectCode,
  handTar,
  listTar,
  type MemorySource,
  twoLayers,
} from './layout-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-archive-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('oci-archive', () => {
  it('round-trips images with names, readable by an independent tar reader', async () => {
    const a = await twoLayers();
    const b = await buildImage({ layers: [[{ path: 'x', content: 'x' }]], flavor: 'docker', seed: 'b' });
    const file = join(dir, 'out.tar');
    await writeOciArchive(file, [
      { image: a.image, ref: 'v1' },
      { image: b.image, ref: 'localhost:5000/b:2' },
    ]);
    const files = await listTar(file);
    expect(JSON.parse(files.get('oci-layout')!.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(digestOf(files.get(`blobs/sha256/${a.image.digest.slice(7)}`)!)).toBe(a.image.digest);
    expect([...(await readdir(dir))]).toEqual(['out.tar']);

    const archive = await readOciArchive(file);
    expect(archive.format).toBe('oci-archive');
    expect(archive.entries.map((e) => e.image.digest)).toEqual([a.image.digest, b.image.digest]);
    expect(archive.entries[1]!.refs).toEqual(['localhost:5000/b:2', '2']);
    const img = await archive.image({ ref: 'v1' });
    expect(await collect(await img.layers[0]!.uncompressed())).toEqual(a.tars[0]);
    expect((await archive.image({ ref: 'localhost:5000/b:2' })).configDigest).toBe(b.image.configDigest);
    expect((await readImageArchive(file)).format).toBe('oci-archive');
    await archive.close();
  });

  it('writes long entry names with pax headers that tar(1) and our index read back', async () => {
    const file = join(dir, 'long.tar');
    const long = `${'d'.repeat(120)}/${'f'.repeat(120)}`;
    const tar = await TarWriter.create(file);
    await tar.addBuffer(long, Buffer.from('long'));
    const streamed = await tar.addStream(
      'unknown-size',
      Readable.from([Buffer.from('abc'), Buffer.from('def')]),
    );
    expect(streamed).toBe(6);
    await tar.commit();
    const listed = execFileSync('tar', ['tf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(listed).toEqual([long, 'unknown-size']);
    const index = await TarIndex.scan(file);
    expect(await index.read(index.get(long)!)).toEqual(Buffer.from('long'));
    expect(await index.read(index.get('unknown-size')!)).toEqual(Buffer.from('abcdef'));
  });

  it('indexes long names written by tar(1) in GNU and pax formats', async () => {
    const src = join(dir, 'src');
    const deep = join('a'.repeat(90), 'b'.repeat(90), 'c'.repeat(40));
    await mkdir(join(src, deep), { recursive: true });
    await writeFile(join(src, deep, 'file.txt'), 'deep content');
    for (const format of ['gnu', 'pax']) {
      const file = join(dir, `${format}.tar`);
      execFileSync('tar', [`--format=${format}`, '-cf', file, '-C', src, '.']);
      const index = await TarIndex.scan(file);
      const entry = index.get(`${deep}/file.txt`);
      expect(entry, format).toBeDefined();
      expect(await index.read(entry!)).toEqual(Buffer.from('deep content'));
    }
  });

  it('an aborted write leaves no output', async () => {
    const a = await twoLayers();
    const ac = new AbortController();
    ac.abort();
    const file = join(dir, 'aborted.tar');
    await expectCode(writeOciArchive(file, [{ image: a.image }], { signal: ac.signal }), 'ERR_ABORTED');
    await expectCode(
      writeDockerArchive(file, [{ image: a.image }], { signal: ac.signal, layers: 'uncompressed' }),
      'ERR_ABORTED',
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('a failed write leaves no output and no temp file', async () => {
    const a = await twoLayers();
    const source = a.image.source as MemorySource;
    source.blobs.set(a.image.layers[1]!.digest, Buffer.from('tampered'));
    const file = join(dir, 'bad.tar');
    await expectCode(writeOciArchive(file, [{ image: a.image }]), 'ERR_SIZE_MISMATCH');
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports a wrong digest inside an archive when the blob is read', async () => {
    const a = await twoLayers();
    const file = join(dir, 'x.tar');
    await writeOciArchive(file, [{ image: a.image }]);
    const files = await listTar(file);
    const layerName = `blobs/sha256/${a.image.layers[0]!.digest.slice(7)}`;
    const original = files.get(layerName)!;
    const forged = Buffer.from(original);
    forged[forged.length - 5] = forged[forged.length - 5]! ^ 0xff;
    await handTar(
      file,
      [...files].map(([name, data]) => ({ name, data: name === layerName ? forged : data })),
    );
    const archive = await readOciArchive(file);
    await expectCode(collect(await archive.entries[0]!.image.layers[0]!.compressed()), 'ERR_DIGEST_MISMATCH');
  });

  it('rejects truncated, non-tar, unsafe and inconsistent archives with typed errors naming the file', async () => {
    const a = await twoLayers();
    const good = join(dir, 'good.tar');
    await writeOciArchive(good, [{ image: a.image }]);
    const cut = join(dir, 'cut.tar');
    await writeFile(cut, await readFile(good));
    await truncate(cut, (await stat(good)).size - 3000);
    await expectCode(readOciArchive(cut), 'ERR_TRUNCATED', cut);

    const gz = join(dir, 'good.tar.gz');
    await writeFile(gz, gzipSync(await readFile(good)));
    await expectCode(readImageArchive(gz), 'ERR_INVALID_ARCHIVE', 'gzip-compressed');

    const notTar = join(dir, 'not.tar');
    await writeFile(notTar, Buffer.alloc(2048, 'x'));
    await expectCode(readImageArchive(notTar), 'ERR_INVALID_ARCHIVE', notTar);

    for (const evil of ['../evil', '/etc/evil', 'blobs/../../evil']) {
      const f = join(dir, 'evil.tar');
      await handTar(f, [
        { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
        { name: evil, data: 'x' },
      ]);
      await expectCode(readOciArchive(f), 'ERR_UNSAFE_PATH', evil);
    }

    const files = await listTar(good);
    const noBlob = join(dir, 'noblob.tar');
    const dropped = `blobs/sha256/${a.image.layers[1]!.digest.slice(7)}`;
    await handTar(
      noBlob,
      [...files].filter(([n]) => n !== dropped).map(([name, data]) => ({ name, data })),
    );
    const archive = await readOciArchive(noBlob);
    await expectCode(archive.entries[0]!.image.layers[1]!.compressed(), 'ERR_BLOB_UNKNOWN', noBlob);

    const badIndex = join(dir, 'badindex.tar');
    await handTar(badIndex, [
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', data: '{oops' },
    ]);
    await expectCode(readOciArchive(badIndex), 'ERR_INVALID_LAYOUT', 'index.json');

    const unknownMt = join(dir, 'unknownmt.tar');
    const weird = Buffer.from('{"schemaVersion":2,"mediaType":"application/x-weird"}');
    await handTar(unknownMt, [
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      { name: `blobs/sha256/${digestOf(weird).slice(7)}`, data: weird },
      {
        name: 'index.json',
        data: JSON.stringify({
          schemaVersion: 2,
          manifests: [{ mediaType: 'application/x-weird', digest: digestOf(weird), size: weird.length }],
        }),
      },
    ]);
    await expectCode(readOciArchive(unknownMt), 'ERR_UNSUPPORTED_MEDIA_TYPE', 'application/x-weird');
  });
});
