// login / logout against the real docker-registry with htpasswd and with token auth: refused
// credentials write nothing, accepted ones land in the Docker config (mode 0600, other fields
// kept) where later commands and the real skopeo find them; logout removes them.
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import {
  buildTestLayout,
  type RunningRegistry,
  skopeo,
  startRegistry,
} from '../../registry/test/harness/index.js';
import { runCli } from '../src/index.js';
import { captureIO, runCapture } from './support.js';

describe.skipIf(!haveBinaries('docker-registry', 'skopeo'))('login / logout', () => {
  const regs: Record<'htpasswd' | 'token', RunningRegistry | undefined> = {
    htpasswd: undefined,
    token: undefined,
  };
  let work: string;
  let layout: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-login-'));
    regs.htpasswd = await startRegistry({ auth: 'htpasswd' });
    regs.token = await startRegistry({ auth: 'token' });
    layout = (
      await buildTestLayout(join(work, 'layout'), [
        { platform: { os: 'linux', architecture: 'amd64' }, label: 'login' },
      ])
    ).dir;
  });
  afterAll(async () => {
    await regs.htpasswd?.stop();
    await regs.token?.stop();
    await rm(work, { recursive: true, force: true });
  });

  for (const auth of ['htpasswd', 'token'] as const) {
    it(`${auth}: wrong password writes nothing; login stores, later commands and skopeo use it; logout removes it`, async () => {
      const reg = regs[auth] as RunningRegistry;
      const dockerDir = join(work, `docker-${auth}`);
      const config = join(dockerDir, 'config.json');
      const env = { DOCKER_CONFIG: dockerDir };
      const ref = `${reg.host}/login/app:1`;
      expect(
        (await runCapture(['push', layout, ref, '-q', '--creds', `${reg.username}:${reg.password}`])).code,
      ).toBe(0);

      const refused = await runCapture(
        ['login', reg.host, '-u', reg.username, '--password', 'wrong-password'],
        {
          env,
        },
      );
      expect(refused.code).toBe(2);
      expect(refused.err).toContain('ERR_AUTH');
      expect(refused.err).not.toContain('wrong-password');
      await expect(stat(config)).rejects.toThrow();

      // an existing config keeps its other fields
      const { mkdir } = await import('node:fs/promises');
      await mkdir(dockerDir, { recursive: true });
      await writeFile(
        config,
        JSON.stringify({ psFormat: 'table {{.ID}}', auths: { 'other.example.com': { auth: 'eDp5' } } }),
      );
      const io = captureIO({ env });
      (io as typeof io & { stdin: NodeJS.ReadableStream }).stdin = Readable.from([`${reg.password}\n`]);
      expect(await runCli(['login', reg.host, '-u', reg.username, '--password-stdin'], io), io.err()).toBe(0);
      expect(io.out()).toContain('Login Succeeded');
      const written = JSON.parse(await readFile(config, 'utf8'));
      expect(written.psFormat).toBe('table {{.ID}}');
      expect(written.auths['other.example.com']).toEqual({ auth: 'eDp5' });
      expect(Buffer.from(written.auths[reg.host].auth, 'base64').toString()).toBe(
        `${reg.username}:${reg.password}`,
      );
      expect((await stat(config)).mode & 0o777).toBe(0o600);

      const digest = await runCapture(['digest', ref], { env });
      expect(digest.code, digest.err).toBe(0);
      // the real skopeo reads what we wrote
      const tags = await skopeo([
        'list-tags',
        '--tls-verify=false',
        '--authfile',
        config,
        `docker://${reg.host}/login/app`,
      ]);
      expect(JSON.parse(tags).Tags).toEqual(['1']);

      const out = await runCapture(['logout', reg.host], { env });
      expect(out.code, out.err).toBe(0);
      expect(JSON.parse(await readFile(config, 'utf8')).auths[reg.host]).toBeUndefined();
      const after = await runCapture(['digest', ref], { env });
      expect(after.code).toBe(2);
      expect(after.err).toContain('ERR_AUTH');
      const again = await runCapture(['logout', reg.host], { env });
      expect(again.code).toBe(2);
      expect(again.err).toContain('not logged in');
    });
  }
});
