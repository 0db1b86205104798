import { type Digest, digestOf, isOciDeltaError } from '@ocidelta/core';
import { describe, expect, it } from 'vitest';
import { pairLayers } from '../src/deep/pair-layers.js';
import { sourcePath } from '../src/deep/source-path.js';

const d = (s: string): Digest => digestOf(s);
const layers = (...names: string[]) => names.map((n) => ({ diffId: d(n) }));

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isOciDeltaError(err) ? err.code : `not an OciDeltaError: ${String(err)}`;
  }
  return undefined;
}

describe('pairLayers', () => {
  it('pairs by index and marks identical layers unchanged', () => {
    const pairs = pairLayers(layers('base', 'app1'), layers('base', 'app2'));
    expect(pairs).toEqual([
      { index: 0, sourceIndex: 0, unchanged: true, reason: 'same-diff-id' },
      { index: 1, sourceIndex: 1, unchanged: false, reason: 'same-index' },
    ]);
  });

  it('uses a current layer with the same diff_id wherever it sits', () => {
    const pairs = pairLayers(layers('base', 'app1'), layers('base', 'extra', 'app1'));
    expect(pairs.map((p) => [p.sourceIndex, p.unchanged])).toEqual([
      [0, true],
      [1, false],
      [1, true],
    ]);
  });

  it('encodes new layers beyond the current count against the last current layer', () => {
    const pairs = pairLayers(layers('base', 'app1'), layers('base', 'app2', 'plugin', 'more'));
    expect(pairs.slice(2)).toEqual([
      { index: 2, sourceIndex: 1, unchanged: false, reason: 'beyond-current' },
      { index: 3, sourceIndex: 1, unchanged: false, reason: 'beyond-current' },
    ]);
  });

  it('refuses when the current image has more layers than the new one', () => {
    expect(code(() => pairLayers(layers('a', 'b', 'c'), layers('a', 'b')))).toBe('ERR_NO_DEEP_DELTA');
  });

  it('refuses when the current image has no layers', () => {
    expect(code(() => pairLayers([], layers('a')))).toBe('ERR_NO_DEEP_DELTA');
  });
});

describe('sourcePath (device store modes)', () => {
  const gz = { digest: d('compressed'), diffId: d('uncompressed'), compression: 'gzip' as const };
  const hex = (x: Digest) => x.slice('sha256:'.length);

  it('classic names the current layer by diff_id', () => {
    expect(sourcePath(gz)).toBe(`blobs/sha256/${hex(gz.diffId)}`);
    expect(sourcePath(gz, { deviceStore: 'classic', currentOrigin: 'registry' })).toBe(
      `blobs/sha256/${hex(gz.diffId)}`,
    );
  });

  it('containerd names a pulled image layer by its compressed blob digest', () => {
    expect(sourcePath(gz, { deviceStore: 'containerd' })).toBe(`blobs/sha256/${hex(gz.digest)}`);
  });

  it('containerd names an artifact-loaded image layer by diff_id', () => {
    expect(sourcePath(gz, { deviceStore: 'containerd', currentOrigin: 'artifact' })).toBe(
      `blobs/sha256/${hex(gz.diffId)}`,
    );
  });

  it('refuses a zstd blob in the containerd store (stock xdelta3 cannot decompress it)', () => {
    const zstd = { ...gz, compression: 'zstd' as const };
    expect(code(() => sourcePath(zstd, { deviceStore: 'containerd' }))).toBe('ERR_NO_DEEP_DELTA');
    expect(sourcePath(zstd, { deviceStore: 'classic' })).toBe(`blobs/sha256/${hex(gz.diffId)}`);
  });

  it('rejects unknown modes', () => {
    // biome-ignore lint/suspicious/noExplicitAny: deliberately invalid input from an untyped caller
    expect(code(() => sourcePath(gz, { deviceStore: 'overlay' as any }))).toBe('ERR_INVALID_OPTIONS');
  });
});
