import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';

function io(cwd: string) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => {
    stdout += c;
  });
  err.on('data', (c) => {
    stderr += c;
  });
  return { io: { stdout: out, stderr: err, env: {}, cwd }, text: () => ({ stdout, stderr }) };
}

describe('ocidelta delta encode/decode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-vcdiff-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const old = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(2000));
  const neu = Buffer.concat([
    old.subarray(0, 30_000),
    Buffer.from('an inserted line\n'),
    old.subarray(30_000),
  ]);
  writeFileSync(join(dir, 'old'), old);
  writeFileSync(join(dir, 'new'), neu);

  it('encodes then decodes a file back to the target', async () => {
    const a = io(dir);
    expect(
      await runCli(['delta', 'encode', '--source', 'old', '--target', 'new', '-o', 'd.vcdiff'], a.io),
    ).toBe(0);
    expect(a.text().stdout).toMatch(/wrote .*d\.vcdiff/);
    expect(readFileSync(join(dir, 'd.vcdiff')).length).toBeLessThan(1000);
    const b = io(dir);
    expect(
      await runCli(['delta', 'decode', '--source', 'old', '--delta', 'd.vcdiff', '-o', 'out'], b.io),
    ).toBe(0);
    expect(readFileSync(join(dir, 'out')).equals(neu)).toBe(true);
  });

  it('fails with exit 2 and a clear message on a missing file or a bad delta', async () => {
    const a = io(dir);
    expect(await runCli(['delta', 'decode', '--source', 'old', '--delta', 'nope', '-o', 'x'], a.io)).toBe(2);
    expect(a.text().stderr).toMatch(/--delta .*nope: no such file/);
    const b = io(dir);
    expect(await runCli(['delta', 'decode', '--source', 'old', '--delta', 'new', '-o', 'x'], b.io)).toBe(2);
    expect(b.text().stderr).toMatch(/ERR_VCDIFF/);
    const c = io(dir);
    expect(await runCli(['delta', 'encode', '--source', 'old', '--target', 'new'], c.io)).toBe(1);
  });

  it('--max-source-size reads sizes with units; a bad size is an option error, not NaN', async () => {
    const a = io(dir);
    const args = ['delta', 'encode', '--source', 'old', '--target', 'new', '-o', 'e.vcdiff'];
    expect(await runCli([...args, '--max-source-size', '80KiB'], a.io)).toBe(2);
    expect(a.text().stderr).toMatch(/ERR_SOURCE_TOO_LARGE/);
    const b = io(dir);
    expect(await runCli([...args, '--max-source-size', '1MiB'], b.io)).toBe(0);
    const c = io(dir);
    expect(await runCli([...args, '--max-source-size', 'lots'], c.io)).toBe(1);
    expect(c.text().stderr).toMatch(/--max-source-size: invalid size "lots"/);
  });
});
