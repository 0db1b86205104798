/**
 * `ocidelta artifact validate FILE [--key PUB]`: like `mender-artifact validate`: exit 0 when
 * the artifact is well-formed, every checksum matches and (with a key) the signature is valid.
 */
import type { CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { readArtifactFromArgs } from '../kit/artifact-input.js';

export const artifactValidateCommand: CommandDef = {
  path: ['artifact', 'validate'],
  summary: 'Validate a Mender artifact (format, checksums, signature with --key)',
  define(cli, io) {
    cli
      .command('[file]', 'Validate a Mender artifact')
      .option('-k, --key <file>', 'PEM public key: the signature must be valid')
      .option('--max-header-size <size>', 'Largest decompressed header.tar accepted (default 16MiB)')
      .example('ocidelta artifact validate web.mender --key artifact-verify.pem')
      .action(async () => {
        const { info } = await readArtifactFromArgs(cli.rawArgs.slice(2), io, false);
        const sig = info.signatureVerified
          ? ', signature verified'
          : info.signed
            ? ', signature not checked'
            : '';
        io.stdout.write(`Artifact file '${info.path}' validated successfully${sig}\n`);
        return ExitCode.Ok;
      });
  },
};
