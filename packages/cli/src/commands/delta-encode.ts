import { basename, resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import { EFFORTS, encodeFile } from '@ocidelta/delta';
import type { CliIO, CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { choiceOption } from '../kit/args.js';
import { requireFile } from '../kit/inputs.js';
import { withProgress } from '../kit/progress.js';
import { intOption } from '../kit/registry-options.js';
import { parseByteSize } from '../kit/size.js';

interface Options {
  source?: string;
  target?: string;
  output?: string;
  effort?: string;
  maxSourceSize?: number;
  jobs?: number;
  quiet?: boolean;
}

async function run(opts: Options, io: CliIO): Promise<number> {
  const source = await requireFile('--source', opts.source, io);
  const target = await requireFile('--target', opts.target, io);
  if (typeof opts.output !== 'string' || opts.output === '') {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', '-o/--output is required', { option: '--output' });
  }
  const effort = choiceOption(opts.effort, EFFORTS, '--effort') ?? 'default';
  const out = resolve(io.cwd, opts.output);
  const { size } = await withProgress(io, { quiet: opts.quiet === true }, { title: 'encode' }, (onProgress) =>
    encodeFile(source, target, out, {
      effort,
      ...(onProgress
        ? {
            onProgress: (e) =>
              onProgress({
                ...e,
                item: basename(target),
                overall: { done: e.done, ...(e.total !== undefined ? { total: e.total } : {}) },
              }),
          }
        : {}),
      ...(opts.maxSourceSize !== undefined
        ? { maxSourceSize: parseByteSize(String(opts.maxSourceSize), '--max-source-size') }
        : {}),
      ...(opts.jobs !== undefined ? { jobs: intOption(opts.jobs, '--jobs') } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
    }),
  );
  io.stdout.write(`wrote ${out} (${size} bytes)\n`);
  return ExitCode.Ok;
}

export const deltaEncodeCommand: CommandDef = {
  path: ['delta', 'encode'],
  summary: 'Write a VCDIFF delta (decodable by stock xdelta3 -d) of a file against another',
  define(cli, io) {
    cli
      .command('', 'Encode a VCDIFF delta')
      .option('--source <file>', 'The old file (held in memory while encoding)')
      .option('--target <file>', 'The new file (streamed)')
      .option('-o, --output <file>', 'Where to write the delta')
      .option('--effort <level>', 'Match effort: fast, default or best', { default: 'default' })
      .option('--max-source-size <size>', 'Refuse sources larger than this (default 2 GiB; e.g. 4GiB)')
      .option('-j, --jobs <n>', 'Encode workers (default: available CPUs; up to ~64 MiB each)')
      .option('-q, --quiet', 'No progress output')
      .example('ocidelta delta encode --source old.tar --target new.tar -o new.tar.vcdiff')
      .action((opts: Options) => run(opts, io));
  },
};
