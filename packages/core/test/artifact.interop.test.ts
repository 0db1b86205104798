/**
 * Interop of our Mender artifact writer/reader with the real `mender-artifact` (Debian 3.9):
 * everything we write passes `mender-artifact read` and `validate` and reads back with the same
 * fields as the artifact mender-artifact writes for the same options (the uncompressed header
 * tar is byte-identical); artifacts mender-artifact writes read with our reader; tampered
 * artifacts are rejected by both.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { isOciDeltaError } from '../src/index.js';
import {
  type ArtifactInfo,
  openArtifactPayload,
  readArtifact,
  type WriteArtifactOptions,
  writeArtifact,
} from '../src/mender/index.js';
import {
  codeOf,
  drain,
  ecKeys,
  flipByte,
  type KeySet,
  menderArtifact,
  menderWriteArgs,
  normalizedRead,
  outerMembers,
  rsaKeys,
  tarCat,
} from './artifact-helpers.js';

let dir: string;
let fileA: string;
let fileB: string;
let rsa: KeySet;
let ec: KeySet;
const keyFiles: Record<string, string> = {};

function keyFile(name: string, pem: string): string {
  const p = join(dir, name);
  writeFileSync(p, pem);
  return p;
}

function headerTarBytes(file: string): Buffer {
  const names = outerMembers(file).map((m) => m.name);
  const header = names.find((n) => n.startsWith('header.tar'))!;
  const stored = tarCat(file, header);
  if (header.endsWith('.xz')) return execFileSync('xz', ['-dc'], { input: stored });
  return header.endsWith('.gz') ? gunzipSync(stored) : stored;
}

describe.skipIf(!haveBinaries('mender-artifact', 'tar', 'xz'))(
  'Mender artifact interop with mender-artifact 3.9',
  () => {
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'ocidelta-artifact-'));
      fileA = join(dir, 'images.tar.gz');
      fileB = join(dir, 'manifests,v1.txt');
      writeFileSync(fileA, Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251)));
      writeFileSync(fileB, 'services:\n  web: {}\n');
      rsa = rsaKeys();
      ec = ecKeys();
      keyFiles.rsa1 = keyFile('rsa-pkcs1.pem', rsa.pkcs1!);
      keyFiles.rsaPub = keyFile('rsa.pub', rsa.spki);
      keyFiles.ec1 = keyFile('ec-sec1.pem', ec.sec1!);
      keyFiles.ecPub = keyFile('ec.pub', ec.spki);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    const base = (): WriteArtifactOptions => ({
      type: 'app',
      artifactName: 'web-1.0',
      deviceTypes: ['raspberrypi4'],
      files: [fileA, fileB],
    });

    interface Variant {
      name: string;
      options: () => WriteArtifactOptions;
      key?: () => { ours: string; theirs: string; pub: string };
    }
    const variants: Variant[] = [
      { name: 'defaults (gzip)', options: base },
      { name: 'compression none', options: () => ({ ...base(), compression: 'none' }) },
      { name: 'compression xz', options: () => ({ ...base(), compression: 'xz' }) },
      {
        name: 'several device types, groups, artifact depends',
        options: () => ({
          ...base(),
          deviceTypes: ['raspberrypi4', 'qemux86-64', 'beaglebone'],
          artifactGroup: 'fleet-a',
          dependsArtifactName: ['web-0.9', 'web-0.8'],
          dependsGroups: ['fleet-a', 'fleet-b'],
        }),
      },
      {
        name: 'provides, depends (value with colon), clears, software name/version, meta-data',
        options: () => ({
          ...base(),
          provides: { 'data-partition.web.version': '7', zeta: 'z' },
          depends: { 'rootfs-image.web.version': 'v1:rc2', alpha: 'a' },
          clearsProvides: ['data-partition.web.*'],
          softwareName: 'web',
          softwareVersion: '1.0.3',
          metaData: {
            application_name: 'web',
            orchestrator: 'docker-compose',
            version: '1.0',
            platform: 'linux/arm64',
            images: ['b', 'a'],
            html: '<a href="x">&</a>',
            nested: { z: 1, a: [1.5, -2.5, 1e21, 1e-7, null, true, '\u2028\b'] },
          },
        }),
      },
      {
        name: 'software filesystem, no default clears',
        options: () => ({
          ...base(),
          softwareFilesystem: 'app-fs',
          softwareVersion: '3',
          noDefaultClearsProvides: true,
          clearsProvides: ['a.*', 'b.*'],
        }),
      },
      {
        name: 'no default software version',
        options: () => ({ ...base(), noDefaultSoftwareVersion: true, provides: { k: 'v' } }),
      },
      {
        name: 'provides overriding the default software version',
        options: () => ({ ...base(), provides: { 'rootfs-image.app.version': 'pinned' } }),
      },
      {
        name: 'signed RSA (PKCS#1 key)',
        options: base,
        key: () => ({ ours: rsa.pkcs1!, theirs: keyFiles.rsa1!, pub: keyFiles.rsaPub! }),
      },
      {
        name: 'signed RSA (PKCS#8 key), compression none',
        options: () => ({ ...base(), compression: 'none' }),
        key: () => ({ ours: rsa.pkcs8, theirs: keyFiles.rsa1!, pub: keyFiles.rsaPub! }),
      },
      {
        name: 'signed ECDSA P-256 (SEC1 key)',
        options: base,
        key: () => ({ ours: ec.sec1!, theirs: keyFiles.ec1!, pub: keyFiles.ecPub! }),
      },
      {
        name: 'signed ECDSA P-256 (PKCS#8 key)',
        options: () => ({ ...base(), deviceTypes: ['a', 'b'] }),
        key: () => ({ ours: ec.pkcs8, theirs: keyFiles.ec1!, pub: keyFiles.ecPub! }),
      },
    ];

    for (const [i, v] of variants.entries()) {
      it(`writes an artifact mender-artifact accepts: ${v.name}`, async () => {
        const options = v.options();
        const key = v.key?.();
        const ours = join(dir, `ours-${i}.mender`);
        const theirs = join(dir, `theirs-${i}.mender`);
        const result = await writeArtifact(ours, { ...options, signingKey: key?.ours });
        expect(result.signed).toBe(key !== undefined);

        const validate = menderArtifact(['validate', ...(key ? ['-k', key.pub] : []), ours]);
        expect(validate.stderr + validate.stdout).toContain('validated successfully');
        expect(validate.status).toBe(0);

        const w = menderArtifact(menderWriteArgs(options, dir, theirs, key?.theirs));
        expect(w.stderr).toBe('');
        expect(w.status).toBe(0);

        // What mender-artifact prints for ours equals what it prints for its own artifact.
        const readOurs = normalizedRead(ours, key?.pub);
        expect(readOurs).toBe(normalizedRead(theirs, key?.pub));
        if (key) expect(readOurs).toContain('Signature: signed and verified correctly');
        else expect(readOurs).toContain('Signature: no signature');
        expect(readOurs).toContain(`Name: ${options.artifactName}`);
        expect(readOurs).toContain(`Compatible devices: '[${options.deviceTypes.join(' ')}]'`);
        expect(readOurs).toContain(`Provides group: ${options.artifactGroup ?? ''}\n`);
        expect(readOurs).toContain(
          `Depends on one of artifact(s): [${(options.dependsArtifactName ?? []).join(', ')}]`,
        );
        expect(readOurs).toContain(
          `Depends on one of group(s): [${(options.dependsGroups ?? []).join(', ')}]`,
        );
        for (const [k, val] of Object.entries(options.depends ?? {}))
          expect(readOurs).toContain(`\t${k}: ${val}\n`);
        for (const c of options.clearsProvides ?? [])
          expect(readOurs).toMatch(new RegExp(`Clears Provides: \\[.*"${c.replace(/[.*]/g, '\\$&')}"`));
        expect(readOurs).toMatch(/name: {5}images\.tar\.gz\n\s+size: {5}70000\n/);

        // JSON byte compatibility: the uncompressed header tars are identical.
        expect(headerTarBytes(ours).equals(headerTarBytes(theirs))).toBe(true);
        // Same member list and order, same manifest (payload and version hashes).
        expect(outerMembers(ours).map((m) => m.name)).toEqual(outerMembers(theirs).map((m) => m.name));
        const manifestLines = (f: string) =>
          tarCat(f, 'manifest')
            .toString()
            .split('\n')
            .filter((l) => !l.includes('header.tar'));
        expect(manifestLines(ours)).toEqual(manifestLines(theirs));

        // Our reader agrees with itself on both.
        const readOpts = key ? { publicKey: readFileSync(key.pub, 'utf8') } : {};
        const infoOurs = await readArtifact(ours, readOpts);
        const infoTheirs = await readArtifact(theirs, readOpts);
        const strip = (x: ArtifactInfo) => ({
          ...x,
          path: '',
          size: 0,
          manifest: [],
          payloads: x.payloads.map((p) => ({ ...p, mtime: 0 })),
        });
        expect(strip(infoOurs)).toEqual(strip(infoTheirs));
        expect(infoOurs.signatureVerified).toBe(key !== undefined);
        expect(result.checksums['data/0000/images.tar.gz']).toBe(infoTheirs.payloads[0]!.sha256);
      });
    }

    it('multi-block parallel gzip (compressible, incompressible, mixed blocks) reads in Go and in ours', async () => {
      const { randomBytes } = await import('node:crypto');
      const text = Buffer.from('service web uses image registry.example.com/web:1.0\n'.repeat(40_000));
      const big = join(dir, 'big.bin');
      // 2 MB text, 3 MB random (stored after probing), 2 MB text again, odd tail.
      writeFileSync(big, Buffer.concat([text, randomBytes(3_000_000), text, randomBytes(12_345)]));
      const out = join(dir, 'big.mender');
      await writeArtifact(out, { ...base(), files: [big] });
      const v = menderArtifact(['validate', out]);
      expect(v.stderr + v.stdout).toContain('validated successfully');
      const content = await drain(await openArtifactPayload(out, 'big.bin'));
      expect(content.equals(readFileSync(big))).toBe(true);
      // The text compressed, the random part did not blow up.
      expect(outerMembers(out).find((m) => m.name === 'data/0000.tar.gz')!.size).toBeLessThan(3_200_000);
    });

    it('reads artifacts written by mender-artifact: fields, payloads, signature', async () => {
      const options: WriteArtifactOptions = {
        ...base(),
        deviceTypes: ['d1', 'd2'],
        artifactGroup: 'g',
        dependsArtifactName: ['prev'],
        provides: { p: 'q' },
        depends: { 'x.y': 'a:b' },
        metaData: { application_name: 'web', n: 2 },
      };
      const theirs = join(dir, 'reverse.mender');
      expect(menderArtifact(menderWriteArgs(options, dir, theirs, keyFiles.ec1)).status).toBe(0);
      const info = await readArtifact(theirs, { publicKey: ec.spki });
      expect(info.version).toEqual({ format: 'mender', version: 3 });
      expect(info.signed).toBe(true);
      expect(info.signatureVerified).toBe(true);
      expect(info.compression).toBe('gzip');
      expect(info.headerInfo).toEqual({
        payloads: [{ type: 'app' }],
        artifact_provides: { artifact_name: 'web-1.0', artifact_group: 'g' },
        artifact_depends: { artifact_name: ['prev'], device_type: ['d1', 'd2'] },
      });
      expect(info.typeInfo).toEqual({
        type: 'app',
        artifact_depends: { 'x.y': 'a:b' },
        artifact_provides: { p: 'q', 'rootfs-image.app.version': 'web-1.0' },
        clears_artifact_provides: ['rootfs-image.app.*'],
      });
      expect(info.metaData).toEqual({ application_name: 'web', n: 2 });
      expect(info.payloads.map((p) => [p.name, p.size])).toEqual([
        ['images.tar.gz', 70_000],
        ['manifests,v1.txt', readFileSync(fileB).length],
      ]);
      const content = await drain(
        await openArtifactPayload(theirs, 'manifests,v1.txt', { publicKey: ec.spki }),
      );
      expect(content.equals(readFileSync(fileB))).toBe(true);
      const big = await drain(await openArtifactPayload(theirs, 'images.tar.gz'));
      expect(big.equals(readFileSync(fileA))).toBe(true);

      // The wrong key is a bad signature; an unsigned artifact with a key is rejected.
      expect((await codeOf(readArtifact(theirs, { publicKey: rsa.spki }))).code).toBe(
        'ERR_ARTIFACT_SIGNATURE',
      );
      const unsigned = join(dir, 'reverse-unsigned.mender');
      expect(menderArtifact(menderWriteArgs({ ...options, compression: 'none' }, dir, unsigned)).status).toBe(
        0,
      );
      const u = await readArtifact(unsigned);
      expect(u.signed).toBe(false);
      expect(u.compression).toBe('none');
      expect((await codeOf(readArtifact(unsigned, { publicKey: ec.spki }))).message).toContain('not signed');
    });

    it('reads xz artifacts from mender-artifact (--compression lzma): header and payloads', async () => {
      const theirs = join(dir, 'lzma.mender');
      const args = menderWriteArgs(base(), dir, theirs);
      args[args.indexOf('--compression') + 1] = 'lzma';
      expect(menderArtifact(args).status).toBe(0);
      const info = await readArtifact(theirs);
      expect(info.compression).toBe('xz');
      expect(info.headerInfo.artifact_provides.artifact_name).toBe('web-1.0');
      const big = await drain(await openArtifactPayload(theirs, 'images.tar.gz'));
      expect(big.equals(readFileSync(fileA))).toBe(true);
    });

    it('writes xz artifacts mender-artifact reads and validates, signed, at every thread count', async () => {
      for (const [threads, level] of [
        [1, 6],
        [2, 0],
      ] as const) {
        const ours = join(dir, `ours-xz-${threads}.mender`);
        const result = await writeArtifact(ours, {
          ...base(),
          compression: 'xz',
          compressionLevel: level,
          compressionThreads: threads,
          signingKey: ec.pkcs8,
        });
        expect(result.compression).toBe('xz');
        const read = menderArtifact(['read', ours]);
        expect(read.status, read.stderr).toBe(0);
        expect(read.stdout).toContain('web-1.0');
        const validate = menderArtifact(['validate', '-k', keyFiles.ecPub!, ours]);
        expect(validate.status, validate.stderr).toBe(0);
        const info = await readArtifact(ours, { publicKey: ec.spki });
        expect(info.compression).toBe('xz');
        expect(info.signatureVerified).toBe(true);
        const big = await drain(await openArtifactPayload(ours, 'images.tar.gz'));
        expect(big.equals(readFileSync(fileA))).toBe(true);
      }
    });

    describe('tampering is rejected by our reader and by mender-artifact validate', () => {
      const cases = [
        { compression: 'none' as const, signed: false },
        { compression: 'gzip' as const, signed: false },
        { compression: 'none' as const, signed: true },
      ];
      for (const c of cases) {
        const label = `${c.compression}${c.signed ? ', signed' : ''}`;
        const setup = async () => {
          const sub = join(dir, `tamper-${c.compression}-${c.signed}`);
          mkdirSync(sub, { recursive: true });
          const art = join(sub, 'good.mender');
          await writeArtifact(art, {
            ...base(),
            compression: c.compression,
            signingKey: c.signed ? rsa.pkcs1 : undefined,
          });
          const opts = c.signed ? { publicKey: rsa.spki } : {};
          const vArgs = c.signed ? ['-k', keyFiles.rsaPub!] : [];
          return { sub, art, opts, vArgs, members: outerMembers(art) };
        };
        const member = (ms: ReturnType<typeof outerMembers>, prefix: string) =>
          ms.find((m) => m.name.startsWith(prefix))!;

        it(`payload byte (${label})`, async () => {
          const { sub, art, opts, vArgs, members } = await setup();
          expect((await readArtifact(art, opts)).checksumsVerified).toBe(true);
          const data = member(members, 'data/0000.tar');
          const bad = join(sub, 'payload.mender');
          // Uncompressed: first byte of the first payload file; gzip: a byte in the deflate body.
          flipByte(art, bad, data.offset + (c.compression === 'none' ? 512 + 10 : Math.floor(data.size / 2)));
          const err = await codeOf(readArtifact(bad, opts));
          if (c.compression === 'none') {
            expect(err.code).toBe('ERR_ARTIFACT_CHECKSUM');
            expect(err.message).toContain('data/0000/images.tar.gz');
          } else {
            expect(['ERR_ARTIFACT_CHECKSUM', 'ERR_INVALID_ARTIFACT']).toContain(err.code);
          }
          expect(menderArtifact(['validate', ...vArgs, bad]).status).not.toBe(0);
          // Streaming the tampered payload errors too.
          const stream = await openArtifactPayload(bad, 'images.tar.gz', opts).catch((e: unknown) => e);
          if (stream instanceof Error) expect(isOciDeltaError(stream)).toBe(true);
          else await expect(drain(stream as AsyncIterable<Uint8Array>)).rejects.toThrow();
        });

        it(`header.tar byte (${label})`, async () => {
          const { sub, art, opts, vArgs, members } = await setup();
          const header = member(members, 'header.tar');
          const bad = join(sub, 'header.mender');
          const at =
            c.compression === 'none'
              ? readFileSync(art).indexOf('web-1.0', header.offset)
              : header.offset + 20;
          flipByte(art, bad, at);
          const err = await codeOf(readArtifact(bad, opts));
          expect(err.code).toBe('ERR_ARTIFACT_CHECKSUM');
          expect(err.message).toContain('header.tar');
          expect(menderArtifact(['validate', ...vArgs, bad]).status).not.toBe(0);
        });

        it(`manifest byte (${label})`, async () => {
          const { sub, art, opts, vArgs, members } = await setup();
          const m = member(members, 'manifest');
          const bad = join(sub, 'manifest.mender');
          const ch = readFileSync(art)[m.offset]!;
          flipByte(art, bad, m.offset, ch === 0x30 ? 0x31 : 0x30); // still a hex digit
          const err = await codeOf(readArtifact(bad, opts));
          expect(err.code).toBe(c.signed ? 'ERR_ARTIFACT_SIGNATURE' : 'ERR_ARTIFACT_CHECKSUM');
          expect(menderArtifact(['validate', ...vArgs, bad]).status).not.toBe(0);
        });

        if (c.signed) {
          it(`manifest.sig byte (${label})`, async () => {
            const { sub, art, opts, vArgs, members } = await setup();
            const sig = member(members, 'manifest.sig');
            const bad = join(sub, 'sig.mender');
            const ch = readFileSync(art)[sig.offset + 10]!;
            flipByte(art, bad, sig.offset + 10, ch === 0x41 ? 0x42 : 0x41); // still base64
            const err = await codeOf(readArtifact(bad, opts));
            expect(err.code).toBe('ERR_ARTIFACT_SIGNATURE');
            expect(menderArtifact(['validate', ...vArgs, bad]).status).not.toBe(0);
          });
        }
      }
    });
  },
);
