/** zod schemas at the trust boundary: OCI and Docker manifests, indexes, configs, schema1 rejection. */
import { describe, expect, it } from 'vitest';
import {
  type AnyManifest,
  digestOf,
  isOciDeltaError,
  MediaType,
  parseImageConfig,
  parseManifest,
} from '../src/index.js';

const cfgDigest = digestOf('config');
const l1 = digestOf('layer1');
const l2 = digestOf('layer2');

const ociManifest = {
  schemaVersion: 2,
  mediaType: MediaType.OciManifest,
  config: { mediaType: MediaType.OciConfig, digest: cfgDigest, size: 6 },
  layers: [
    { mediaType: MediaType.OciLayerGzip, digest: l1, size: 100 },
    { mediaType: MediaType.OciLayerZstd, digest: l2, size: 200, annotations: { a: 'b' } },
  ],
  annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
};

const dockerManifest = {
  schemaVersion: 2,
  mediaType: MediaType.DockerManifest,
  config: { mediaType: MediaType.DockerConfig, digest: cfgDigest, size: 6 },
  layers: [{ mediaType: MediaType.DockerLayerGzip, digest: l1, size: 100 }],
};

function expectError(fn: () => unknown, code: string, ...patterns: RegExp[]): void {
  try {
    fn();
    expect.unreachable();
  } catch (err) {
    expect(isOciDeltaError(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    for (const p of patterns) expect((err as Error).message).toMatch(p);
  }
}

function image(parsed: AnyManifest) {
  if (parsed.kind !== 'image') throw new Error('expected an image manifest');
  return parsed.manifest;
}
function index(parsed: AnyManifest) {
  if (parsed.kind !== 'index') throw new Error('expected an index');
  return parsed.manifest;
}

describe('parseManifest: image manifests', () => {
  it('parses an OCI manifest from bytes', () => {
    const parsed = parseManifest(Buffer.from(JSON.stringify(ociManifest)));
    expect(parsed.kind).toBe('image');
    expect(parsed.mediaType).toBe(MediaType.OciManifest);
    const m = image(parsed);
    expect(m.layers.map((l) => l.digest)).toEqual([l1, l2]);
    expect(m.layers[1]?.annotations).toEqual({ a: 'b' });
    expect(m.annotations?.['org.opencontainers.image.created']).toBe('2024-01-01T00:00:00Z');
  });

  it('parses an OCI artifact manifest with artifactType and subject', () => {
    const artifact = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: 'application/vnd.example.sbom',
      config: { mediaType: MediaType.OciEmpty, digest: digestOf('{}'), size: 2, data: 'e30=' },
      layers: [{ mediaType: 'application/spdx+json', digest: l1, size: 10 }],
      subject: { mediaType: MediaType.OciManifest, digest: l2, size: 500 },
    };
    const m = image(parseManifest(JSON.stringify(artifact)));
    expect(m.artifactType).toBe('application/vnd.example.sbom');
    expect(m.subject?.digest).toBe(l2);
    expect(m.config.data).toBe('e30=');
  });

  it('parses a Docker v2 schema2 manifest', () => {
    const parsed = parseManifest(JSON.stringify(dockerManifest));
    expect(parsed.mediaType).toBe(MediaType.DockerManifest);
    expect(image(parsed).config.mediaType).toBe(MediaType.DockerConfig);
  });

  it('infers OCI manifest when mediaType is absent, and lets the given media type win', () => {
    const { mediaType: _drop, ...bare } = ociManifest;
    expect(parseManifest(JSON.stringify(bare)).mediaType).toBe(MediaType.OciManifest);
    expect(parseManifest(JSON.stringify(bare), MediaType.DockerManifest).mediaType).toBe(
      MediaType.DockerManifest,
    );
    // a generic Content-Type does not override the document's own media type
    expect(parseManifest(JSON.stringify(dockerManifest), 'application/json').mediaType).toBe(
      MediaType.DockerManifest,
    );
  });

  it('ignores Content-Type parameters', () => {
    expect(
      parseManifest(JSON.stringify(dockerManifest), `${MediaType.DockerManifest}; charset=utf-8`).mediaType,
    ).toBe(MediaType.DockerManifest);
  });

  it('rejects a bad digest, naming the field', () => {
    const bad = structuredClone(ociManifest);
    (bad.layers[1] as { digest: string }).digest = 'sha256:xyz';
    expectError(() => parseManifest(JSON.stringify(bad)), 'ERR_INVALID_MANIFEST', /layers\.1\.digest/);
  });

  it('rejects a negative size and a missing config', () => {
    const neg = structuredClone(ociManifest);
    neg.config.size = -1;
    expectError(() => parseManifest(JSON.stringify(neg)), 'ERR_INVALID_MANIFEST', /config\.size/);
    const { config: _c, ...noConfig } = ociManifest;
    expectError(() => parseManifest(JSON.stringify(noConfig)), 'ERR_INVALID_MANIFEST', /config/);
  });

  it('rejects bytes that are not JSON, with the context', () => {
    try {
      parseManifest('{not json', undefined, { path: 'index.json' });
      expect.unreachable();
    } catch (err) {
      expect(isOciDeltaError(err, 'ERR_INVALID_MANIFEST')).toBe(true);
      expect((err as Error).message).toMatch(/not valid JSON/);
      expect((err as { details: Record<string, unknown> }).details.path).toBe('index.json');
    }
  });

  it('rejects schemaVersion other than 2', () => {
    expectError(
      () => parseManifest(JSON.stringify({ ...ociManifest, schemaVersion: 3 })),
      'ERR_INVALID_MANIFEST',
      /schemaVersion/,
    );
  });
});

describe('parseManifest: indexes', () => {
  const ociIndex = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    artifactType: 'application/vnd.example',
    manifests: [
      {
        mediaType: MediaType.OciManifest,
        digest: l1,
        size: 500,
        platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
        annotations: { 'org.opencontainers.image.ref.name': 'v1' },
      },
      {
        mediaType: MediaType.OciManifest,
        digest: l2,
        size: 400,
        platform: {
          os: 'windows',
          architecture: 'amd64',
          'os.version': '10.0.17763',
          'os.features': ['win32k'],
        },
        artifactType: 'application/vnd.example.sig',
      },
    ],
    subject: { mediaType: MediaType.OciManifest, digest: cfgDigest, size: 1 },
    annotations: { x: 'y' },
  };

  it('parses an OCI index with platforms, annotations, artifactType and subject', () => {
    const parsed = parseManifest(JSON.stringify(ociIndex));
    expect(parsed.kind).toBe('index');
    const m = index(parsed);
    expect(m.manifests[0]?.platform).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(m.manifests[0]?.annotations?.['org.opencontainers.image.ref.name']).toBe('v1');
    expect(m.manifests[1]?.platform?.['os.version']).toBe('10.0.17763');
    expect(m.manifests[1]?.platform?.['os.features']).toEqual(['win32k']);
    expect(m.manifests[1]?.artifactType).toBe('application/vnd.example.sig');
    expect(m.subject?.digest).toBe(cfgDigest);
    expect(m.artifactType).toBe('application/vnd.example');
    expect(m.annotations).toEqual({ x: 'y' });
  });

  it('parses a Docker manifest list', () => {
    const list = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifestList,
      manifests: [
        {
          mediaType: MediaType.DockerManifest,
          digest: l1,
          size: 528,
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    };
    const parsed = parseManifest(JSON.stringify(list));
    expect(parsed.mediaType).toBe(MediaType.DockerManifestList);
    expect(index(parsed).manifests[0]?.platform?.architecture).toBe('amd64');
  });

  it('infers an index from a manifests array when mediaType is absent', () => {
    const { mediaType: _m, ...bare } = ociIndex;
    expect(parseManifest(JSON.stringify(bare)).kind).toBe('index');
  });

  it('rejects a platform without os', () => {
    const bad = structuredClone(ociIndex);
    const { os: _os, ...noOs } = ociIndex.manifests[0]?.platform ?? { os: '' };
    (bad.manifests[0] as { platform: unknown }).platform = noOs;
    expectError(
      () => parseManifest(JSON.stringify(bad)),
      'ERR_INVALID_MANIFEST',
      /manifests\.0\.platform\.os/,
    );
  });
});

describe('parseManifest: unsupported', () => {
  const schema1 = {
    schemaVersion: 1,
    name: 'library/ubuntu',
    tag: 'latest',
    architecture: 'amd64',
    fsLayers: [{ blobSum: l1 }],
    history: [{ v1Compatibility: '{}' }],
  };

  it('rejects signed schema1 by media type, naming it', () => {
    expectError(
      () => parseManifest(JSON.stringify(schema1), MediaType.DockerSchema1Signed),
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      /schema1/,
      /application\/vnd\.docker\.distribution\.manifest\.v1\+prettyjws/,
    );
  });

  it('rejects schema1 by schemaVersion when no media type is known', () => {
    try {
      parseManifest(JSON.stringify(schema1));
      expect.unreachable();
    } catch (err) {
      expect(isOciDeltaError(err, 'ERR_UNSUPPORTED_MEDIA_TYPE')).toBe(true);
      expect((err as Error).message).toContain('application/vnd.docker.distribution.manifest.v1+json');
      expect((err as { details: Record<string, unknown> }).details.mediaType).toBe(MediaType.DockerSchema1);
    }
  });

  it('rejects an unknown media type, naming it', () => {
    expectError(
      () => parseManifest(JSON.stringify(ociManifest), 'application/vnd.example.thing+json'),
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      /application\/vnd\.example\.thing\+json/,
    );
  });
});

describe('parseImageConfig', () => {
  const config = {
    created: '2024-01-01T00:00:00Z',
    architecture: 'arm64',
    variant: 'v8',
    os: 'linux',
    config: {
      Env: ['PATH=/usr/bin'],
      Cmd: ['/bin/sh'],
      Entrypoint: null,
      ExposedPorts: { '80/tcp': {} },
      Labels: { a: 'b' },
      WorkingDir: '/',
    },
    rootfs: { type: 'layers', diff_ids: [l1, l2] },
    history: [
      { created: '2024-01-01T00:00:00Z', created_by: 'ADD file:abc in /' },
      { created_by: 'ENV A=b', empty_layer: true },
      { created_by: 'RUN x', comment: 'buildkit.dockerfile.v0' },
    ],
    'moby.buildkit.buildinfo.v1': 'keeps unknown keys',
  };

  it('parses diff_ids, history, container config and keeps unknown keys', () => {
    const c = parseImageConfig(JSON.stringify(config));
    expect(c.rootfs.diff_ids).toEqual([l1, l2]);
    expect(c.history?.filter((h) => !h.empty_layer)).toHaveLength(2);
    expect(c.config?.Entrypoint).toBeNull();
    expect(c.config?.ExposedPorts).toEqual({ '80/tcp': {} });
    expect(c.variant).toBe('v8');
    expect((c as Record<string, unknown>)['moby.buildkit.buildinfo.v1']).toBe('keeps unknown keys');
  });

  it('accepts null or missing diff_ids as no layers', () => {
    const base = { architecture: 'amd64', os: 'linux' };
    expect(
      parseImageConfig(JSON.stringify({ ...base, rootfs: { type: 'layers', diff_ids: null } })).rootfs
        .diff_ids,
    ).toEqual([]);
    expect(parseImageConfig(JSON.stringify({ ...base, rootfs: { type: 'layers' } })).rootfs.diff_ids).toEqual(
      [],
    );
    expectError(() => parseImageConfig(JSON.stringify(base)), 'ERR_INVALID_MANIFEST', /rootfs/);
  });

  it('rejects a bad diff_id and a wrong rootfs type', () => {
    const bad = structuredClone(config);
    bad.rootfs.diff_ids[1] = 'sha256:nope';
    expectError(() => parseImageConfig(JSON.stringify(bad)), 'ERR_INVALID_MANIFEST', /rootfs\.diff_ids\.1/);
    const wrongType = { ...config, rootfs: { type: 'tarball', diff_ids: [] } };
    expectError(() => parseImageConfig(JSON.stringify(wrongType)), 'ERR_INVALID_MANIFEST', /rootfs\.type/);
  });

  it('rejects config bytes that are not JSON', () => {
    expectError(() => parseImageConfig('nope'), 'ERR_INVALID_MANIFEST', /image config is not valid JSON/);
  });
});
