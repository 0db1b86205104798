/**
 * The image model over an in-memory BlobSource: loadImage/loadIndex, layers in gzip, zstd and
 * uncompressed form, verification of stored bytes, and the errors for broken images.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readAhead } from '../src/compression.js';
import {
  type BlobSource,
  type Descriptor,
  type Digest,
  decompressor,
  digestOf,
  isOciDeltaError,
  jsonBytes,
  loadImage,
  loadIndex,
  MediaType,
  makeLayer,
  OciDeltaError,
  openVerified,
  readBlob,
  sniffCompression,
} from '../src/index.js';

/** Blobs in a Map; `corrupt` serves other bytes than the digest says. */
class MemorySource implements BlobSource {
  readonly blobs = new Map<string, Buffer>();
  readonly opened: Readable[] = [];
  add(data: Buffer): Digest {
    const d = digestOf(data);
    this.blobs.set(d, data);
    return d;
  }
  async openBlob(descriptor: Descriptor): Promise<Readable> {
    const data = this.blobs.get(descriptor.digest);
    if (!data) {
      throw new OciDeltaError('ERR_BLOB_UNKNOWN', `blob ${descriptor.digest} not found`, {
        digest: descriptor.digest,
      });
    }
    // several chunks, so streaming paths are exercised
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += 64) chunks.push(data.subarray(i, i + 64));
    const stream = Readable.from(chunks.length > 0 ? chunks : [Buffer.alloc(0)]);
    this.opened.push(stream);
    return stream;
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of stream) out.push(c as Buffer);
  return Buffer.concat(out);
}

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * A zstd frame made of raw and RLE blocks, built by hand per RFC 8878 (3.1.1): magic, frame
 * header (single segment, 2-byte content size), then blocks with 3-byte little-endian headers
 * `size << 3 | type << 1 | last`.
 */
function handmadeZstd(parts: ({ raw: Buffer } | { rle: number; count: number })[]): {
  frame: Buffer;
  content: Buffer;
} {
  const content = Buffer.concat(parts.map((p) => ('raw' in p ? p.raw : Buffer.alloc(p.count, p.rle))));
  if (content.length < 256 || content.length > 65535 + 256) throw new Error('fixture size out of range');
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x60, 0, 0]); // FCS flag 1 + single segment
  header.writeUInt16LE(content.length - 256, 5);
  const blocks = parts.map((p, i) => {
    const last = i === parts.length - 1 ? 1 : 0;
    const type = 'raw' in p ? 0 : 1;
    const size = 'raw' in p ? p.raw.length : p.count;
    const h = (size << 3) | (type << 1) | last;
    const bh = Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]);
    return Buffer.concat([bh, 'raw' in p ? p.raw : Buffer.from([p.rle])]);
  });
  return { frame: Buffer.concat([header, ...blocks]), content };
}

/** Compressed by `zstd -19 --check` (zstd 1.5) from `zstdFixtureText()`; real FSE/Huffman blocks. */
const ZSTD_COMPRESSED_B64 =
  'KLUv/WQCk90aAIpHXAgagLcghQOM+DEirrhmI0ZkpZSUlGn/ipDJBQacAIIAbADctm3bJEmSpCRJkiQiIiIiYhiGYRiGYRgE' +
  'QRAEQRAEYfj9nt/1PD5c+G3X9CzH4cGCX7dlVzWNDhV6miU5imFwoMDP67hNy2LDhF1WRU1SFBok6HEaZlGSyBAhD0eDsVAk' +
  'IoYQ4oOHDhw2aMgQwzDc5ZQYBgAYKOCABQggODAosMCABAYBLEhgoAACARQMDAywYHBAwUAYGCAAQYKSJEmSJEmSJEmSlCRJ' +
  'kiRJkiRJkiRJkiRJkiRJkiRJkiRJkiRJkiRJkiRJkiRJkiQRERERERERERERERERERERERERERERERERERERERERERERERER' +
  'ERERETEMwzAMQgyEGAgxEGIgxECIgRADIQZCDIQY/P///7Zt23bbtm1LkiTJbdu2bduSJEmSJEmSJEmSJEmSJEmSJEmSJEmS' +
  'JEmSJEmSJEmSJEmSJEmS5LZt27Zt27Zt27Zt27Zt27Zt27Zt27Zt27Zt27Zt27Zt27Zt27ZJkiRJkiRJkiRJkiRJkiRJkiRJ' +
  'kiRJkiRJkiQF/////////////////////////////////////////////////2/btm3btm3btm3btm3btm3btm3btm3btm3b' +
  'tm3btm3btm3btm3bbdu2bdu2bdu2bdu2bdu2bdu2bdu2bdu2bdu2bdu2bdsGg+ioIpi3/e/i11jWEkAQ+P9XEMjxB0ICACDI' +
  'gGAAAEIACCCEACAAADEAARAABFAAEAgBABAEQBQAAAgIAYgAAAoAIASQAAQAACYAAgQABIQAQAIBAAIQQBIAAAEQAgEBAAUA' +
  'QAGgAAEAgCgAiAAAiAACQAEBgAAgoCAAQAAISAAEIAIAIAGAIQAAEDAAMAAAJAAEEAIBEACASIAACADY620bSIG1rkVa0boW' +
  'aUXrWkkrAAABAAAFAYOAAABBAGABwMSflkNbNLSFoS0LbaHQloS2QmjLQVtj0Ewyi5oImMVaxI1E7IIs4o1E7IIs4kYidkEW' +
  'cSMRuyCLuJGIXZBF3EiIXZBF3EjELsgibiRiF2QRNxKxC7KIG4nYBdmIG4nYBVnEjUTsgiziRiJ2QRZxkxJ0wNZKgC3iqBIR' +
  'NA/g0Apr8yvA';

function zstdFixtureText(): Buffer {
  let s = '';
  for (let i = 0; i < 1000; i++) s += `line ${i} of the ocidelta zstd fixture\n`;
  return Buffer.from(s);
}

interface Fixture {
  source: MemorySource;
  manifestBytes: Buffer;
  tars: Buffer[];
  configDigest: Digest;
  layerDescriptors: Descriptor[];
}

/** An OCI image with a gzip, a hand-made zstd, a real zstd and an uncompressed layer. */
function buildImage(
  options: { layerMediaTypes?: string[]; diffIds?: string[]; mediaType?: string } = {},
): Fixture {
  const source = new MemorySource();
  const tar1 = Buffer.from('first layer, gzip '.repeat(50));
  const hand = handmadeZstd([
    { raw: Buffer.from('second layer: a raw zstd block, ') },
    { rle: 0x41, count: 300 },
    { raw: Buffer.from(', then another raw block') },
  ]);
  const tar3 = zstdFixtureText();
  const tar4 = Buffer.from('fourth layer, stored uncompressed');
  const stored = [gzipSync(tar1), hand.frame, Buffer.from(ZSTD_COMPRESSED_B64, 'base64'), tar4];
  const tars = [tar1, hand.content, tar3, tar4];
  const types = options.layerMediaTypes ?? [
    MediaType.OciLayerGzip,
    MediaType.OciLayerZstd,
    MediaType.OciLayerZstd,
    MediaType.OciLayer,
  ];
  const layerDescriptors = stored.map((b, i) => ({
    mediaType: types[i] as string,
    digest: source.add(b),
    size: b.length,
  }));
  const config = jsonBytes({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: options.diffIds ?? tars.map(sha256) },
    history: tars.map((_, i) => ({ created_by: `layer ${i}` })),
  });
  const configDigest = source.add(config);
  const manifestBytes = jsonBytes({
    schemaVersion: 2,
    mediaType: options.mediaType ?? MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length },
    layers: layerDescriptors,
  });
  return { source, manifestBytes, tars, configDigest, layerDescriptors };
}

describe('loadImage', () => {
  it('loads manifest, config and layers', async () => {
    const f = buildImage();
    const img = await loadImage(f.source, f.manifestBytes);
    expect(img.digest).toBe(sha256(f.manifestBytes));
    expect(img.mediaType).toBe(MediaType.OciManifest);
    expect(img.configDigest).toBe(f.configDigest);
    expect(img.config.rootfs.diff_ids).toEqual(f.tars.map(sha256));
    expect(img.layers.map((l) => l.compression)).toEqual(['gzip', 'zstd', 'zstd', 'none']);
    expect(img.layers.map((l) => l.digest)).toEqual(f.layerDescriptors.map((d) => d.digest));
    expect(img.layers.map((l) => l.size)).toEqual(f.layerDescriptors.map((d) => d.size));
    expect(img.layers.map((l) => l.diffId)).toEqual(f.tars.map(sha256));
  });

  it('decompresses gzip, hand-made zstd (raw + RLE blocks), real zstd and plain layers', async () => {
    const f = buildImage();
    const img = await loadImage(f.source, f.manifestBytes);
    for (const [i, layer] of img.layers.entries()) {
      const tar = await collect(await layer.uncompressed());
      expect(tar.equals(f.tars[i] as Buffer)).toBe(true);
      expect(sha256(tar)).toBe(layer.diffId);
    }
  });

  it('serves the stored bytes from compressed()', async () => {
    const f = buildImage();
    const img = await loadImage(f.source, f.manifestBytes);
    for (const layer of img.layers) {
      const stored = await collect(await layer.compressed());
      expect(sha256(stored)).toBe(layer.digest);
      expect(stored.length).toBe(layer.size);
    }
  });

  it('fails a layer whose stored bytes do not match its digest', async () => {
    const f = buildImage();
    const img = await loadImage(f.source, f.manifestBytes);
    const d = f.layerDescriptors[0] as Descriptor;
    const good = f.source.blobs.get(d.digest) as Buffer;
    const evil = gzipSync(Buffer.from('tampered content of the same layer!'.repeat(25)));
    f.source.blobs.set(
      d.digest,
      Buffer.concat([evil, Buffer.alloc(Math.max(0, good.length - evil.length))]).subarray(0, good.length),
    );
    const errC = await collect(await img.layers[0]!.compressed()).catch((e: unknown) => e);
    expect(isOciDeltaError(errC, 'ERR_DIGEST_MISMATCH')).toBe(true);
    expect((errC as { details: Record<string, unknown> }).details.expected).toBe(d.digest);
    const errU = await collect(await img.layers[0]!.uncompressed()).catch((e: unknown) => e);
    expect(errU).toBeInstanceOf(OciDeltaError);
  });

  it('fails a truncated layer with ERR_SIZE_MISMATCH', async () => {
    const f = buildImage();
    const img = await loadImage(f.source, f.manifestBytes);
    const d = f.layerDescriptors[2] as Descriptor;
    f.source.blobs.set(d.digest, (f.source.blobs.get(d.digest) as Buffer).subarray(0, 100));
    const err = await collect(await img.layers[2]!.uncompressed()).catch((e: unknown) => e);
    expect(isOciDeltaError(err)).toBe(true);
    expect(['ERR_SIZE_MISMATCH', 'ERR_INVALID_ARCHIVE']).toContain((err as OciDeltaError).code);
  });

  it('verifies the config blob', async () => {
    const f = buildImage();
    const cfg = f.source.blobs.get(f.configDigest) as Buffer;
    f.source.blobs.set(f.configDigest, Buffer.from(cfg.toString().replace('amd64', 'arm64')));
    const err = await loadImage(f.source, f.manifestBytes).catch((e: unknown) => e);
    expect(isOciDeltaError(err, 'ERR_DIGEST_MISMATCH')).toBe(true);
  });

  it('reports a missing config blob', async () => {
    const f = buildImage();
    f.source.blobs.delete(f.configDigest);
    await expect(loadImage(f.source, f.manifestBytes)).rejects.toMatchObject({ code: 'ERR_BLOB_UNKNOWN' });
  });

  it('rejects a config whose diff_ids do not pair with the layers', async () => {
    const f = buildImage({ diffIds: [digestOf('only one')] });
    await expect(loadImage(f.source, f.manifestBytes)).rejects.toThrow(
      /4 layers but its config lists 1 diff_ids/,
    );
  });

  it('rejects an unknown layer media type', async () => {
    const f = buildImage({
      layerMediaTypes: [
        MediaType.OciLayerGzip,
        'application/x-foo',
        MediaType.OciLayerZstd,
        MediaType.OciLayer,
      ],
    });
    const err = await loadImage(f.source, f.manifestBytes).catch((e: unknown) => e);
    expect(isOciDeltaError(err, 'ERR_UNSUPPORTED_MEDIA_TYPE')).toBe(true);
    expect((err as Error).message).toContain('application/x-foo');
  });

  it('accepts Docker layer media types', async () => {
    const f = buildImage({
      mediaType: MediaType.DockerManifest,
      layerMediaTypes: [
        MediaType.DockerLayerGzip,
        MediaType.DockerLayerZstd,
        MediaType.DockerLayerZstd,
        MediaType.DockerLayer,
      ],
    });
    const img = await loadImage(f.source, f.manifestBytes);
    expect(img.mediaType).toBe(MediaType.DockerManifest);
    expect((await collect(await img.layers[0]!.uncompressed())).equals(f.tars[0] as Buffer)).toBe(true);
  });

  it('refuses an index', async () => {
    const f = buildImage();
    const indexBytes = jsonBytes({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: sha256(f.manifestBytes), size: f.manifestBytes.length },
      ],
    });
    await expect(loadImage(f.source, indexBytes)).rejects.toThrow(/is an index, not an image manifest/);
    const index = loadIndex(indexBytes);
    expect(index.digest).toBe(sha256(indexBytes));
    expect(index.manifest.manifests[0]?.digest).toBe(sha256(f.manifestBytes));
    expect(() => loadIndex(f.manifestBytes)).toThrow(/is an image manifest, not an index/);
  });
});

describe('openVerified / readBlob', () => {
  it('reads a small blob fully', async () => {
    const f = buildImage();
    const cfg = await readBlob(f.source, {
      mediaType: MediaType.OciConfig,
      digest: f.configDigest,
      size: 0,
    }).catch((e: unknown) => e);
    // size 0 is wrong: the verifier must notice
    expect(isOciDeltaError(cfg, 'ERR_SIZE_MISMATCH')).toBe(true);
  });

  it('destroys the underlying stream when the consumer stops early', async () => {
    const source = new MemorySource();
    const data = Buffer.alloc(64 * 5000, 1);
    const digest = source.add(data);
    const stream = await openVerified(source, { mediaType: MediaType.OciLayer, digest, size: data.length });
    for await (const _ of stream) break; // stops after the first chunk, destroying `stream`
    await new Promise((r) => setImmediate(r));
    expect(source.opened[0]?.destroyed).toBe(true);
  });
});

describe('early stop of uncompressed()', () => {
  it('releases the stored blob when the consumer stops reading', async () => {
    const source = new MemorySource();
    const tar = Buffer.alloc(1 << 20);
    for (let i = 0; i < tar.length; i++) tar[i] = (i * 2654435761) >>> 24;
    const gz = gzipSync(tar, { level: 1 });
    const descriptor = { mediaType: MediaType.OciLayerGzip, digest: source.add(gz), size: gz.length };
    const layer = makeLayer(source, descriptor, digestOf(tar));
    for await (const _ of await layer.uncompressed()) break;
    await new Promise((r) => setImmediate(r));
    expect(source.opened[0]?.destroyed).toBe(true);
  });
});

describe('compression', () => {
  it('readAhead hands each chunk on a turn later, bytes intact, holding up to its limit', async () => {
    const ahead = readAhead(64);
    const seen: Buffer[] = [];
    ahead.on('data', (c: Buffer) => seen.push(c));
    const chunks = [Buffer.alloc(40, 1), Buffer.alloc(40, 2), Buffer.alloc(40, 3)];
    expect(ahead.write(chunks[0])).toBe(true);
    // Not synchronously: the writer (a decompressor) goes on before its consumers run.
    expect(seen).toHaveLength(0);
    expect(ahead.write(chunks[1])).toBe(false); // 80 bytes held: over the 64-byte limit
    ahead.end(chunks[2]);
    await new Promise((r) => ahead.once('end', r));
    expect(Buffer.concat(seen).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('sniffs gzip, zstd and plain data', () => {
    expect(sniffCompression(gzipSync(Buffer.from('x')))).toBe('gzip');
    expect(sniffCompression(Buffer.from(ZSTD_COMPRESSED_B64, 'base64'))).toBe('zstd');
    expect(sniffCompression(Buffer.from('plain'))).toBe('none');
    expect(sniffCompression(new Uint8Array([0x1f]))).toBe('none');
  });

  it('decompresses concatenated zstd frames and skips skippable frames', async () => {
    const a = handmadeZstd([{ rle: 0x42, count: 256 }]);
    const b = Buffer.from(ZSTD_COMPRESSED_B64, 'base64');
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    const out = await collect(
      Readable.from([Buffer.concat([a.frame, skippable, b])]).pipe(decompressor('zstd')),
    );
    expect(out.equals(Buffer.concat([a.content, zstdFixtureText()]))).toBe(true);
  });

  it('errors on truncated or corrupt zstd with ERR_INVALID_ARCHIVE', async () => {
    const b = Buffer.from(ZSTD_COMPRESSED_B64, 'base64');
    for (const broken of [
      b.subarray(0, b.length - 10),
      Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff]),
    ]) {
      const err = await collect(Readable.from([broken]).pipe(decompressor('zstd'))).catch((e: unknown) => e);
      expect(isOciDeltaError(err, 'ERR_INVALID_ARCHIVE')).toBe(true);
      expect((err as Error).message).toMatch(/^zstd: /);
    }
  });
});
