/**
 * `ocidelta artifact inspect FILE [--key PUB] [--json]`: verify a Mender artifact (checksums,
 * and the signature when a key is given) and print its header fields and payload files.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import { type ArtifactInfo, openArtifactPayload } from '@ocidelta/core/mender';
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { readArtifactFromArgs } from '../kit/artifact-input.js';
import { writeOutput } from '../kit/output.js';
import { writeJson } from '../kit/registry-options.js';

function kv(record: Record<string, string | string[]> | undefined, indent: string): string[] {
  const entries = Object.entries(record ?? {}).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  if (entries.length === 0) return [`${indent}(none)`];
  return entries.map(([k, v]) => `${indent}${k}: ${Array.isArray(v) ? v.join(', ') : v}`);
}

/** Human-readable summary of an artifact. */
export function formatArtifactInfo(info: ArtifactInfo): string {
  const h = info.headerInfo;
  const t = info.typeInfo;
  const signature = !info.signed
    ? 'no signature'
    : info.signatureVerified
      ? 'signed and verified'
      : 'signed (not verified: no --key given)';
  const lines = [
    `Mender artifact: ${info.path}`,
    `  Name: ${h.artifact_provides.artifact_name}`,
    `  Format: ${info.version.format} ${info.version.version}`,
    `  Size: ${info.size} bytes (compression ${info.compression})`,
    `  Signature: ${signature}`,
    `  Compatible devices: ${h.artifact_depends.device_type.join(', ')}`,
    `  Provides group: ${h.artifact_provides.artifact_group ?? ''}`,
    `  Depends on artifact(s): ${(h.artifact_depends.artifact_name ?? []).join(', ')}`,
    `  Depends on group(s): ${(h.artifact_depends.artifact_group ?? []).join(', ')}`,
    'Payload 0000:',
    `  Type: ${t.type ?? ''}`,
    '  Provides:',
    ...kv(t.artifact_provides, '    '),
    '  Depends:',
    ...kv(t.artifact_depends, '    '),
    `  Clears provides: ${(t.clears_artifact_provides ?? []).join(', ')}`,
    `  Meta-data: ${info.metaData ? JSON.stringify(info.metaData) : '(none)'}`,
    '  Files:',
    ...info.payloads.map((p) => `    ${p.name}  ${p.size} bytes  sha256:${p.sha256}`),
  ];
  if (info.scripts.length > 0) lines.push(`  State scripts: ${info.scripts.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

function inspectDef(path: readonly string[], summary: string): CommandDef {
  return {
    path,
    summary,
    define(cli, io) {
      cli
        .command('[file]', 'Inspect a Mender artifact')
        .option('-k, --key <file>', 'PEM public key: the signature must be valid')
        .option('--max-header-size <size>', 'Largest decompressed header.tar accepted (default 16MiB)')
        .option('--json', 'Print the parsed artifact as JSON')
        .example(`ocidelta ${path.join(' ')} web.mender --key artifact-verify.pem`)
        .action(async () => {
          const { info, json } = await readArtifactFromArgs(cli.rawArgs.slice(2), io, true);
          if (json) writeJson(io, info);
          else io.stdout.write(formatArtifactInfo(info));
          return ExitCode.Ok;
        });
    },
  };
}

export const artifactInspectCommand = inspectDef(
  ['artifact', 'inspect'],
  'Verify a Mender artifact and print its header fields and payload files',
);

/** mender-artifact's name for inspect. */
export const artifactReadCommand = inspectDef(
  ['artifact', 'read'],
  'The same as artifact inspect (mender-artifact read)',
);

/**
 * `ocidelta artifact cat ARTIFACT FILE [-o OUT]`: one payload file, streamed and checked against
 * the manifest's checksum; with -o written to a temp name and renamed only when it matched.
 */
export const artifactCatCommand: CommandDef = {
  path: ['artifact', 'cat'],
  summary: 'Print one payload file of a Mender artifact (checked against its checksum)',
  define(cli, io) {
    cli
      .command('<artifact> <file>', 'Stream FILE of the payload of ARTIFACT')
      .option('-o, --output <file>', 'Write it here (only once its checksum matched) instead of stdout')
      .option('-k, --key <file>', 'PEM public key: the signature must be valid first')
      .action(async (artifactArg: string, name: string, opts: { output?: string; key?: string }) => {
        const file = resolve(io.cwd, artifactArg);
        const publicKey =
          opts.key === undefined
            ? undefined
            : await readFile(resolve(io.cwd, opts.key), 'utf8').catch((err: unknown) => {
                throw new OciDeltaError('ERR_INPUT', `--key ${opts.key}: ${(err as Error).message}`, {
                  path: opts.key,
                });
              });
        const stream = await openArtifactPayload(file, name, {
          ...(publicKey !== undefined ? { publicKey } : {}),
        });
        await writeOutput(io, stream, opts.output);
        return ExitCode.Ok;
      });
  },
};
