// Documents read before parsing are size-checked first: manifests and configs by their
// descriptor's size before a byte is read, layout files by their size on disk.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  digestOf,
  jsonBytes,
  loadImage,
  MAX_CONFIG_SIZE,
  MediaType,
  OciLayout,
  readBlob,
  readFileLimited,
} from '../src/index.js';
import { expectCode, MemorySource } from './layout-fixtures.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ocidelta-limits-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A source that fails the test if anything is opened: the limit must act before reading. */
const untouchable = {
  openBlob: () => {
    throw new Error('opened a blob whose descriptor is over the limit');
  },
};

describe('document size limits', () => {
  it('refuses a config whose descriptor claims more than the config limit, before reading it', async () => {
    const manifest = jsonBytes({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: {
        mediaType: MediaType.OciConfig,
        digest: digestOf(Buffer.from('x')),
        size: MAX_CONFIG_SIZE + 1,
      },
      layers: [],
    });
    await expectCode(loadImage(untouchable, manifest), 'ERR_INVALID_MANIFEST', 'limit');
  });

  it('refuses a manifest descriptor over 4 MiB and reads one within it', async () => {
    const bytes = Buffer.from('{}');
    const source = new MemorySource();
    source.put(bytes);
    const d = { mediaType: MediaType.OciManifest, digest: digestOf(bytes), size: bytes.length };
    expect((await readBlob(source, d)).toString()).toBe('{}');
    await expectCode(
      readBlob(untouchable, { ...d, size: 4 * 1024 * 1024 + 1 }),
      'ERR_INVALID_MANIFEST',
      'limit',
    );
  });

  it('refuses an index.json over the metadata limit without parsing it', async () => {
    const dir = join(work, 'layout');
    const layout = await OciLayout.create(dir);
    expect(await layout.readIndex()).toMatchObject({ schemaVersion: 2 });
    await writeFile(
      join(dir, 'index.json'),
      `{"schemaVersion":2,"manifests":[${' '.repeat(5 * 1024 * 1024)}]}`,
    );
    await expectCode(OciLayout.open(dir), 'ERR_INVALID_LAYOUT', 'larger than the limit');
  });

  it('readFileLimited checks the size before reading', async () => {
    const file = join(work, 'f');
    await writeFile(file, 'abcdef');
    expect((await readFileLimited(file, 6, 'f')).toString()).toBe('abcdef');
    await expectCode(readFileLimited(file, 5, 'f'), 'ERR_INPUT', 'larger than the limit of 5 bytes');
  });
});
