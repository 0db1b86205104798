/**
 * `ocidelta delta apply`: what the device does with a deep delta, on a workstation: rebuild the
 * new image's archive from the current image's `docker save` archive and image.img, verifying
 * every rebuilt layer against its digest.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import { applyDeepDelta } from '@ocidelta/delta';
import type { CliIO, CommandDef } from '../command.js';
import { ExitCode } from '../command.js';

interface Options {
  current?: string;
  delta?: string;
  output?: string;
  tmpDir?: string;
}

async function run(opts: Options, io: CliIO): Promise<number> {
  for (const [flag, v] of [
    ['--current', opts.current],
    ['--delta', opts.delta],
    ['-o/--output', opts.output],
  ] as const) {
    if (typeof v !== 'string' || v === '') {
      throw new OciDeltaError('ERR_INVALID_OPTIONS', `${flag} is required`, { option: flag });
    }
  }
  const current = resolve(io.cwd, opts.current!);
  const delta = resolve(io.cwd, opts.delta!);
  for (const [flag, file] of [
    ['--current', current],
    ['--delta', delta],
  ] as const) {
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile())
      throw new OciDeltaError('ERR_INPUT', `${flag} ${file}: no such file`, { path: file });
  }
  const out = resolve(io.cwd, opts.output!);
  await applyDeepDelta(current, delta, out, opts.tmpDir ? { tmpDir: resolve(io.cwd, opts.tmpDir) } : {});
  io.stdout.write(`wrote ${out}\n`);
  return ExitCode.Ok;
}

export const deltaApplyCommand: CommandDef = {
  path: ['delta', 'apply'],
  summary: 'Rebuild the new image archive from the current one and a deep-delta image.img',
  define(cli, io) {
    cli
      .command('', 'Apply a deep delta')
      .option('--current <file>', "Current image archive, as the device's `docker save` writes it")
      .option('--delta <file>', 'Deep-delta image.img')
      .option('-o, --output <file>', 'Where to write the rebuilt image archive')
      .option('--tmp-dir <dir>', 'Directory for temporary files')
      .example('ocidelta delta apply --current current.tar --delta image.img -o new.tar')
      .action((opts: Options) => run(opts, io));
  },
};
