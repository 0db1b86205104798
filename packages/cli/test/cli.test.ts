import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type CliIO, runCli, VERSION } from '../src/index.js';

export function captureIO(): CliIO & { out(): string; err(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  return { stdout, stderr, env: {}, cwd: process.cwd(), out: () => out, err: () => err };
}

describe('ocidelta CLI', () => {
  it('prints its version', async () => {
    const io = captureIO();
    expect(await runCli(['--version'], io)).toBe(0);
    expect(io.out().trim()).toBe(VERSION);
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('prints help listing commands', async () => {
    const io = captureIO();
    expect(await runCli(['--help'], io)).toBe(0);
    expect(io.out()).toContain('Usage:');
  });

  it('rejects an unknown command with exit code 1', async () => {
    const io = captureIO();
    expect(await runCli(['frobnicate'], io)).toBe(1);
    expect(io.err()).toContain('unknown command "frobnicate"');
  });
});
