// Live progress of real commands: a pull through a throttled loopback proxy (4 MB/s per connection) in front
// of the real docker-registry, run in a pseudo-terminal (util-linux `script`), shows redrawn bars
// with rate and ETA, coloured unless NO_COLOR; TERM=dumb, a pipe or CI get plain lines that
// arrive while the pull runs, not only at its end; delta image reports its source phase.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
const haveScript = spawnSync('script', ['--version']).status === 0;
const ESC = '\x1b[';
const E = String.fromCharCode(27);
/** A redraw: cursor up N lines, clear to the end of the screen. */
const REDRAW = new RegExp(`${E}\\[\\d+A${E}\\[J`);
/** Any CSI escape sequence (colour, cursor). */
const CSI = new RegExp(`${E}\\[[0-9;]*[A-Za-z]`, 'g');

/** Output of `args` run in a pseudo-terminal of 120 columns (stdout and stderr both land there). */
function inTerminal(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string }> {
  const command = [process.execPath, bin, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  const child = spawn('script', ['-qfec', `stty cols 120 2>/dev/null; exec ${command}`, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.resume();
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

/** Stderr lines of `args` on a pipe, each with the time it arrived, and when the process ended. */
function onPipe(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; lines: { at: number; text: string }[]; end: number }> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: { at: number; text: string }[] = [];
  let partial = '';
  child.stderr.on('data', (c: Buffer) => {
    const parts = (partial + c.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ at: Date.now(), text });
  });
  child.stdout.resume();
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, lines, end: Date.now() })));
}

describe.skipIf(!haveBinaries('docker-registry'))('live progress of real commands', () => {
  let reg: RunningRegistry;
  let proxy: FaultProxy;
  let work: string;
  let n = 0;
  const ready = existsSync(bin) && haveScript;

  beforeAll(async () => {
    if (!ready) {
      const why = existsSync(bin) ? 'util-linux script missing' : `${bin} not built (pnpm build)`;
      if (process.env.CI) throw new Error(`live progress tests cannot run: ${why}`);
      console.warn(`SKIP live progress: ${why}`);
    }
    work = await mkdtemp(join(tmpdir(), 'ocidelta-progress-'));
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.url);
    const client = new RegistryClient({ useDockerConfig: false });
    for (const tag of ['1', '2']) {
      const layers = [
        await tarFiles({ 'base.bin': pseudoRandom(6_000_000, 'progress-base') }),
        await tarFiles({ 'app.bin': pseudoRandom(6_000_000, `progress-${tag}`) }),
      ];
      const repo = Reference.parse(`${reg.host}/prog/app:${tag}`);
      const config = Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: layers.map((l) => digestOf(l)) },
        }),
      );
      for (const blob of [...layers, config])
        await client.uploadBlob(repo, blob, { digest: digestOf(blob), size: blob.length });
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length },
          layers: layers.map((l) => ({ mediaType: MediaType.OciLayer, digest: digestOf(l), size: l.length })),
        }),
      );
      await client.putManifest(repo, manifest, MediaType.OciManifest);
    }
    await client.close();
    proxy.addFault({
      method: 'GET',
      path: '/blobs/',
      fault: { kind: 'throttle', bytesPerSecond: 4_000_000 },
      times: Infinity,
    });
  });
  afterAll(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const pullArgs = () => [
    'pull',
    `${proxy.host}/prog/app:1`,
    '--oci',
    join(work, `pull-${n++}`),
    '--insecure',
  ];

  it.skipIf(!ready)(
    'on a terminal: bars redrawn in place with rate and ETA, coloured, cleared at the end',
    async () => {
      const { code, out } = await inTerminal(pullArgs(), { TERM: 'xterm-256color' });
      expect(code).toBe(0);
      // Redraws move the cursor up and clear below; the bar is coloured.
      expect(out).toMatch(REDRAW);
      expect(out).toContain(`${ESC}36m#`);
      // A layer's bar with bytes, percentage, rate and ETA, and the overall bar.
      const plain = out.replace(CSI, '');
      expect(plain).toMatch(
        /blob +\[[#.]{24}\] sha256:[0-9a-f]{12} [\d.]+ (KiB|MiB)\/5\.72 MiB \d+% [\d.]+ MiB\/s ETA \d+s/,
      );
      expect(plain).toMatch(/pull +\[[#.]{24}\] [\d.]+ (KiB|MiB)\/11\.4 MiB \d+% [\d.]+ MiB\/s ETA \d+s/);
      // The closing line, then the result (the manifest digest) on stdout.
      expect(plain).toMatch(/pull: 11\.4 MiB in \d+s, [\d.]+ MiB\/s\r?\nsha256:[0-9a-f]{64}/);
    },
  );

  it.skipIf(!ready)('NO_COLOR keeps the bars and drops the colour; TERM=dumb gets plain lines', async () => {
    const noColor = await inTerminal(pullArgs(), { TERM: 'xterm', NO_COLOR: '1' });
    expect(noColor.code).toBe(0);
    expect(noColor.out).toMatch(REDRAW);
    expect(noColor.out).not.toContain(`${ESC}36m`);
    expect(noColor.out).toMatch(/pull +\[[#.]{24}\]/);
    const dumb = await inTerminal(pullArgs(), { TERM: 'dumb', OCIDELTA_PROGRESS_INTERVAL: '0.3' });
    expect(dumb.code).toBe(0);
    expect(dumb.out).not.toContain(ESC);
    expect(dumb.out).toMatch(/pull: [\d.]+ (KiB|MiB)\/11\.4 MiB \d+% [\d.]+ MiB\/s ETA \d+s/);
  });

  it.skipIf(!ready)(
    'in CI (a pipe): status lines arrive while the pull runs, a line per blob, no escapes',
    async () => {
      const { code, lines, end } = await onPipe(pullArgs(), {
        CI: 'true',
        OCIDELTA_PROGRESS_INTERVAL: '0.3',
      });
      expect(code).toBe(0);
      const status = lines.filter((l) => /^pull: [\d.]+ (B|KiB|MiB)\/11\.4 MiB \d+%/.test(l.text));
      // ~1.5 s at 2 x 4 MB/s: several status lines, the first well before the end.
      expect(status.length).toBeGreaterThanOrEqual(2);
      expect(end - (status[0]?.at ?? end)).toBeGreaterThan(400);
      expect(lines.filter((l) => /^blob: sha256:[0-9a-f]{64} 5\.72 MiB$/.test(l.text))).toHaveLength(2);
      expect(lines.at(-1)?.text).toMatch(/^pull: 11\.4 MiB in \d+s, [\d.]+ MiB\/s$/);
      expect(lines.some((l) => l.text.includes('\x1b'))).toBe(false);
    },
  );

  it.skipIf(!ready)(
    'delta image reports reading the source layer, then encoding, with an overall total',
    async () => {
      const { code, lines } = await onPipe(
        [
          'delta',
          'image',
          '--current',
          `${proxy.host}/prog/app:1`,
          '--new',
          `${proxy.host}/prog/app:2`,
          '-o',
          join(work, 'image.img'),
          '--insecure',
        ],
        { CI: 'true', OCIDELTA_PROGRESS_INTERVAL: '0.2' },
      );
      expect(code).toBe(0);
      const text = lines.map((l) => l.text);
      // The changed layer's source (current layer 1) is read through the slow link first.
      expect(text.some((t) => /^delta: .* \d+%.*; source current layer 1/.test(t))).toBe(true);
      expect(text.some((t) => /^delta: .* \d+%.*; encode layer 1/.test(t))).toBe(true);
      expect(text).toContain('write: image.img done');
      expect(text.at(-1)).toMatch(/^delta: 17\.2 MiB in \d+s/);
    },
  );

  it.skipIf(!ready)('delta encode and artifact write print their progress too', async () => {
    const a = join(work, 'a.bin');
    const b = join(work, 'b.bin');
    await writeFile(a, pseudoRandom(8_000_000, 'enc-a'));
    await writeFile(
      b,
      Buffer.concat([pseudoRandom(8_000_000, 'enc-a').subarray(0, 7_000_000), pseudoRandom(1_000_000, 'x')]),
    );
    const enc = await onPipe(
      ['delta', 'encode', '--source', a, '--target', b, '-o', join(work, 'b.vcdiff')],
      { CI: 'true' },
    );
    expect(enc.code).toBe(0);
    expect(enc.lines.at(-1)?.text).toMatch(/^encode: 7\.63 MiB in \d+s, [\d.]+ (KiB|MiB)\/s$/);
    const writeArtifact = (out: string, ...extra: string[]) =>
      onPipe(
        [
          'artifact',
          'write',
          'module-image',
          '-T',
          'app',
          '-t',
          'pi',
          '-n',
          'x-1',
          '-f',
          b,
          '-o',
          out,
          ...extra,
        ],
        {
          CI: 'true',
        },
      );
    const art = await writeArtifact(join(work, 'x.mender'));
    expect(art.code).toBe(0);
    expect(art.lines.map((l) => l.text)).toContain('write: b.bin 7.63 MiB');
    const quiet = await writeArtifact(join(work, 'y.mender'), '--no-progress');
    expect(quiet.lines).toEqual([]);
  });
});
