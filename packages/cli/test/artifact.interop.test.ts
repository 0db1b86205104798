/**
 * `ocidelta artifact write module-image | inspect | validate` against the real mender-artifact:
 * the same argv given to both tools gives artifacts mender-artifact reads identically (so users
 * can swap the binary), values stay strings, flag order decides -p vs --software-*.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { type CliRun, runCapture } from './support.js';

let dir: string;

function mender(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('mender-artifact', args, { encoding: 'utf8', cwd: dir });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function menderRead(file: string, key?: string): string {
  const r = mender(['read', ...(key ? ['-k', key] : []), file]);
  expect(r.status).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => !/^\s*modified:/.test(l))
    .join('\n');
}

function headerTar(file: string): Buffer {
  return gunzipSync(execFileSync('tar', ['-xOf', file, 'header.tar.gz']));
}

function ocidelta(args: string[]): Promise<CliRun> {
  return runCapture(args, { cwd: dir });
}

describe.skipIf(!haveBinaries('mender-artifact', 'tar'))('ocidelta artifact commands', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ocidelta-cli-artifact-'));
    writeFileSync(join(dir, 'images.tar.gz'), Buffer.alloc(3000, 1));
    writeFileSync(join(dir, 'manifests.tar.gz'), Buffer.alloc(700, 2));
    writeFileSync(
      join(dir, 'meta.json'),
      JSON.stringify({
        application_name: 'web',
        orchestrator: 'docker-compose',
        version: '1.0',
        platform: 'linux/amd64',
      }),
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'key.pem'), ec.privateKey.export({ type: 'sec1', format: 'pem' }));
    writeFileSync(join(dir, 'key.pub'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const common = [
    '-T',
    'app',
    '-t',
    'qemux86-64',
    '-t',
    'raspberrypi4',
    '-f',
    'images.tar.gz',
    '-f',
    'manifests.tar.gz',
  ];
  const cases: Array<[string, string[]]> = [
    ['defaults', ['-n', 'web-1.0']],
    ['numbers stay strings', ['-n', '007', '--software-version', '1.0', '-p', 'n:1.50']],
    [
      'all the flags',
      [
        '-n',
        'web-2',
        '-m',
        'meta.json',
        '--software-name',
        'web',
        '--software-filesystem',
        'apps',
        '-d',
        'apps.web.version:1:rc',
        '-p',
        'x:y',
        '--clears-provides',
        'x.*',
        '-g',
        'grp',
        '-N',
        'web-1',
        '-G',
        'g1',
        '-G',
        'g2',
        '--compression',
        'gzip',
        '-k',
        'key.pem',
      ],
    ],
    [
      '-p after --software-version wins',
      ['-n', 'w', '--software-version', 'sv', '-p', 'rootfs-image.app.version:pv'],
    ],
    [
      '--software-version after -p wins',
      ['-n', 'w', '-p', 'rootfs-image.app.version:pv', '--software-version', 'sv'],
    ],
    [
      '-p alone wins over the default',
      ['-n', 'w', '--provides=rootfs-image.app.version:pv', '--no-default-clears-provides'],
    ],
    ['no default software version', ['-n', 'w', '--no-default-software-version']],
    [
      'no default software version, explicit version',
      ['-n', 'w', '--no-default-software-version', '--software-version', '5'],
    ],
  ];
  /**
   * `ocidelta mender-artifact write module-image` (mender-artifact's command line, letter for
   * letter) with the common flags, then `args`.
   */
  const writeModuleImage = (args: string[]) =>
    ocidelta(['mender-artifact', 'write', 'module-image', ...common, ...args]);
  for (const [i, [name, args]] of cases.entries()) {
    it(`writes what mender-artifact writes for the same flags: ${name}`, async () => {
      const ours = join(dir, `ours-${i}.mender`);
      const theirs = join(dir, `theirs-${i}.mender`);
      // Progress lines are off (--no-progress) so that stderr must be empty, as mender-artifact's.
      const r = await writeModuleImage([...args, '--no-progress', '-o', ours]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`wrote ${ours}`);
      const m = mender(['write', 'module-image', ...common, ...args, '-o', theirs]);
      expect(m.stderr).toBe('');
      const key = args.includes('-k') ? join(dir, 'key.pub') : undefined;
      const read = menderRead(ours, key);
      expect(read).toBe(menderRead(theirs, key));
      expect(headerTar(ours).equals(headerTar(theirs))).toBe(true);
      expect(mender(['validate', ...(key ? ['-k', key] : []), ours]).status).toBe(0);
      expect(read).toContain(`Name: ${args[args.indexOf('-n') + 1]}`);
      expect(read).toContain("Compatible devices: '[qemux86-64 raspberrypi4]'");
    });
  }

  it('inspect prints the fields; --json is the parsed artifact', async () => {
    const file = join(dir, 'ours-2.mender');
    const text = await ocidelta(['artifact', 'inspect', file, '--key', 'key.pub']);
    expect(text.code).toBe(0);
    expect(text.out).toContain('Name: web-2');
    expect(text.out).toContain('Signature: signed and verified');
    expect(text.out).toContain('apps.web.version: 1:rc');
    expect(text.out).toContain('images.tar.gz  3000 bytes');
    const json = await ocidelta(['artifact', 'inspect', '--json', file]);
    expect(json.code).toBe(0);
    const info = JSON.parse(json.out) as {
      signed: boolean;
      signatureVerified: boolean;
      headerInfo: { artifact_depends: { artifact_group: string[] } };
      typeInfo: { artifact_provides: Record<string, string> };
      metaData: Record<string, string>;
    };
    expect(info.signed).toBe(true);
    expect(info.signatureVerified).toBe(false);
    expect(info.headerInfo.artifact_depends.artifact_group).toEqual(['g1', 'g2']);
    expect(info.typeInfo.artifact_provides).toEqual({ 'apps.web.version': 'web-2', x: 'y' });
    expect(info.metaData.application_name).toBe('web');
  });

  it('validate: ok, wrong key, tampered file, usage errors', async () => {
    const file = join(dir, 'ours-2.mender');
    const ok = await ocidelta(['artifact', 'validate', file, '-k', 'key.pub']);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('validated successfully, signature verified');

    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'other.pub'), other.publicKey.export({ type: 'spki', format: 'pem' }));
    const wrong = await ocidelta(['artifact', 'validate', file, '-k', 'other.pub']);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain('ERR_ARTIFACT_SIGNATURE');

    const bytes = readFileSync(join(dir, 'ours-0.mender'));
    // A byte inside the compressed payload archive (its content starts one block after its header).
    const dataAt = bytes.indexOf('data/0000.tar.gz') + 512 + 20;
    bytes[dataAt] = bytes[dataAt]! ^ 0xff;
    writeFileSync(join(dir, 'bad.mender'), bytes);
    const bad = await ocidelta(['artifact', 'validate', 'bad.mender']);
    expect(bad.code).toBe(2);
    expect(mender(['validate', 'bad.mender']).status).not.toBe(0);

    expect((await ocidelta(['artifact', 'validate'])).code).toBe(1);
    const missing = await ocidelta([
      'artifact',
      'write',
      'module-image',
      '-T',
      'app',
      '-n',
      'x',
      '-f',
      'images.tar.gz',
    ]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('-t/--device-type is required');
    const colon = await writeModuleImage(['-n', 'x', '-p', 'nocolon']);
    expect(colon.code).toBe(1);
    expect(colon.err).toContain('delimiting colon');
    const unknown = await writeModuleImage(['-n', 'x', '--bogus', '1']);
    expect(unknown.code).toBe(1);
  });

  it('artifact write: -p/-g/-m mean platform/device group/manifest name in ocidelta, so they are long-only here', async () => {
    for (const [letter, long, value] of [
      ['-p', '--provides', 'x:y'],
      ['-g', '--provides-group', 'grp'],
      ['-m', '--meta-data', 'meta.json'],
    ] as const) {
      const short = await ocidelta([
        'artifact',
        'write',
        'module-image',
        ...common,
        '-n',
        'x',
        letter,
        value,
      ]);
      expect(short.code).toBe(1);
      expect(short.err).toContain(
        `write ${long} here, or run \`ocidelta mender-artifact write module-image\``,
      );
    }
    const out = join(dir, 'long-names.mender');
    const theirs = join(dir, 'long-names-theirs.mender');
    const args = ['-n', 'web-2', '-m', 'meta.json', '-p', 'x:y', '-g', 'grp'];
    const long = ['-n', 'web-2', '--meta-data', 'meta.json', '--provides', 'x:y', '--provides-group', 'grp'];
    const r = await ocidelta([
      'artifact',
      'write',
      'module-image',
      ...common,
      ...long,
      '--no-progress',
      '-o',
      out,
    ]);
    expect(r.code, r.err).toBe(0);
    expect(mender(['write', 'module-image', ...common, ...args, '-o', theirs]).status).toBe(0);
    expect(menderRead(out)).toBe(menderRead(theirs));
  });

  it('enforces --max-artifact-size like mender-artifact (decimal units)', async () => {
    const out = join(dir, 'limited.mender');
    const r = await writeModuleImage(['-n', 'x', '-o', out, '--max-artifact-size', '1KB']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('ERR_ARTIFACT_TOO_LARGE');
    expect(spawnSync('test', ['-e', out]).status).not.toBe(0);
    const w = await writeModuleImage(['-n', 'x', '-o', out, '--warn-artifact-size', '1kb']);
    expect(w.code).toBe(0);
    expect(w.err).toContain('warning');
  });

  it('-o - writes the same artifact to stdout, which mender-artifact validates', async () => {
    const file = join(dir, 'file-out.mender');
    const f = await writeModuleImage(['-n', 'piped', '-o', file, '--no-progress']);
    expect(f.code, f.err).toBe(0);
    const piped = await writeModuleImage(['-n', 'piped', '-o', '-', '--no-progress']);
    expect(piped.code, piped.err).toBe(0);
    expect(piped.err).toMatch(/^wrote the artifact to stdout \(\d+ bytes\)\n$/);
    expect(piped.raw.equals(readFileSync(file))).toBe(true);
    const copy = join(dir, 'from-stdout.mender');
    writeFileSync(copy, piped.raw);
    expect(mender(['validate', copy]).status).toBe(0);
    expect(existsSync(join(dir, '-'))).toBe(false);
  });
});
