// `artifact cat` and `artifact read`: a payload file comes out byte for byte, checked against the
// manifest; a damaged artifact never leaves an -o file; `read` is `inspect` under
// mender-artifact's name.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCapture } from './support.js';

describe('artifact cat / read', () => {
  let work: string;
  let artifact: string;
  const big = Buffer.alloc(300_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-cat-'));
    await writeFile(join(work, 'manifest.yaml'), 'services: {}\n');
    await writeFile(join(work, 'blob.bin'), big);
    artifact = join(work, 'a.mender');
    const w = await runCapture(
      [
        'artifact',
        'write',
        'module-image',
        '-T',
        'app',
        '-t',
        'dev',
        '-n',
        'cat-1',
        '-f',
        'manifest.yaml',
        '-f',
        'blob.bin',
        '-o',
        artifact,
      ],
      { cwd: work },
    );
    expect(w.code, w.err).toBe(0);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('streams a payload file to stdout or -o, byte for byte', async () => {
    const out = await runCapture(['artifact', 'cat', artifact, 'manifest.yaml']);
    expect(out.code, out.err).toBe(0);
    expect(out.out).toBe('services: {}\n');
    const r = await runCapture(['artifact', 'cat', artifact, 'blob.bin', '-o', join(work, 'blob.out')]);
    expect(r.code, r.err).toBe(0);
    expect((await readFile(join(work, 'blob.out'))).equals(big)).toBe(true);
    const missing = await runCapture(['artifact', 'cat', artifact, 'nope.txt']);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('no payload file named nope.txt');
  });

  it('a damaged payload fails and leaves no -o file', async () => {
    const bytes = Buffer.from(await readFile(artifact));
    // flip a byte near the end of the artifact: inside data/0000.tar.gz
    const at = bytes.length - 2000;
    bytes[at] = (bytes[at] as number) ^ 0xff;
    const damaged = join(work, 'damaged.mender');
    await writeFile(damaged, bytes);
    const r = await runCapture(['artifact', 'cat', damaged, 'blob.bin', '-o', join(work, 'bad.out')]);
    expect(r.code).toBe(2);
    expect(existsSync(join(work, 'bad.out'))).toBe(false);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(work)).filter((x) => x.includes('.tmp-'))).toEqual([]);
  });

  it('artifact read is artifact inspect', async () => {
    const a = await runCapture(['artifact', 'read', artifact, '--json']);
    const b = await runCapture(['artifact', 'inspect', artifact, '--json']);
    expect(a.code, a.err).toBe(0);
    expect(a.out).toBe(b.out);
    expect(JSON.parse(a.out).headerInfo.artifact_provides.artifact_name).toBe('cat-1');
  });
});
