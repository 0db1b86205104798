// The release-engineering commands in-process against the real docker-registry: image build
// (OCI layout, docker-archive, push, registry parent, spec errors), index merge, status,
// layer inject and extract.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { loadXattrModule, type XattrModule } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { listTree, writeTree } from '../../core/test/build-helpers.js';
import {
  buildTestLayout,
  type RunningRegistry,
  skopeo,
  skopeoInspect,
  skopeoInspectRaw,
  skopeoPushLayout,
  startForwardProxy,
  startRegistry,
} from '../../registry/test/harness/index.js';
import { runCapture } from './support.js';

const exec = promisify(execFile);

// The optional native module behind --xattrs: required under CI, else a loud skip.
const xattrs = await loadXattrModule().catch((err: unknown) => {
  if (process.env.CI) throw err;
  console.warn(`SKIP layer inject --xattrs: ${(err as Error).message}`);
  return undefined;
});

const run = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => runCapture(args, { cwd, env });

const SPEC = `images:
  - os: linux
    architecture: arm64
    layers: [base]
    tags: [base]
  - parent: 0
    os: linux
    layers: [app]
    tags: [app]
    config:
      Cmd: [/app/run]
      Labels: {org.example.role: app}
`;

describe.skipIf(!haveBinaries('docker-registry', 'skopeo', 'umoci'))('release commands', () => {
  let reg: RunningRegistry;
  let work: string;
  const insecure = ['--insecure'];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidelta-cli-tools-'));
    reg = await startRegistry();
    await writeTree(join(work, 'base'), {
      'etc/os-release': 'ID=cli\n',
      'bin/sh': { content: '#!', mode: 0o755 },
    });
    await writeTree(join(work, 'app'), {
      'etc/os-release': 'ID=cli\n',
      'app/run': { content: '#!/bin/sh\n', mode: 0o755 },
    });
    await writeFile(join(work, 'spec.yaml'), SPEC);
    const multi = await buildTestLayout(join(work, 'multi'), [
      { platform: { os: 'linux', architecture: 'amd64' }, label: 'm-amd64' },
      { platform: { os: 'linux', architecture: 'arm64' }, label: 'm-arm64' },
    ]);
    await skopeoPushLayout(multi, reg.host, 'cli/multi:v1');
  });

  afterAll(async () => {
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  });

  describe('image build', () => {
    it('writes an OCI layout reproducibly and umoci unpacks the app image to its directory', async () => {
      const a = await run(['image', 'build', 'spec.yaml', '--output', 'oci:out-a', '--json'], work, {
        SOURCE_DATE_EPOCH: '1700000000',
      });
      const b = await run(['image', 'build', 'spec.yaml', '--output', 'oci:out-b', '--json'], work, {
        SOURCE_DATE_EPOCH: '1700000000',
      });
      expect(a.code, a.err).toBe(0);
      const ja = JSON.parse(a.out) as { images: { digest: string; layers: string[]; tags: string[] }[] };
      const jb = JSON.parse(b.out) as typeof ja;
      expect(jb.images.map((i) => i.digest)).toEqual(ja.images.map((i) => i.digest));
      expect(ja.images[1]?.layers.length).toBe(2);
      await exec('umoci', [
        'unpack',
        '--rootless',
        '--image',
        `${join(work, 'out-a')}:app`,
        join(work, 'bundle'),
      ]);
      expect(await listTree(join(work, 'bundle', 'rootfs'))).toEqual(await listTree(join(work, 'app')));
    });

    it('pushes to a registry, builds on a registry parent, writes a docker-archive', async () => {
      const pushed = await run(
        ['image', 'build', 'spec.yaml', '--output', `docker://${reg.host}/cli/built`, '--json', ...insecure],
        work,
      );
      expect(pushed.code, pushed.err).toBe(0);
      const info = await skopeoInspect(`${reg.host}/cli/built:app`);
      expect(info.Labels).toEqual({ 'org.example.role': 'app' });
      await writeTree(join(work, 'extra'), {
        'etc/os-release': 'ID=cli\n',
        'app/run': { content: '#!/bin/sh\n', mode: 0o755 },
        'app/more': 'x',
      });
      await writeFile(
        join(work, 'child.yaml'),
        `images:\n  - parent: docker://${reg.host}/cli/built:app\n    os: linux\n    architecture: arm64\n    layers: [extra]\n    tags: [child:1]\n`,
      );
      const child = await run(
        [
          'image',
          'build',
          'child.yaml',
          '--output',
          'docker-archive:child.tar',
          '--format',
          'docker',
          '--json',
          ...insecure,
        ],
        work,
      );
      expect(child.code, child.err).toBe(0);
      // pushed to another repository of the same registry: the parent's layers are mounted
      const pushedChild = await run(
        ['image', 'build', 'child.yaml', '--output', `docker://${reg.host}/cli/child`, '--json', ...insecure],
        work,
      );
      expect(pushedChild.code, pushedChild.err).toBe(0);
      const childInfo = await skopeoInspect(`${reg.host}/cli/child/child:1`);
      expect((childInfo.Layers as string[]).length).toBe(3);
      await skopeo([
        'copy',
        '--src-tls-verify=false',
        '--src-no-creds',
        `docker://${reg.host}/cli/child/child:1`,
        `oci:${join(work, 'child-pulled')}:x`,
      ]);
      const { stdout } = await exec('skopeo', ['inspect', `docker-archive:${join(work, 'child.tar')}`]);
      const inspected = JSON.parse(stdout) as { Layers: string[]; Labels: Record<string, string> };
      expect(inspected.Layers.length).toBe(3);
      expect(inspected.Labels).toEqual({ 'org.example.role': 'app' });
    });

    it('pushes images sharing a tag as one index (OCI and Docker mode); skopeo pulls each platform', async () => {
      for (const mode of ['oci', 'docker'] as const) {
        await writeFile(
          join(work, `multi-${mode}.yaml`),
          `mode: ${mode}\nannotations: {org.example.build: "7"}\nimages:\n` +
            '  - {os: linux, architecture: amd64, layer: [base, app], tags: [v1]}\n' +
            '  - {os: linux, architecture: arm64, variant: v8, layer: base, tags: [v1, arm-only]}\n',
        );
        const repo = `${reg.host}/cli/multi-${mode}`;
        const r = await run(
          ['image', 'build', `multi-${mode}.yaml`, '--output', `docker://${repo}`, '--json', ...insecure],
          work,
        );
        expect(r.code, r.err).toBe(0);
        const out = JSON.parse(r.out) as {
          images: { digest: string; pushed: string[] }[];
          indexes: { tag: string; digest: string; mediaType: string; pushed: string }[];
        };
        expect(out.indexes.map((i) => [i.tag, i.pushed])).toEqual([['v1', `${repo}:v1`]]);
        expect(out.images[1]?.pushed).toEqual([`${repo}@${out.images[1]?.digest}`, `${repo}:arm-only`]);
        const raw = JSON.parse(await skopeoInspectRaw(`${repo}:v1`)) as {
          mediaType: string;
          annotations?: Record<string, string>;
          manifests: { digest: string; platform: unknown }[];
        };
        expect(raw.mediaType).toBe(
          mode === 'oci'
            ? 'application/vnd.oci.image.index.v1+json'
            : 'application/vnd.docker.distribution.manifest.list.v2+json',
        );
        expect(raw.annotations).toEqual(mode === 'oci' ? { 'org.example.build': '7' } : undefined);
        expect(raw.manifests.map((m) => [m.digest, m.platform])).toEqual([
          [out.images[0]?.digest, { architecture: 'amd64', os: 'linux' }],
          [out.images[1]?.digest, { architecture: 'arm64', os: 'linux', variant: 'v8' }],
        ]);
        await skopeo([
          '--override-arch',
          'arm64',
          '--override-variant',
          'v8',
          'copy',
          '--src-tls-verify=false',
          '--src-no-creds',
          `docker://${repo}:v1`,
          `oci:${join(work, `multi-${mode}-arm64`)}:x`,
        ]);
        await exec('umoci', [
          'unpack',
          '--rootless',
          '--image',
          `${join(work, `multi-${mode}-arm64`)}:x`,
          join(work, `multi-${mode}-bundle`),
        ]);
        expect(await listTree(join(work, `multi-${mode}-bundle`, 'rootfs'))).toEqual(
          await listTree(join(work, 'base')),
        );
      }
    });

    it('reports spec errors with the file and line, exit 2', async () => {
      await writeFile(
        join(work, 'bad.yaml'),
        'images:\n  - os: linux\n    architecture: amd64\n    layrs: [base]\n',
      );
      const r = await run(['image', 'build', 'bad.yaml', '--output', 'oci:bad'], work);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/bad\.yaml:4:5: images\.0\.layrs: unknown key "layrs"/);
      const missing = await run(['image', 'build', 'spec.yaml'], work);
      expect(missing.code).toBe(1);
    });
  });

  describe('index merge', () => {
    it('dry run prints the merged index; a real run pushes it', async () => {
      /** `index merge` of multi's linux/amd64 into merged, printing as `output` asks. */
      const mergeAmd64 = (output: '--dry-run' | '--json') =>
        run(
          [
            'index',
            'merge',
            `${reg.host}/cli/multi:v1`,
            `${reg.host}/cli/merged:v1`,
            '--platforms',
            'linux/amd64',
            output,
            ...insecure,
          ],
          work,
        );
      await skopeo([
        'copy',
        '--dest-tls-verify=false',
        '--dest-no-creds',
        `oci:${join(work, 'out-a')}:base`,
        `docker://${reg.host}/cli/merged:v1`,
      ]);
      const dry = await mergeAmd64('--dry-run');
      expect(dry.code, dry.err).toBe(0);
      const index = JSON.parse(dry.out) as { manifests: { platform: { architecture: string } }[] };
      expect(index.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
      const before = await skopeoInspectRaw(`${reg.host}/cli/merged:v1`);
      expect(JSON.parse(before).manifests).toBeUndefined();
      const real = await mergeAmd64('--json');
      expect(real.code, real.err).toBe(0);
      const result = JSON.parse(real.out) as { digest: string; entries: { from: string }[] };
      expect(result.entries.map((e) => e.from)).toEqual(['source', 'destination']);
      const after = JSON.parse(await skopeoInspectRaw(`${reg.host}/cli/merged:v1`)) as {
        manifests: unknown[];
      };
      expect(after.manifests.length).toBe(2);
    });
  });

  it('registry traffic of a command honours HTTP_PROXY from its environment', async () => {
    const proxy = await startForwardProxy();
    try {
      const r = await run(['tags', `${reg.host}/cli/built`, ...insecure], work, { HTTP_PROXY: proxy.url });
      expect(r.code, r.err).toBe(0);
      expect(r.out.split('\n')).toContain('app');
      expect(proxy.seen).toContain(`GET http://${reg.host}/v2/cli/built/tags/list`);
    } finally {
      await proxy.stop();
    }
  });

  describe('status', () => {
    it('lists present and missing references; --require-all fails when one is missing', async () => {
      await writeFile(
        join(work, 'refs.txt'),
        `# published images\n${reg.host}/cli/multi:v1\n\n${reg.host}/cli/built:base\n`,
      );
      const ok = await run(['status', '--file', 'refs.txt', '--require-all', '--json', ...insecure], work);
      expect(ok.code, ok.err).toBe(0);
      const status = JSON.parse(ok.out) as { present: boolean; platforms: string[] }[];
      expect(status.map((s) => s.present)).toEqual([true, true]);
      expect(status[0]?.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
      const missing = await run(
        ['status', `${reg.host}/cli/multi:v1`, `${reg.host}/cli/absent:v1`, '--require-all', ...insecure],
        work,
      );
      expect(missing.code).toBe(2);
      expect(missing.out).toMatch(/^present\s+\S+multi:v1/m);
      expect(missing.out).toMatch(/^missing\s+\S+absent:v1/m);
      const lenient = await run(['status', `${reg.host}/cli/absent:v1`, ...insecure], work);
      expect(lenient.code).toBe(0);
    });
  });

  describe('layer inject / extract', () => {
    it('injects a directory and extracts it back', async () => {
      const dir = await writeTree(join(work, 'inject'), { 'opt/conf.json': '{"a":1}' });
      const inj = await run(
        [
          'layer',
          'inject',
          `${reg.host}/cli/built:base`,
          '--dir',
          'inject',
          '--to',
          `${reg.host}/cli/built:base-injected`,
          '--json',
          ...insecure,
        ],
        work,
      );
      expect(inj.code, inj.err).toBe(0);
      expect(JSON.parse(inj.out)).toMatchObject({ replaced: false, layerIndex: 1 });
      const ext = await run(
        [
          'layer',
          'extract',
          `${reg.host}/cli/built:base-injected`,
          '--dir',
          'extracted',
          '--json',
          ...insecure,
        ],
        work,
      );
      expect(ext.code, ext.err).toBe(0);
      expect(JSON.parse(ext.out)).toMatchObject({ layer: 1, files: 1 });
      expect(await listTree(join(work, 'extracted'))).toEqual(await listTree(dir));
      // Nothing injected yet: an empty directory and a note, exit 0 (as the injector's unpack).
      const none = await run(
        ['layer', 'extract', `${reg.host}/cli/built:base`, '--dir', 'nothing', ...insecure],
        work,
      );
      expect(none.code, none.err).toBe(0);
      expect(none.err).toMatch(/note: .* has no injected layer/);
      expect(await listTree(join(work, 'nothing'))).toEqual({});
      const first = await run(
        ['layer', 'extract', `${reg.host}/cli/built:base`, '--dir', 'first', '--layer', '0', ...insecure],
        work,
      );
      expect(first.code, first.err).toBe(0);
      expect(await listTree(join(work, 'first'))).toEqual(await listTree(join(work, 'base')));
    });

    it.skipIf(!xattrs)(
      '--xattrs keeps extended attributes (binary values, long names); GNU tar restores them',
      async () => {
        const { getAttribute, setAttribute, listAttributes } = xattrs as XattrModule;
        const long = `deep/${'d'.repeat(90)}/${'n'.repeat(60)}.conf`;
        const dir = await writeTree(join(work, 'xattrs'), {
          'usr/bin/ping': { content: 'ping', mode: 0o755 },
          [long]: 'long',
          'plain.txt': 'no attributes',
        });
        const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0xff, 0x80, 0xc3]);
        await setAttribute(join(dir, 'usr/bin/ping'), 'user.cap', cap);
        await setAttribute(join(dir, 'usr'), 'user.dir', 'directory attribute');
        await setAttribute(join(dir, long), 'user.long', 'x');
        const layerTar = async (tag: string, extra: string[]) => {
          const r = await run(
            [
              'layer',
              'inject',
              `${reg.host}/cli/built:base`,
              '--dir',
              'xattrs',
              '--to',
              `${reg.host}/cli/built:${tag}`,
              '--json',
              ...extra,
              ...insecure,
            ],
            work,
          );
          expect(r.code, r.err).toBe(0);
          const { layer } = JSON.parse(r.out) as { layer: { digest: string } };
          const oci = join(work, `${tag}-oci`);
          await skopeo([
            'copy',
            '--src-tls-verify=false',
            '--src-no-creds',
            `docker://${reg.host}/cli/built:${tag}`,
            `oci:${oci}:x`,
          ]);
          const tar = join(work, `${tag}.tar`);
          await writeFile(
            tar,
            gunzipSync(await readFile(join(oci, 'blobs', 'sha256', layer.digest.slice(7)))),
          );
          const out = join(work, `${tag}-out`);
          await mkdir(out);
          await exec('tar', ['--xattrs', '--xattrs-include=*', '-xpf', tar, '-C', out]);
          return out;
        };
        const out = await layerTar('xattrs', ['--xattrs']);
        expect(await listTree(out)).toEqual(await listTree(dir));
        expect(await getAttribute(join(out, 'usr/bin/ping'), 'user.cap')).toEqual(cap);
        expect((await getAttribute(join(out, 'usr'), 'user.dir')).toString()).toBe('directory attribute');
        expect((await getAttribute(join(out, long), 'user.long')).toString()).toBe('x');
        expect(await listAttributes(join(out, 'plain.txt'))).toEqual([]);
        // without --xattrs the layer carries none
        const bare = await layerTar('no-xattrs', []);
        expect(await listAttributes(join(bare, 'usr/bin/ping'))).toEqual([]);
        expect(await listTree(bare)).toEqual(await listTree(dir));
      },
    );
  });
});

describe.skipIf(!haveBinaries('docker-registry', 'skopeo'))(
  'index merge across registries with their own credentials',
  () => {
    let open: RunningRegistry;
    let locked: RunningRegistry;
    let work: string;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'ocidelta-cli-merge-'));
      [open, locked] = await Promise.all([startRegistry(), startRegistry({ auth: 'htpasswd' })]);
      const multi = await buildTestLayout(join(work, 'multi'), [
        { platform: { os: 'linux', architecture: 'amd64' }, label: 'x-amd64' },
        { platform: { os: 'linux', architecture: 'arm64' }, label: 'x-arm64' },
      ]);
      await skopeoPushLayout(multi, open.host, 'src/app:v1');
    });
    afterAll(async () => {
      await Promise.all([open?.stop(), locked?.stop()]);
      await rm(work, { recursive: true, force: true });
    });

    it('--dest-creds reach only the destination; without them the push is refused', async () => {
      const args = [
        'index',
        'merge',
        `${open.host}/src/app:v1`,
        `${locked.host}/dst/app:v1`,
        '--platforms',
        'arm64',
      ];
      const refused = await run([...args, '--json'], work);
      expect(refused.code).not.toBe(0);
      expect(refused.err).toMatch(/ERR_AUTH|unauthorized|401/i);
      const ok = await run(
        [...args, '--dest-creds', `${locked.username}:${locked.password}`, '--json'],
        work,
      );
      expect(ok.code, ok.err).toBe(0);
      const result = JSON.parse(ok.out) as { entries: { platform: string; from: string }[] };
      expect(result.entries).toEqual([
        expect.objectContaining({ platform: 'linux/arm64/v8', from: 'source' }),
      ]);
      const pushed = JSON.parse(
        await skopeoInspectRaw(`${locked.host}/dst/app:v1`, {
          creds: `${locked.username}:${locked.password}`,
        }),
      ) as { manifests: { platform: { architecture: string } }[] };
      expect(pushed.manifests.map((m) => m.platform.architecture)).toEqual(['arm64']);
    });

    it('copy --dest-creds / --src-creds: each side its own credentials, as skopeo copy', async () => {
      const creds = `${locked.username}:${locked.password}`;
      const refused = await run(
        ['copy', `${open.host}/src/app:v1`, `docker://${locked.host}/copied/app:v1`, '-q'],
        work,
      );
      expect(refused.code).toBe(2);
      expect(refused.err).toMatch(/ERR_AUTH/);
      const there = await run(
        [
          'copy',
          `${open.host}/src/app:v1`,
          `docker://${locked.host}/copied/app:v1`,
          '-q',
          '--dest-creds',
          creds,
        ],
        work,
      );
      expect(there.code, there.err).toBe(0);
      // and back: the locked registry is now the source
      const back = await run(
        ['copy', `${locked.host}/copied/app:v1`, `${open.host}/back/app:v1`, '-q', '--src-creds', creds],
        work,
      );
      expect(back.code, back.err).toBe(0);
      expect(back.out.trim()).toBe(there.out.trim());
      expect(JSON.parse(await skopeoInspectRaw(`${open.host}/back/app:v1`)).manifests).toHaveLength(2);
    });
  },
);
