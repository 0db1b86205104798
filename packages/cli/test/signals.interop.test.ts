// Ctrl-C and SIGTERM on real processes: a pull and a delta image stuck mid-download (a loopback
// proxy in front of the real docker-registry stalls a layer after 3 MB) are interrupted; they
// exit 130 / 143, say so, and leave no temporary blobs, work directories or locks behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestOf, MediaType, Reference } from '@ocidelta/core';
import { RegistryClient } from '@ocidelta/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import {
  type FaultProxy,
  pseudoRandom,
  type RunningRegistry,
  startFaultProxy,
  startRegistry,
  tarFiles,
} from '../../registry/test/harness/index.js';

const bin = join(__dirname, '../dist/bin.js');

/** Everything under `dir`, relative, recursively. */
async function listAll(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    out.push(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1));
  }
  return out.sort();
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function run(
  args: string[],
  cwd: string,
): { child: ChildProcess; done: Promise<{ code: number | null; err: string }> } {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: '' },
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  child.stdout?.resume();
  const done = new Promise<{ code: number | null; err: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, err })),
  );
  return { child, done };
}

describe.skipIf(!haveBinaries('docker-registry'))('interrupting commands', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;
  let layerDigest: string;

  beforeAll(async () => {
    if (!existsSync(bin)) {
      if (process.env.CI) throw new Error(`${bin} missing: the test command builds first`);
      console.warn(`SKIP interrupting commands: ${bin} not built (pnpm build)`);
    }
    work = await mkdtemp(join(tmpdir(), 'ocidelta-signals-'));
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    const client = new RegistryClient({ useDockerConfig: false });
    for (const tag of ['1', '2']) {
      const layer = await tarFiles({ 'data.bin': pseudoRandom(12_000_000, `signals-${tag}`) });
      const config = Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: [digestOf(layer)] },
        }),
      );
      const repo = Reference.parse(`${reg.host}/sig/app:${tag}`);
      await client.uploadBlob(repo, layer, { digest: digestOf(layer), size: layer.length });
      await client.uploadBlob(repo, config, { digest: digestOf(config), size: config.length });
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length },
          layers: [{ mediaType: MediaType.OciLayer, digest: digestOf(layer), size: layer.length }],
        }),
      );
      await client.putManifest(repo, manifest, MediaType.OciManifest);
      if (tag === '1') layerDigest = digestOf(layer);
    }
    await client.close();
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it.skipIf(!existsSync(bin))('Ctrl-C during a pull: exit 130, no .tmp blobs or locks left', async () => {
    proxy.addFault({
      method: 'GET',
      path: `/blobs/${layerDigest}`,
      fault: { kind: 'stall', afterBytes: 3_000_000 },
      times: Infinity,
    });
    const out = join(work, 'pulled');
    const { child, done } = run(['pull', `${proxy.host}/sig/app:1`, '--oci', out, '--insecure', '-q'], work);
    await until('a partial blob', async () => (await listAll(out)).some((p) => p.includes('.tmp-')));
    child.kill('SIGINT');
    const { code, err } = await done;
    expect(code).toBe(130);
    expect(err).toContain('interrupted (SIGINT)');
    expect((await listAll(out)).filter((p) => p.includes('.tmp-') || p.endsWith('.lock'))).toEqual([]);
    proxy.clearFaults();
  });

  it.skipIf(!existsSync(bin))(
    'SIGTERM during delta image: exit 143, its work directory and output are gone',
    async () => {
      proxy.addFault({
        method: 'GET',
        path: `/blobs/${layerDigest}`,
        fault: { kind: 'stall', afterBytes: 3_000_000 },
        times: Infinity,
      });
      const tmp = join(work, 'delta-tmp');
      const { mkdir } = await import('node:fs/promises');
      await mkdir(tmp);
      const before = proxy.requests.length;
      const { child, done } = run(
        [
          'delta',
          'image',
          '--current',
          `${proxy.host}/sig/app:1`,
          '--new',
          `${proxy.host}/sig/app:2`,
          '-o',
          'out.img',
          '--tmp-dir',
          tmp,
          '--insecure',
        ],
        work,
      );
      await until('the stalled download', async () =>
        proxy.requests.slice(before).some((r) => r.path.includes(layerDigest) && r.status === 200),
      );
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGTERM');
      const { code, err } = await done;
      expect(code, err).toBe(143);
      expect(err).toContain('interrupted (SIGTERM)');
      expect(await listAll(tmp)).toEqual([]);
      expect((await readdir(work)).filter((n) => n.startsWith('out.img'))).toEqual([]);
      proxy.clearFaults();
    },
  );
});
