/**
 * Test support for the CLI tests: an in-memory `CliIO` that records what a command writes, and
 * `runCapture` to run `runCli` in-process and get its exit code and output in one call.
 */
import { PassThrough } from 'node:stream';
import { type CliIO, runCli } from '../src/index.js';

/** Where a captured run happens: working directory (default `process.cwd()`) and environment (default empty). */
export interface CaptureOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** A `CliIO` whose stdout and stderr are kept in memory. */
export interface CapturedIO extends CliIO {
  /** Everything written to stdout so far, as UTF-8 text. */
  out(): string;
  /** Everything written to stdout so far, as bytes (e.g. a raw manifest). */
  raw(): Buffer;
  /** Everything written to stderr so far, as UTF-8 text. */
  err(): string;
}

/** The outcome of {@link runCapture}. */
export interface CliRun {
  code: number;
  out: string;
  raw: Buffer;
  err: string;
}

/** A `CliIO` that records stdout and stderr. */
export function captureIO(options: CaptureOptions = {}): CapturedIO {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => {
    out.push(c);
  });
  stderr.on('data', (c: Buffer) => {
    err.push(c);
  });
  const raw = () => Buffer.concat(out);
  return {
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    raw,
    out: () => raw().toString('utf8'),
    err: () => Buffer.concat(err).toString('utf8'),
  };
}

/** Run the CLI in-process with `args` and return its exit code and everything it printed. */
export async function runCapture(args: string[], options: CaptureOptions = {}): Promise<CliRun> {
  const io = captureIO(options);
  const code = await runCli(args, io);
  return { code, out: io.out(), raw: io.raw(), err: io.err() };
}
