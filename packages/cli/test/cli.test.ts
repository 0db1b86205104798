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
    const { timeoutsOption } = await import('../src/kit/registry-options.js');
    expect(timeoutsOption('2.5')).toEqual({ headersMs: 2500, bodyIdleMs: 2500 });
    for (const bad of ['0', '-3', 'soon']) {
      // '--timeout=-3': a bare -3 would read as an option
      const io = captureIO();
      expect(await runCli(['tags', '127.0.0.1:9/x', `--timeout=${bad}`], io)).toBe(1);
      expect(io.err()).toContain('--timeout must be a positive number of seconds');
    }
  });
});

describe('help and typos', () => {
  it('`help CMD` is `CMD --help`; a group prints its commands; help has no cac noise', async () => {
    const a = captureIO();
    expect(await runCli(['help', 'delta', 'encode'], a)).toBe(0);
    const b = captureIO();
    expect(await runCli(['delta', 'encode', '--help'], b)).toBe(0);
    expect(a.out()).toBe(b.out());
    expect(a.out()).toContain('ocidelta delta encode/');
    expect(a.out()).not.toMatch(/For more info|--help\n.*\$ ocidelta|[ \t]+\n/);
    const group = captureIO();
    expect(await runCli(['delta'], group)).toBe(1);
    expect(group.err()).toMatch(/Commands:\n {2}delta encode +Write a VCDIFF delta/);
    expect(group.err()).toContain('delta apply');
    const groupHelp = captureIO();
    expect(await runCli(['help', 'delta'], groupHelp)).toBe(0);
    expect(groupHelp.out()).toContain('ocidelta delta <command> [options]');
    const wrongSub = captureIO();
    expect(await runCli(['delta', 'encdoe'], wrongSub)).toBe(1);
    expect(wrongSub.err()).toContain('unknown command "delta encdoe"');
  });

  it('suggests the nearest command for a typo', async () => {
    const io = captureIO();
    expect(await runCli(['pul', 'x'], io)).toBe(1);
    expect(io.err()).toContain('did you mean `ocidelta pull`?');
    const far = captureIO();
    expect(await runCli(['frobnicate'], far)).toBe(1);
    expect(far.err()).not.toContain('did you mean');
  });

  it('tags of an image reference is a usage error (as skopeo list-tags)', async () => {
    for (const ref of ['registry.example.com/app:1', `registry.example.com/app@sha256:${'a'.repeat(64)}`]) {
      const io = captureIO();
      expect(await runCli(['tags', ref], io)).toBe(1);
      expect(io.err()).toMatch(
        /tags lists a repository: .* names an image .*; give registry\.example\.com\/app/,
      );
    }
  });
});

describe('shell completion', () => {
  it('the bash script completes commands, subcommands and options in a real bash', async () => {
    const io = captureIO();
    expect(await runCli(['completion', 'bash'], io)).toBe(0);
    const { execFileSync } = await import('node:child_process');
    const ask = (words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `eval "$(cat)"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _ocidelta; echo "\${COMPREPLY[*]}"`,
        ],
        { input: io.out() },
      )
        .toString()
        .trim();
    expect(ask(['ocidelta', 'pul'])).toBe('pull');
    expect(ask(['ocidelta', 'delta', '']).split(' ').sort()).toEqual(['apply', 'decode', 'encode', 'image']);
    expect(ask(['ocidelta', 'pull', '--pl'])).toBe('--platform');
    expect(ask(['ocidelta', 'app', '--device-t'])).toBe('--device-type');
    const fish = captureIO();
    expect(await runCli(['completion', 'fish'], fish)).toBe(0);
    // Exercised in fish itself by completion.interop.test.ts.
    expect(fish.out()).toContain(`-n 'test "$(__ocidelta_words)" = '\\''pull'\\''' -l 'platform'`);
    const bad = captureIO();
    expect(await runCli(['completion', 'tcsh'], bad)).toBe(1);
  });
});

describe('short options', () => {
  it('each letter means one thing across commands (mender-artifact ones keep its letters)', async () => {
    const { cac } = await import('cac');
    const { builtinCommands } = await import('../src/commands/index.js');
    // Different long names that are one meaning: an output path; more logging; a file whose
    // content the artifact ships (app's `-f SERVICE FILE`, artifact write's `-f FILE`).
    const same: Record<string, string> = {
      'output-path': 'output',
      verbose: 'debug',
      'service-file': 'file',
    };
    const meanings = new Map<string, Map<string, string[]>>();
    const io = captureIO();
    for (const def of builtinCommands()) {
      if (def.path[0] === 'mender-artifact') continue;
      const probe = cac('probe');
      def.define(probe, io);
      for (const o of [...probe.commands.flatMap((c) => c.options), ...probe.globalCommand.options]) {
        const short = /(?:^|[ ,])-([a-zA-Z])\b/.exec(o.rawName)?.[1];
        const long = /--([a-z][\w-]*)/.exec(o.rawName)?.[1];
        if (!short || !long || short === 'h') continue;
        const byLong = meanings.get(short) ?? new Map<string, string[]>();
        const key = same[long] ?? long;
        byLong.set(key, [...(byLong.get(key) ?? []), def.path.join(' ')]);
        meanings.set(short, byLong);
      }
    }
    const clashes = [...meanings]
      .filter(([, byLong]) => byLong.size > 1)
      .map(([s, byLong]) => `-${s}: ${[...byLong.keys()].join(' / ')}`);
    expect(clashes).toEqual([]);
    // The ones the review named, now with one meaning each.
    expect([...(meanings.get('p')?.keys() ?? [])]).toEqual(['platform']);
    expect(meanings.get('p')?.get('platform')).toEqual(
      expect.arrayContaining(['app', 'pull', 'delta image']),
    );
  });
});
