/**
 * `ocidelta artifact verify-install ARTIFACT --current SAVE.tar [--current SAVE2.tar ...]`:
 * offline, what the app update module does on a device (deep deltas rebuilt with the device's
 * xdelta3 emulated, every image checked as `docker load` would). Exit 0 with a per-image report
 * when the artifact would install, 2 naming the first failure.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import { type InstalledImage, verifyInstall } from '../app/verify-install.js';
import type { CliIO, CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { writeJson } from '../kit/registry-options.js';
import { formatIecBytes, parseByteSize } from '../kit/size.js';

interface Options {
  current?: string | string[];
  deviceWindow?: string;
  key?: string;
  tmpDir?: string;
  json?: boolean;
}

function line(i: InstalledImage): string {
  const head = `ok  ${i.id.slice(0, 12)}  ${i.urlNew}`;
  if (i.kind === 'full') return `${head}  full image, ${i.layers} layers verified`;
  const seq = i.rebuilt.filter((l) => l.device.sourceAccess === 'sequential').length;
  return `${head}  deep delta from ${i.urlCurrent}: ${i.rebuilt.length} layers rebuilt (${seq} from compressed sources), device reads ${formatIecBytes(i.sourceBytesRead)}`;
}

async function run(file: string | undefined, opts: Options, io: CliIO): Promise<number> {
  if (!file) throw new OciDeltaError('ERR_INVALID_OPTIONS', 'ARTIFACT is required', { option: 'ARTIFACT' });
  const currents = (Array.isArray(opts.current) ? opts.current : opts.current ? [opts.current] : []).map(
    (c) => resolve(io.cwd, String(c)),
  );
  const artifact = resolve(io.cwd, file);
  for (const f of [artifact, ...currents]) {
    if (!(await stat(f).catch(() => undefined))?.isFile()) {
      throw new OciDeltaError('ERR_INPUT', `${f}: no such file`, { path: f });
    }
  }
  const result = await verifyInstall(artifact, {
    current: currents,
    ...(opts.deviceWindow !== undefined
      ? { sourceWindow: parseByteSize(String(opts.deviceWindow), '--device-window') }
      : {}),
    ...(opts.key ? { publicKey: await readFile(resolve(io.cwd, opts.key), 'utf8') } : {}),
    ...(opts.tmpDir ? { tmpDir: resolve(io.cwd, opts.tmpDir) } : {}),
    onImage: (i) => {
      if (!opts.json) io.stdout.write(`${line(i)}\n`);
    },
  });
  if (opts.json) writeJson(io, { ok: true, ...result });
  else
    io.stdout.write(`${artifact}: installs (${result.images.length} images, platform ${result.platform})\n`);
  return ExitCode.Ok;
}

export const artifactVerifyInstallCommand: CommandDef = {
  path: ['artifact', 'verify-install'],
  summary: "Check offline that an app artifact installs: rebuild its images as the device's app module would",
  define(cli, io) {
    cli
      .command('[artifact]', 'Verify that an app artifact installs on a device')
      .option(
        '--current <file>',
        "The device's `docker image save` of a current image (repeatable; needed for deep deltas)",
      )
      .option('--device-window <size>', "The device xdelta3's -B (default 64MiB)")
      .option('-k, --key <file>', 'PEM public key: the signature must be valid')
      .option('--tmp-dir <dir>', 'Directory for temporary files (needs room for the unpacked payload)')
      .option('--json', 'Print the report as JSON')
      .example(
        'ocidelta artifact verify-install shop-1.1.0.mender --current web-1.0.tar --current db-1.0.tar',
      )
      .action((artifact: string | undefined, opts: Options) => run(artifact, opts, io));
  },
};
