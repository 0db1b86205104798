// The store's layout (pure): deterministic tags from the delta key, tag-safe release tags,
// manifests that parse back, and refusal of anything that is not one of ours.
import { describe, expect, it } from 'vitest';
import { type DeltaKey, deltaKeyId } from '../src/app/delta-key.js';
import {
  DELTA_ARTIFACT_TYPE,
  deltaManifest,
  deltaTag,
  parseDeltaRecord,
  parseStoreManifest,
  releaseManifest,
  releaseTags,
} from '../src/app/store-format.js';

const key: DeltaKey = {
  from: `sha256:${'1'.repeat(64)}`,
  to: `sha256:${'2'.repeat(64)}`,
  deviceStore: 'classic',
  delivery: 'registry',
  repoTags: ['reg/app:2'],
  platform: 'linux/arm64',
  sourceWindow: 64 * 1024 * 1024,
};
const blob = (n: string, size = 10) => ({
  mediaType: 'x',
  digest: `sha256:${n.repeat(64)}` as `sha256:${string}`,
  size,
});

describe('store format', () => {
  it('derives one tag per key: every field counts', () => {
    expect(deltaTag(key)).toMatch(/^delta-[0-9a-f]{40}$/);
    expect(deltaTag({ ...key })).toBe(deltaTag(key));
    for (const change of [
      { sourceWindow: 1 << 20 },
      { platform: 'linux/amd64' },
      { deviceStore: 'containerd' as const },
      { repoTags: [] },
    ])
      expect(deltaTag({ ...key, ...change })).not.toBe(deltaTag(key));
    expect(deltaTag(key).slice(6)).toBe(deltaKeyId(key).slice(0, 40));
  });

  it('makes release tags tag-safe without collisions', () => {
    expect(releaseTags('shop', '1.2.0')).toEqual({
      version: 'release-shop-v1.2.0',
      latest: 'release-shop-latest',
    });
    const dev = releaseTags('shop', '1.2.0+abc1234+uuid');
    expect(dev.version).toMatch(/^release-shop-v1\.2\.0_abc1234_uuid-[0-9a-f]{8}$/);
    expect(releaseTags('shop', '1.2.0_abc1234_uuid').version).not.toBe(dev.version);
    expect(releaseTags('a,b', '1').latest).toMatch(/^release-a_b-[0-9a-f]{8}-latest$/);
    for (const t of [dev.version, releaseTags('x'.repeat(300), 'y'.repeat(300)).version])
      expect(t).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
  });

  it('writes manifests that parse back and refuses foreign ones', () => {
    const d = parseStoreManifest(deltaManifest(blob('a'), blob('b', 99), '2026-12-02T00:00:00Z'), 'x');
    expect(d).toMatchObject({ kind: 'delta', image: { size: 99 }, createdAt: '2026-12-02T00:00:00Z' });
    expect(JSON.parse(deltaManifest(blob('a'), blob('b'), 't').toString()).artifactType).toBe(
      DELTA_ARTIFACT_TYPE,
    );
    expect(parseStoreManifest(releaseManifest(blob('c'), 't'), 'x').kind).toBe('release');
    const image = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: { ...blob('d'), mediaType: 'application/vnd.oci.image.config.v1+json' },
        layers: [],
      }),
    );
    expect(() => parseStoreManifest(image, 'reg/x:delta-1')).toThrowError(/not an ocidelta store entry/);
    expect(() => parseDeltaRecord(Buffer.from('{"from":1}'), 'r')).toThrowError(/not a deep-delta record/);
  });
});
