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

  it('--timeout takes positive seconds: anything else is a usage error naming the flag', async () => {
    const { timeoutsOption } = await import('../src/registry-options.js');
    expect(timeoutsOption('2.5')).toEqual({ headersMs: 2500, bodyIdleMs: 2500 });
    for (const bad of ['0', '-3', 'soon']) {
      // '--timeout=-3': a bare -3 would read as an option
      const io = captureIO();
      expect(await runCli(['tags', '127.0.0.1:9/x', `--timeout=${bad}`], io)).toBe(1);
      expect(io.err()).toContain('--timeout must be a positive number of seconds');
    }
  });
});
