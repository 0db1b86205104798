import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCompose, readCompose, rewriteImages } from '../src/app/compose.js';
import { resolveOptions } from '../src/app/options.js';
import { findPreviousRelease } from '../src/app/previous-release.js';
import { parseReleaseMetadata, serializeReleaseMetadata } from '../src/app/release-metadata.js';
import {
  artifactNameFor,
  composeVersion,
  defaultSoftwareName,
  findRepo,
  readVersionFile,
} from '../src/app/versioning.js';

const HASH_A = `sha256:${'a'.repeat(64)}`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-app-inputs-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function git(cwd: string, ...args: string[]): string {
  return execFileSync(
    'git',
    ['-c', 'user.name=t', '-c', 'user.email=t@e', '-c', 'commit.gpgsign=false', ...args],
    {
      cwd,
      encoding: 'utf8',
    },
  ).trim();
}

describe('compose file', () => {
  it('parses services sorted by name with their images', () => {
    const c = parseCompose(
      'services:\n  web:\n    image: reg/web:1\n  db:\n    image: "reg/db:2"\n',
      'c.yml',
    );
    expect(c.services).toEqual([
      { name: 'db', image: 'reg/db:2' },
      { name: 'web', image: 'reg/web:1' },
    ]);
  });

  it('names the service that has no image', () => {
    expect(() => parseCompose('services:\n  web:\n    build: .\n', 'app/compose.yml')).toThrowError(
      /service "web" in compose file app\/compose\.yml has no "image"/,
    );
  });

  it('rejects invalid YAML naming the file and line', () => {
    expect(() => parseCompose('services: [\n  web: {', 'bad.yml')).toThrowError(
      /^bad\.yml:\d+:\d+: invalid YAML in compose file/,
    );
  });

  it('applies merge keys as compose does (<<: *common)', () => {
    const text =
      'x-common: &common\n  image: reg/app:1\n  restart: always\nservices:\n  web:\n    <<: *common\n';
    expect(parseCompose(text, 'c.yml').services).toEqual([{ name: 'web', image: 'reg/app:1' }]);
  });

  it('an unresolved alias is ERR_INPUT naming file:line', () => {
    const err = (() => {
      try {
        parseCompose('services:\n  web:\n    image: *nope\n', 'c.yml');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toMatchObject({ code: 'ERR_INPUT', details: { path: 'c.yml', line: 3 } });
    expect((err as Error).message).toMatch(/^c\.yml:3:\d+: .*Unresolved alias/);
  });

  it('caps alias expansion (billion laughs) with ERR_INPUT instead of expanding', () => {
    const rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (const [name, prev] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
    ])
      rows.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    rows.push('services:\n  web:\n    image: *f');
    expect(() => parseCompose(rows.join('\n'), 'bomb.yml')).toThrowError(
      expect.objectContaining({
        code: 'ERR_INPUT',
        message: expect.stringMatching(/at most 100 alias expansions/),
      }),
    );
  });

  it('rejects a file without services', () => {
    expect(() => parseCompose('version: "3"\n', 'x.yml')).toThrowError(/no "services" mapping/);
  });

  it('reports a missing compose file with ERR_INPUT', async () => {
    await expect(readCompose(join(dir, 'nope.yml'))).rejects.toMatchObject({
      code: 'ERR_INPUT',
      message: expect.stringContaining('compose file not found'),
    });
  });

  it('refuses a compose file over 4 MiB before parsing it', async () => {
    const big = join(dir, 'big.yml');
    await writeFile(big, `services:\n  web:\n    image: a\n#${'x'.repeat(4 * 1024 * 1024)}\n`);
    await expect(readCompose(big)).rejects.toMatchObject({
      code: 'ERR_INPUT',
      message: expect.stringMatching(/compose file .* is larger than the limit of 4194304 bytes/),
    });
  });

  it('rewrites overridden images and keeps comments', () => {
    const c = parseCompose(
      '# top\nservices:\n  web:\n    image: reg/web:1 # pinned\n    ports: ["80:80"]\n',
      'c.yml',
    );
    const out = rewriteImages(c, new Map([['web', 'reg/web:2']])).toString();
    expect(parseCompose(out, 'out').services[0]!.image).toBe('reg/web:2');
    expect(out).toContain('# top');
    expect(rewriteImages(c, new Map([['web', 'reg/web:1']]))).toBe(c.bytes);
  });
});

describe('options', () => {
  it('applies defaults and the cache dir environment', () => {
    const o = resolveOptions({
      composeFile: 'c.yml',
      deviceTypes: ['rpi4'],
      platform: 'linux/arm64',
      cwd: '/w',
      env: { XDG_CACHE_HOME: '/x' },
    });
    expect(o.cacheDir).toBe('/x/ocidelta');
    expect(o.composeFile).toBe('/w/c.yml');
    expect(o.menderHost).toBe('https://hosted.mender.io');
    expect(o.deviceStore).toBe('classic');
    expect(o.delta).toBe(true);
    const o2 = resolveOptions({
      composeFile: 'c.yml',
      deviceTypes: ['x'],
      platform: 'linux/amd64',
      env: { OCIDELTA_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', MENDER_PAT: 'tok' },
    });
    expect(o2.cacheDir).toBe('/c');
    expect(o2.menderPat).toBe('tok');
  });

  it('rejects a bad platform and missing device types naming the field', () => {
    expect(() => resolveOptions({ composeFile: 'c', deviceTypes: ['x'], platform: 'arm64' })).toThrowError(
      /invalid option: platform/,
    );
    expect(() => resolveOptions({ composeFile: 'c', deviceTypes: [], platform: 'linux/arm64' })).toThrowError(
      /deviceTypes/,
    );
  });
});

describe('versioning', () => {
  it('reads HEAD from .git without running git, and composes versions and names', async () => {
    const repo = join(dir, 'myrepo');
    await mkdir(join(repo, 'deploy'), { recursive: true });
    git(dir, 'init', '-q', '-b', 'main', repo);
    await writeFile(join(repo, 'VERSION'), '1.2.3\n');
    await writeFile(join(repo, 'deploy', 'compose.yml'), 'services:\n  a:\n    image: r/a:1\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'one');
    const info = await findRepo(join(repo, 'deploy'));
    expect(info.root).toBe(repo);
    expect(info.head).toBe(git(repo, 'rev-parse', 'HEAD'));
    git(repo, 'pack-refs', '--all');
    expect((await findRepo(join(repo, 'deploy'))).head).toBe(git(repo, 'rev-parse', 'HEAD'));
    expect(await readVersionFile(repo)).toBe('1.2.3');
    expect(composeVersion('1.2.3', { release: true, head: info.head })).toBe('1.2.3');
    expect(composeVersion('1.2.3', { head: info.head, uuid: 'u' })).toBe(`1.2.3+${info.head!.slice(0, 7)}+u`);
    expect(composeVersion('1.2.3', {})).toMatch(/^1\.2\.3\+[0-9a-f-]{36}$/);
    const sw = defaultSoftwareName(repo, join(repo, 'deploy', 'compose.yml'));
    expect(sw).toBe('myrepo-deploy');
    expect(artifactNameFor(sw, '1.2.3')).toBe('myrepo-deploy-1.2.3');
  });

  it('says which VERSION file is missing', async () => {
    await expect(readVersionFile(join(dir, 'empty'))).rejects.toThrowError(/VERSION is missing or empty/);
  });
});

describe('release metadata', () => {
  it('round-trips and accepts bare hex hashes from the original tool', () => {
    const meta = parseReleaseMetadata(
      JSON.stringify({
        version: '0.1.0',
        services: { web: { image: { ref: 'r/web:1', hash: 'a'.repeat(64) } } },
      }),
      'm.json',
    );
    expect(meta.services.web!.image).toEqual({ ref: 'r/web:1', hash: HASH_A, delivery: 'registry' });
    const again = parseReleaseMetadata(serializeReleaseMetadata(meta), 'again');
    expect(again).toEqual(meta);
  });

  it('names the bad field', () => {
    expect(() =>
      parseReleaseMetadata(
        JSON.stringify({ version: '1', services: { web: { image: { ref: 'x', hash: 'zz' } } } }),
        'p.json',
      ),
    ).toThrowError(/p\.json: services\.web\.image\.hash/);
  });
});

describe('previous release', () => {
  let repo: string;
  let composeFile: string;
  beforeAll(async () => {
    repo = join(dir, 'prevrepo');
    await mkdir(repo, { recursive: true });
    git(dir, 'init', '-q', '-b', 'main', repo);
    composeFile = join(repo, 'compose.yml');
    await writeFile(join(repo, 'VERSION'), '1.0.0\n');
    await writeFile(composeFile, 'services:\n  web:\n    image: r/web:1\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'v1');
    git(repo, 'tag', 'v1.0.0');
    // Unreleased work after the tag: VERSION unchanged, the compose file changed.
    await writeFile(composeFile, 'services:\n  web:\n    image: r/web:1-wip\n');
    git(repo, 'commit', '-q', '-am', 'wip');
    await writeFile(join(repo, 'VERSION'), '1.1.0\n');
    await writeFile(composeFile, 'services:\n  web:\n    image: r/web:2\n  db:\n    image: r/db:1\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-q', '-m', 'v1.1');
  });

  const base = () => ({ composeFile, repoRoot: repo, inGit: true });

  it('prefers the cache record', async () => {
    const cacheFile = join(dir, 'previous_artifact.json');
    await writeFile(
      cacheFile,
      JSON.stringify({
        version: '0.9',
        services: { web: { image: { ref: 'r/web:0', hash: HASH_A, delivery: 'artifact' } } },
      }),
    );
    const prev = await findPreviousRelease({
      ...base(),
      cacheMetadataFile: cacheFile,
      previousVersion: 'v1.0.0',
    });
    expect(prev?.source).toBe('cache');
    expect(prev?.version).toBe('0.9');
    expect(prev?.services.get('web')).toEqual({ ref: 'r/web:0', hash: HASH_A, delivery: 'artifact' });
  });

  it('reads --previous-manifest as metadata or as a compose file', async () => {
    const yml = join(dir, 'prev-compose.yml');
    await writeFile(yml, 'services:\n  web:\n    image: r/web:7\n');
    const warnings: string[] = [];
    const prev = await findPreviousRelease({
      ...base(),
      cacheMetadataFile: join(dir, 'absent.json'),
      previousManifest: yml,
      warn: (m) => warnings.push(m),
    });
    expect(prev?.source).toBe('previous-manifest');
    expect(prev?.version).toBeUndefined();
    expect(prev?.services.get('web')).toEqual({ ref: 'r/web:7', delivery: 'registry' });
    expect(warnings.join()).toMatch(/version is unknown/);
    await expect(
      findPreviousRelease({ ...base(), previousManifest: join(dir, 'missing.json') }),
    ).rejects.toThrowError(/previous manifest not found/);
  });

  it('reads the compose file and VERSION at --previous-version with git', async () => {
    const prev = await findPreviousRelease({ ...base(), previousVersion: 'v1.0.0' });
    expect(prev?.source).toBe('git');
    expect(prev?.version).toBe('1.0.0');
    expect([...prev!.services.keys()]).toEqual(['web']);
    expect(prev?.services.get('web')?.ref).toBe('r/web:1');
    await expect(findPreviousRelease({ ...base(), previousVersion: 'no-such-rev' })).rejects.toThrowError(
      /at git revision no-such-rev/,
    );
  });

  it('with --release uses the parent commit, and none when VERSION did not change', async () => {
    const prev = await findPreviousRelease({ ...base(), release: true, currentVersion: '1.1.0' });
    expect(prev?.source).toBe('release-parent');
    expect(prev?.version).toBe('1.0.0');
    const warnings: string[] = [];
    const none = await findPreviousRelease({
      ...base(),
      release: true,
      currentVersion: '1.0.0',
      warn: (m) => warnings.push(m),
    });
    expect(none).toBeUndefined();
    expect(warnings.join()).toMatch(/did not change/);
    expect(await findPreviousRelease(base())).toBeUndefined();
  });

  it("--release reads the compose file at the tag the parent commit's VERSION names, not at HEAD^", async () => {
    const prev = await findPreviousRelease({ ...base(), release: true, currentVersion: '1.1.0' });
    expect(prev).toMatchObject({
      source: 'release-parent',
      version: '1.0.0',
      label: expect.stringMatching(/^git:v1\.0\.0:/),
    });
    expect(prev?.services.get('web')?.ref).toBe('r/web:1');
  });

  it('without any other source, the compose file at the ref VERSION names is the previous release', async () => {
    git(repo, 'tag', '1.1.0');
    const prev = await findPreviousRelease({ ...base(), versionRef: '1.1.0' });
    expect(prev).toMatchObject({ source: 'git', version: '1.1.0' });
    expect([...prev!.services.keys()].sort()).toEqual(['db', 'web']);
    const warnings: string[] = [];
    expect(
      await findPreviousRelease({ ...base(), versionRef: '2.0.0', warn: (m) => warnings.push(m) }),
    ).toBeUndefined();
    expect(warnings.join()).toMatch(/no git ref 2\.0\.0 \(named by VERSION\).*building full images/);
    // A version is only ever a ref name.
    expect(await findPreviousRelease({ ...base(), versionRef: '--output=/tmp/x' })).toBeUndefined();
  });

  it('keeps compose bytes for the payload', async () => {
    expect((await readCompose(composeFile)).bytes.equals(await readFile(composeFile))).toBe(true);
  });
});
