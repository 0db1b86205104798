// The registry commands (pull, push, copy, inspect, tags, digest) run in-process against the
// real docker-registry, with skopeo as the oracle for digests.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import {
  type BuiltLayout,
  buildTestLayout,
  digestOfBytes,
  type RunningRegistry,
  skopeoInspectRaw,
  skopeoPushLayout,
  startRegistry,
} from '../../registry/test/harness/index.js';
import { runCapture } from './support.js';

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCapture(args, { env });

describe.skipIf(!haveBinaries('docker-registry', 'skopeo'))('registry commands', () => {
  let reg: RunningRegistry;
  let secure: RunningRegistry;
  let work: string;
  let image: BuiltLayout;
  let multi: BuiltLayout;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-cli-registry-'));
    [reg, secure] = await Promise.all([startRegistry(), startRegistry({ auth: 'htpasswd' })]);
    image = await buildTestLayout(join(work, 'image'), [{ label: 'cli' }]);
    multi = await buildTestLayout(join(work, 'multi'), [
      { platform: { os: 'linux', architecture: 'amd64' }, label: 'cli-amd64' },
      { platform: { os: 'linux', architecture: 'arm64' }, label: 'cli-arm64' },
    ]);
    await skopeoPushLayout(multi, reg.host, 'cli/multi:v1');
  });

  afterAll(async () => {
    await Promise.all([reg?.stop(), secure?.stop()]);
    await rm(work, { recursive: true, force: true });
  });

  it('push, digest, tags, inspect and pull round-trip one image', async () => {
    const ref = `${reg.host}/cli/app:v1`;
    const pushed = await run(['push', image.dir, ref, '--quiet']);
    expect(pushed.err).toBe('');
    expect(pushed.code).toBe(0);
    expect(pushed.out.trim()).toBe(image.digest);
    expect(digestOfBytes(Buffer.from(await skopeoInspectRaw(ref)))).toBe(image.digest);

    const digest = await run(['digest', ref]);
    expect(digest.out.trim()).toBe(image.digest);

    const tags = await run(['tags', `${reg.host}/cli/app`, '--json']);
    expect(JSON.parse(tags.out)).toEqual({ Repository: `${reg.host}/cli/app`, Tags: ['v1'] });

    const inspect = await run(['inspect', ref]);
    expect(inspect.code).toBe(0);
    const info = JSON.parse(inspect.out) as Record<string, unknown>;
    expect(info.Digest).toBe(image.digest);
    expect(info.Architecture).toBe('amd64');
    expect(info.Layers).toEqual(image.images[0]?.layers.map((l) => l.digest));

    const raw = await run(['inspect', '--raw', ref]);
    expect(digestOfBytes(raw.raw)).toBe(image.digest);

    const dir = join(work, 'pulled');
    const pulled = await run(['pull', ref, '--oci', dir, '--json']);
    expect(pulled.code).toBe(0);
    expect(JSON.parse(pulled.out)).toMatchObject({ digest: image.digest, blobs: { transferred: 3 } });
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    expect(index.manifests.map((m) => m.digest)).toEqual([image.digest]);
  });

  it('handles a multi-arch index: --platform for inspect, digest and pull; copy keeps the index', async () => {
    const ref = `${reg.host}/cli/multi:v1`;
    const arm = multi.images[1];
    const raw = await run(['inspect', '--raw', '--platform', 'linux/arm64', ref]);
    expect(digestOfBytes(raw.raw)).toBe(arm?.digest);
    const inspect = JSON.parse((await run(['inspect', '--platform', 'linux/arm64', ref])).out) as Record<
      string,
      unknown
    >;
    expect(inspect).toMatchObject({ Digest: multi.digest, ImageDigest: arm?.digest, Architecture: 'arm64' });
    expect((await run(['digest', ref])).out.trim()).toBe(multi.digest);
    expect((await run(['digest', '-p', 'linux/arm64', ref])).out.trim()).toBe(arm?.digest);

    const archive = join(work, 'arm.oci.tar');
    const pulled = await run(['pull', ref, '--oci-archive', archive, '-p', 'linux/arm64', '-q']);
    expect(pulled.code).toBe(0);
    expect(pulled.out.trim()).toBe(arm?.digest);

    const copied = await run(['copy', ref, `${reg.host}/cli/multi-copy:v1`, '-q']);
    expect(copied.code).toBe(0);
    expect(digestOfBytes(Buffer.from(await skopeoInspectRaw(`${reg.host}/cli/multi-copy:v1`)))).toBe(
      multi.digest,
    );
  });

  it("accepts skopeo's docker:// everywhere a registry image is named; local transports are explained", async () => {
    const ref = `docker://${reg.host}/cli/multi:v1`;
    expect((await run(['digest', ref])).out.trim()).toBe(multi.digest);
    expect(JSON.parse((await run(['inspect', ref])).out)).toMatchObject({ Digest: multi.digest });
    expect((await run(['tags', `docker://${reg.host}/cli/multi`])).out.trim()).toBe('v1');
    const pulled = await run([
      'pull',
      ref,
      '--oci',
      join(work, 'via-transport'),
      '--platform',
      'linux/arm64',
      '-q',
    ]);
    expect(pulled.code, pulled.err).toBe(0);
    const copied = await run(['copy', ref, `docker://${reg.host}/cli/multi-copy2:v1`, '-q']);
    expect(copied.code, copied.err).toBe(0);
    expect((await run(['digest', `${reg.host}/cli/multi-copy2:v1`])).out.trim()).toBe(multi.digest);
    const viaOci = await run([
      'push',
      `oci:${join(work, 'via-transport')}`,
      `docker://${reg.host}/cli/pushed-oci:1`,
      '-q',
    ]);
    expect(viaOci.code, viaOci.err).toBe(0);
    expect((await run(['digest', `${reg.host}/cli/pushed-oci:1`])).out.trim()).toBe(multi.images[1]?.digest);
    const wrong = await run(['pull', `oci-archive:${join(work, 'x.tar')}`, '--oci', join(work, 'nope')]);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain(
      'names a local image (oci-archive), but this reference must be in a registry',
    );
  });

  it('authenticates with --creds or --authfile and reports ERR_AUTH with exit code 2', async () => {
    const ref = `${secure.host}/cli/secret:v1`;
    const denied = await run(['push', image.dir, ref, '--creds', `${secure.username}:wrong`, '-q']);
    expect(denied.code).toBe(2);
    expect(denied.err).toContain('ERR_AUTH');

    const anonymous = await run(['digest', ref]);
    expect(anonymous.code).toBe(2);
    expect(anonymous.err).toContain('ERR_AUTH');

    const ok = await run([
      'push',
      image.dir,
      ref,
      '--creds',
      `${secure.username}:${secure.password}`,
      '--insecure',
      '-q',
    ]);
    expect(ok.code).toBe(0);

    const authfile = join(work, 'auth.json');
    const auth = Buffer.from(`${secure.username}:${secure.password}`).toString('base64');
    await writeFile(authfile, JSON.stringify({ auths: { [secure.host]: { auth } } }));
    const viaFile = await run(['digest', ref, '--authfile', authfile]);
    expect(viaFile.err).toBe('');
    expect(viaFile.out.trim()).toBe(image.digest);
  });

  it('rejects bad usage with exit code 1', async () => {
    const noTarget = await run(['pull', `${reg.host}/cli/app:v1`]);
    expect(noTarget.code).toBe(1);
    expect(noTarget.err).toContain('--oci');
    const both = await run([
      'pull',
      `${reg.host}/cli/app:v1`,
      '--oci',
      join(work, 'x'),
      '--platform',
      'linux/arm64',
      '--all-platforms',
    ]);
    expect(both.code).toBe(1);
    const badCreds = await run(['digest', `${reg.host}/cli/app:v1`, '--creds', 'nocolon']);
    expect(badCreds.code).toBe(1);
    expect(badCreds.err).toContain('--creds');
  });
});
