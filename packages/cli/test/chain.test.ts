// The chain's pure parts: tags from VERSION or a Debian changelog, build order with loops named,
// selections that bring parents along; and the pre-push check failing on a damaged layer.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImages, OciLayout, parseBuildSpec } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTree } from '../../core/test/build-helpers.js';
import { globPattern, orderChain, selectChain } from '../src/chain/graph.js';
import { type ChainImage, versionOf } from '../src/chain/tree.js';
import { verifyBuiltImage } from '../src/chain/verify.js';

const img = (name: string, parents: string[] = []): ChainImage => ({
  name,
  dir: `/t/${name}`,
  spec: { images: [{ os: 'linux', layers: [], tags: [] }] },
  tag: '1',
  parents,
});

describe('chain tags', () => {
  it('takes VERSION first, else the changelog top entry; refuses what is not a tag', () => {
    expect(versionOf('2.0.1\nnotes\n', 'x (9) unstable; urgency=low', 'd')).toBe('2.0.1');
    expect(versionOf(undefined, '\nnode (20.1-2) bookworm; urgency=medium\n\n  * x\n', 'd')).toBe('20.1-2');
    expect(() => versionOf(undefined, 'garbage line\n', 'd')).toThrow(
      /d\/changelog: the first entry is not "name \(version\) \.\.\."/,
    );
    expect(() => versionOf(undefined, 'pkg (1:2.0~rc1) unstable; urgency=low', 'd')).toThrow(
      /d\/changelog: "1:2\.0~rc1" is not a valid tag/,
    );
    expect(() => versionOf(undefined, undefined, 'd')).toThrow(/no VERSION file and no changelog/);
    expect(() => versionOf('\n', undefined, 'd')).toThrow(/d\/VERSION: "" is not a valid tag/);
  });
});

describe('chain graph', () => {
  const tree = [
    img('app', ['runtime']),
    img('runtime', ['base']),
    img('base'),
    img('tools'),
    img('cli', ['base', 'tools']),
  ];

  it('orders parents first, otherwise by name', () => {
    expect(orderChain(tree).map((i) => i.name)).toEqual(['base', 'runtime', 'app', 'tools', 'cli']);
  });

  it('names a loop and an unknown parent', () => {
    expect(() => orderChain([img('a', ['b']), img('b', ['a'])])).toThrow(/dependency loop: a -> b -> a/);
    expect(() => orderChain([img('self', ['self'])])).toThrow(/dependency loop: self -> self/);
    expect(() => orderChain([img('a', ['ghost'])])).toThrow(
      /a: parent "@ghost" is not an image of the tree \(known: a\)/,
    );
  });

  it('selects by glob with every ancestor, in build order; a glob matching nothing is an error', () => {
    const ordered = orderChain(tree);
    expect(selectChain(ordered, ['app']).map((i) => i.name)).toEqual(['base', 'runtime', 'app']);
    expect(selectChain(ordered, ['c?i', 'tool*']).map((i) => i.name)).toEqual(['base', 'tools', 'cli']);
    expect(selectChain(ordered, []).length).toBe(5);
    expect(() => selectChain(ordered, ['nope*'])).toThrow(/--select nope\* matches no image/);
    expect(globPattern('a.b*').test('axb')).toBe(false);
    expect(globPattern('a.b*').test('a.bc')).toBe(true);
  });
});

describe('chain verification', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-chain-verify-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('passes a good image; fails a damaged layer blob and a platform the spec does not ask for', async () => {
    await writeTree(join(work, 'fs'), { 'etc/a': 'a'.repeat(5000), 'bin/b': { content: 'b', mode: 0o755 } });
    const store = await OciLayout.create(join(work, 'store'));
    const spec = parseBuildSpec('images:\n  - {os: linux, architecture: arm64, layers: [fs]}\n');
    const built = await buildImages(spec, { store, baseDir: work });
    const image = built.images[0]?.image;
    const imageSpec = spec.images[0];
    if (!image || !imageSpec) throw new Error('no image');
    await verifyBuiltImage(image, imageSpec, 'x');
    await expect(verifyBuiltImage(image, { ...imageSpec, architecture: 'amd64' }, 'x')).rejects.toThrow(
      /x \(sha256:[0-9a-f]{64}\): platform is arm64\/v8, the spec asks for amd64/,
    );
    const layer = image.manifest.layers[0];
    if (!layer) throw new Error('no layer');
    await writeFile(store.blobPath(layer.digest), Buffer.alloc(layer.size, 1));
    // Both checks see the damage: gunzip at the first byte, the blob's digest at its end; which
    // one reports first depends on when zlib's thread answers (a small blob is one chunk).
    const cause = `(incorrect header check|digest mismatch: expected ${layer.digest}, got sha256:[0-9a-f]{64})`;
    await expect(verifyBuiltImage(image, imageSpec, 'x')).rejects.toMatchObject({
      code: 'ERR_VERIFY',
      message: expect.stringMatching(
        new RegExp(`^x: layer 0 \\(${layer.digest}\\) is not readable: ${cause}$`),
      ),
    });
  });
});
