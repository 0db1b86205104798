// The everyday registry commands against the real docker-registry (deletes enabled): tag, delete,
// catalog, blob, config; results checked with skopeo.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import {
  buildTestLayout,
  digestOfBytes,
  type RunningRegistry,
  skopeoInspectRaw,
  skopeoListTags,
  skopeoPushLayout,
  startRegistry,
} from '../../registry/test/harness/index.js';
import { runCapture } from './support.js';

describe.skipIf(!haveBinaries('docker-registry', 'skopeo'))('tag, delete, catalog, blob, config', () => {
  let reg: RunningRegistry;
  let work: string;
  let layout: Awaited<ReturnType<typeof buildTestLayout>>;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-everyday-'));
    reg = await startRegistry({ deleteEnabled: true });
    layout = await buildTestLayout(join(work, 'l'), [
      { platform: { os: 'linux', architecture: 'amd64' }, label: 'everyday' },
    ]);
    await skopeoPushLayout(layout, reg.host, 'ev/app:1');
  });
  afterAll(async () => {
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('tag adds tags without copying blobs; catalog lists repositories', async () => {
    const r = await runCapture(['tag', `${reg.host}/ev/app:1`, 'stable', 'latest', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({
      digest: layout.digest,
      tagged: [`${reg.host}/ev/app:stable`, `${reg.host}/ev/app:latest`],
    });
    expect((await skopeoListTags(`${reg.host}/ev/app`)).sort()).toEqual(['1', 'latest', 'stable']);
    expect(digestOfBytes(Buffer.from(await skopeoInspectRaw(`${reg.host}/ev/app:stable`)))).toBe(
      layout.digest,
    );
    const bad = await runCapture(['tag', `${reg.host}/ev/app:1`, 'other/repo:2']);
    expect(bad.code).toBe(1);
    const cat = await runCapture(['catalog', reg.host, '--json']);
    expect(cat.code, cat.err).toBe(0);
    expect(JSON.parse(cat.out).Repositories).toContain('ev/app');
  });

  it('blob fetches by digest, verified; config prints the image config', async () => {
    const image = layout.images[0];
    if (!image) throw new Error('no image');
    const layer = image.layers[0];
    if (!layer) throw new Error('no layer');
    const out = join(work, 'layer.bin');
    const r = await runCapture(['blob', `${reg.host}/ev/app@${layer.digest}`, '-o', out]);
    expect(r.code, r.err).toBe(0);
    expect(digestOfBytes(await readFile(out))).toBe(layer.digest);
    const noDigest = await runCapture(['blob', `${reg.host}/ev/app:1`]);
    expect(noDigest.code).toBe(1);
    const missing = await runCapture([
      'blob',
      `${reg.host}/ev/app@sha256:${'0'.repeat(64)}`,
      '-o',
      join(work, 'none'),
    ]);
    expect(missing.code).toBe(2);
    const config = await runCapture(['config', `${reg.host}/ev/app:1`]);
    expect(config.code, config.err).toBe(0);
    expect(digestOfBytes(Buffer.from(config.out.slice(0, -1)))).toBe(image.config.digest);
    expect(JSON.parse(config.out).architecture).toBe('amd64');
  });

  it('delete removes the manifest (all its tags)', async () => {
    const r = await runCapture(['delete', `docker://${reg.host}/ev/app:stable`]);
    expect(r.code, r.err).toBe(0);
    const gone = await runCapture(['digest', `${reg.host}/ev/app:1`]);
    expect(gone.code).toBe(2);
    expect(gone.err).toContain('ERR_MANIFEST_UNKNOWN');
  });
});
