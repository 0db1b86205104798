/**
 * `ocidelta delta decode`: rebuild a file from its source and a VCDIFF delta (ours or xdelta3's
 * without secondary compression), checking each window's Adler-32 when present.
 */
import { resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import { decodeFile } from '@ocidelta/delta';
import type { CliIO, CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { requireFile } from '../kit/inputs.js';

interface Options {
  source?: string;
  delta?: string;
  output?: string;
}

async function run(opts: Options, io: CliIO): Promise<number> {
  const source = await requireFile('--source', opts.source, io);
  const delta = await requireFile('--delta', opts.delta, io);
  if (typeof opts.output !== 'string' || opts.output === '') {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', '-o/--output is required', { option: '--output' });
  }
  const out = resolve(io.cwd, opts.output);
  const { size } = await decodeFile(source, delta, out);
  io.stdout.write(`wrote ${out} (${size} bytes)\n`);
  return ExitCode.Ok;
}

export const deltaDecodeCommand: CommandDef = {
  path: ['delta', 'decode'],
  summary: 'Rebuild a file from its source and a VCDIFF delta',
  define(cli, io) {
    cli
      .command('', 'Decode a VCDIFF delta')
      .option('--source <file>', 'The old file the delta was made against')
      .option('--delta <file>', 'The VCDIFF delta')
      .option('-o, --output <file>', 'Where to write the rebuilt file')
      .example('ocidelta delta decode --source old.tar --delta new.tar.vcdiff -o new.tar')
      .action((opts: Options) => run(opts, io));
  },
};
