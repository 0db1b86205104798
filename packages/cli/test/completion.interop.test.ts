// Completion scripts in the real shells: bash (the function called as bash's completion would),
// fish (`complete -C`, fish's own completer), zsh (an interactive zsh in a pseudo-terminal,
// driven with zpty: TAB pressed, the listed candidates read back).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { runCli } from '../src/cli.js';
import { captureIO } from './support.js';

async function script(shell: string): Promise<string> {
  const io = captureIO();
  expect(await runCli(['completion', shell], io)).toBe(0);
  return io.out();
}

describe.skipIf(!haveBinaries('fish', 'zsh'))('completion in fish and zsh', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocidelta-completion-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fish completes commands, subcommands by position, and options', async () => {
    const file = join(dir, 'ocidelta.fish');
    await writeFile(file, await script('fish'));
    const ask = (line: string) =>
      execFileSync('fish', ['--no-config', '-c', `source ${file}; complete -C '${line}'`], {
        encoding: 'utf8',
      })
        .split('\n')
        .map((l) => l.split('\t')[0] as string)
        .filter(Boolean)
        .sort();
    expect(ask('ocidelta pu')).toEqual(['pull', 'push']);
    expect(ask('ocidelta delta ')).toEqual(['apply', 'decode', 'encode', 'image']);
    // `delta image` is a command, not the `image` group: no `build` offered after it.
    expect(ask('ocidelta delta image ')).not.toContain('build');
    expect(ask('ocidelta delta image --cur')).toEqual(['--current', '--current-origin']);
    expect(ask('ocidelta image ')).toEqual(['build']);
    expect(ask('ocidelta pull --pl')).toEqual(['--platform']);
    expect(ask('ocidelta app --device-t')).toEqual(['--device-type']);
  });

  /** What an interactive zsh shows after typing `line` and TAB twice (escapes removed). */
  async function zshAfterTab(file: string, line: string): Promise<string> {
    const driver = join(dir, 'drive.zsh');
    await writeFile(
      driver,
      [
        'zmodload zsh/zpty',
        "zpty z 'zsh -f -i'",
        `zpty -w z 'PS1="> "; autoload -U compinit; compinit -u -D; source ${file}; ocidelta() { :; }'`,
        'sleep 0.5',
        `zpty -n -w z $'${line}\t\t'`,
        'sleep 1',
        "out=''",
        'while zpty -r -t z chunk; do out+=$chunk; done',
        'print -r -- "$out"',
        'zpty -d z',
      ].join('\n'),
    );
    const out = execFileSync('zsh', ['-f', driver], { encoding: 'utf8', timeout: 20_000 });
    return out
      .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '')
      .replace(/\r/g, '\n');
  }

  it('zsh (through bashcompinit) lists subcommands and completes options on TAB', async () => {
    const file = join(dir, 'ocidelta.zsh');
    await writeFile(file, await script('zsh'));
    const delta = await zshAfterTab(file, 'ocidelta delta ');
    expect(delta).toMatch(/apply\s+decode\s+encode\s+image/);
    const option = await zshAfterTab(file, 'ocidelta pull --pl');
    expect(option).toContain('ocidelta pull --platform');
    const top = await zshAfterTab(file, 'ocidelta ta');
    expect(top).toMatch(/tag\s+tags/);
  });
});
