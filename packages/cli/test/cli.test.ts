import { describe, expect, it } from 'vitest';
import { runCli, VERSION } from '../src/index.js';
import { captureIO } from './support.js';

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
