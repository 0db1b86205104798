// `artifact sign` as mender-artifact sign: the real `mender-artifact validate -k` accepts what we
// signed (ECDSA P-256 and RSA), payloads are unchanged, a signed artifact needs -f, and a damaged
// artifact is refused before anything is written.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readArtifact } from '@ocidelta/core/mender';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { runCapture } from './support.js';

describe.skipIf(!haveBinaries('mender-artifact'))('artifact sign', () => {
  let work: string;
  let unsigned: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-sign-'));
    await writeFile(join(work, 'payload.bin'), Buffer.alloc(100_000, 9));
    unsigned = join(work, 'unsigned.mender');
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
        'sign-1',
        '-f',
        'payload.bin',
        '-o',
        unsigned,
      ],
      { cwd: work },
    );
    expect(w.code, w.err).toBe(0);
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const kind of ['ec', 'rsa'] as const) {
    it(`${kind}: mender-artifact validate -k accepts the signed artifact; payloads unchanged`, async () => {
      const pair =
        kind === 'ec'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
      const key = join(work, `${kind}.pem`);
      const pub = join(work, `${kind}.pub`);
      await writeFile(key, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await writeFile(pub, pair.publicKey.export({ type: 'spki', format: 'pem' }));
      const out = join(work, `${kind}.mender`);
      const r = await runCapture(['artifact', 'sign', unsigned, '-k', key, '-o', out]);
      expect(r.code, r.err).toBe(0);
      execFileSync('mender-artifact', ['validate', '-k', pub, out]);
      const read = execFileSync('mender-artifact', ['read', '-k', pub, out]).toString();
      expect(read).toMatch(/Signature: signed and verified correctly/);
      const before = await readArtifact(unsigned);
      const after = await readArtifact(out, { publicKey: await readFile(pub, 'utf8') });
      expect(after.signatureVerified).toBe(true);
      expect(after.manifest).toEqual(before.manifest);
      // signed already: --force to sign again, in place (-f in `ocidelta mender-artifact sign`)
      const again = await runCapture(['artifact', 'sign', out, '-k', key]);
      expect(again.code).toBe(2);
      expect(again.err).toContain('is already signed');
      const forced = await runCapture(['artifact', 'sign', out, '-k', key, '--force']);
      expect(forced.code, forced.err).toBe(0);
      expect((await runCapture(['artifact', 'sign', out, '-k', key, '-f'])).code).toBe(1);
      const compat = await runCapture(['mender-artifact', 'sign', out, '-k', key, '-f']);
      expect(compat.code, compat.err).toBe(0);
      execFileSync('mender-artifact', ['validate', '-k', pub, out]);
    });
  }

  it('a damaged artifact is refused before anything is written', async () => {
    const bytes = Buffer.from(await readFile(unsigned));
    bytes[bytes.length - 3000] = (bytes[bytes.length - 3000] as number) ^ 0xff;
    const damaged = join(work, 'damaged.mender');
    await writeFile(damaged, bytes);
    const r = await runCapture([
      'artifact',
      'sign',
      damaged,
      '-k',
      join(work, 'ec.pem'),
      '-o',
      join(work, 'never.mender'),
    ]);
    expect(r.code).toBe(2);
    const names = await readdir(work);
    expect(names.filter((n) => n.startsWith('never.mender') || n.includes('.tmp-'))).toEqual([]);
  });
});
