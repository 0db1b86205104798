import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { writeOciArchive } from '@ocidelta/core';
import { readArtifact } from '@ocidelta/core/mender';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAppArtifact } from '../src/app/build-app-artifact.js';
import { AppCache } from '../src/app/cache.js';
import { runCli } from '../src/cli.js';
import { appCommand } from '../src/commands/app.js';
import { sampleImage } from '../src/commands/demo.js';

let dir: string;
let server: Server;
let url: string;
const requests: { url: string; auth?: string; status: number; body?: string }[] = [];
let uploadStatus = 201;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-app-deploy-'));
  server = createServer((req, res) => {
    const isUpload = req.url === '/api/management/v1/deployments/artifacts';
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      if (!isUpload) chunks.push(c);
    });
    req.on('end', () => {
      const status = req.headers.authorization !== 'Bearer pat-1' ? 401 : isUpload ? uploadStatus : 201;
      requests.push({
        url: req.url ?? '',
        auth: req.headers.authorization,
        status,
        ...(isUpload ? {} : { body: Buffer.concat(chunks).toString() }),
      });
      res
        .writeHead(status, status === 201 ? { location: isUpload ? '/a/art-1' : '/d/dep-1' } : {})
        .end(status === 201 ? '' : '{"error":"nope"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Incompressible content, so that a full image costs more than a delta.
  const bin = randomBytes(64 * 1024);
  const v1 = await sampleImage([{ 'bin/app': bin, VERSION: '1' }], '1');
  const v2 = await sampleImage([{ 'bin/app': bin, VERSION: '2' }], '2');
  await writeOciArchive(join(dir, 'app-1.tar'), [{ image: v1, ref: 'demo.local/app:1' }]);
  await writeOciArchive(join(dir, 'app-2.tar'), [{ image: v2, ref: 'demo.local/app:2' }]);
  await mkdir(join(dir, 'p'), { recursive: true });
  await writeFile(join(dir, 'p', 'compose.yaml'), 'services:\n  app:\n    image: demo.local/app:1\n');
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

describe('upload, deployment and release record', () => {
  it('uploads, deploys to the group, records; the next build diffs against the record', async () => {
    const cacheDir = join(dir, 'cache');
    const common = {
      composeFile: join(dir, 'p', 'compose.yaml'),
      deviceTypes: ['dev'],
      platform: 'linux/arm64',
      manifestName: 'app',
      cacheDir,
      menderHost: url,
      deviceGroup: 'lab',
      env: { MENDER_PAT: 'pat-1' },
      cwd: dir,
    };
    const r1 = await buildAppArtifact({
      ...common,
      version: '1.0',
      serviceFiles: { app: join(dir, 'app-1.tar') },
    });
    expect(r1.uploaded).toBe(true);
    expect(r1.deployment).toEqual({ group: 'lab', id: 'dep-1' });
    expect(requests.map((q) => q.url)).toEqual([
      '/api/management/v1/deployments/artifacts',
      '/api/management/v1/deployments/deployments/group/lab',
    ]);
    // The deployment is named <artifact>-<group>: one artifact deployed to two groups never collides.
    expect(JSON.parse(requests[1]!.body!)).toMatchObject({ name: 'app-1.0-lab', artifact_name: 'app-1.0' });
    // meta-data carries the release version, as the helper writes it.
    expect((await readArtifact(r1.artifactFile!)).metaData).toMatchObject({ version: '1.0' });
    expect(r1.recorded).toBe(join(cacheDir, 'manifests', 'app', 'previous_artifact.json'));
    const recorded = await (await AppCache.open(cacheDir)).readPrevious('app');
    expect(recorded?.version).toBe('1.0');
    expect(recorded?.services.app?.image).toMatchObject({ ref: 'demo.local/app:1', delivery: 'artifact' });

    const r2 = await buildAppArtifact({
      ...common,
      version: '2.0',
      serviceFiles: { app: join(dir, 'app-2.tar') },
    });
    expect(r2.previous?.source).toBe('cache');
    expect(r2.services[0]?.mode, r2.services[0]?.reason).toBe('delta');
    expect(r2.dependsOnVersion).toBe('1.0');
  });

  it('-g without MENDER_PAT records the release (as the helper does) and warns', async () => {
    const cacheDir = join(dir, 'cache-nopat');
    const warnings: string[] = [];
    const r = await buildAppArtifact({
      composeFile: join(dir, 'p', 'compose.yaml'),
      deviceTypes: ['dev'],
      platform: 'linux/arm64',
      manifestName: 'app',
      cacheDir,
      deviceGroup: 'lab',
      env: {},
      cwd: dir,
      version: '1.0',
      serviceFiles: { app: join(dir, 'app-1.tar') },
      onEvent: (e) => {
        if (e.type === 'log' && e.level === 'warn') warnings.push(e.message);
      },
    });
    expect(r.uploaded).toBeFalsy();
    expect(warnings.join()).toMatch(/device group lab ignored: no MENDER_PAT/);
    expect(r.recorded).toBe(join(cacheDir, 'manifests', 'app', 'previous_artifact.json'));
  });

  it('exit code 3 on 409 unless --skip-existing; 3 on a bad token', async () => {
    uploadStatus = 409;
    const cli = async (extra: string[], env: NodeJS.ProcessEnv) => {
      const stderr = new PassThrough();
      let err = '';
      stderr.on('data', (c: Buffer) => {
        err += c.toString();
      });
      const code = await runCli(
        [
          'app',
          'p/compose.yaml',
          '-t',
          'dev',
          '-p',
          'linux/arm64',
          '-f',
          'app',
          'app-1.tar',
          '--no-cache',
          '--mender-host',
          url,
          ...extra,
        ],
        { stdout: new PassThrough(), stderr, env: { ...env }, cwd: dir },
        [appCommand],
      );
      return { code, err };
    };
    await writeFile(join(dir, 'p', 'VERSION'), '9.9\n');
    let r = await cli([], { MENDER_PAT: 'pat-1' });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/already has this artifact/);
    r = await cli(['--skip-existing'], { MENDER_PAT: 'pat-1' });
    expect(r.code).toBe(0);
    r = await cli([], { MENDER_PAT: 'wrong' });
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/refused the token/);
  });
});
