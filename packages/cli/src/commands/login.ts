/**
 * `ocidelta login REGISTRY -u USER (-p PASS | --password-stdin)` and `ocidelta logout REGISTRY`,
 * compatible with `docker login`: credentials checked against the registry, then kept in the
 * Docker config (or the credential helper it names) for every later command, skopeo and docker.
 */
import { resolve } from 'node:path';
import { OciDeltaError } from '@ocidelta/core';
import { login, logout } from '@ocidelta/registry';
import type { CliIO, CommandDef } from '../command.js';
import { ExitCode } from '../command.js';
import { stringOption, writeJson } from '../kit/registry-options.js';

interface LoginCliOptions {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  authfile?: string;
  insecure?: boolean;
  json?: boolean;
}

async function readStdin(io: CliIO): Promise<string> {
  const stdin = (io as CliIO & { stdin?: NodeJS.ReadableStream }).stdin ?? process.stdin;
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function registryArg(value: string): string {
  const host = value.replace(/^(?:docker|https?):\/\//, '').replace(/\/.*$/, '');
  if (host === '') throw new OciDeltaError('ERR_INVALID_OPTIONS', 'give the registry to log in to', {});
  return host;
}

export const loginCommand: CommandDef = {
  path: ['login'],
  summary: 'Log in to a registry: check the credentials and store them (docker config.json)',
  // docker's -p: in ocidelta -p is --platform.
  unknownOptionHints: { '-p': 'ocidelta login takes the password with --password-stdin (or --password)' },
  define(cli, io) {
    cli
      .command('<registry>', 'Log in to REGISTRY (host[:port])')
      .option('-u, --username <user>', 'User name (required)')
      .option('--password <password>', 'Password (visible in the process list: prefer --password-stdin)')
      .option('--password-stdin', 'Read the password from stdin')
      .option(
        '--authfile <file>',
        'Write this auth file (default $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json)',
      )
      .option('--insecure', 'Allow plain HTTP (and unverified TLS) for this registry')
      .option('--json', 'Print the result as JSON')
      .action(async (registryText: string, opts: LoginCliOptions) => {
        const registry = registryArg(registryText);
        const username = stringOption(opts.username, '--username');
        if (username === undefined)
          throw new OciDeltaError('ERR_INVALID_OPTIONS', 'login needs --username', { option: '--username' });
        if (opts.password !== undefined && opts.passwordStdin) {
          throw new OciDeltaError(
            'ERR_INVALID_OPTIONS',
            '--password and --password-stdin exclude each other',
            {},
          );
        }
        const password = opts.passwordStdin ? await readStdin(io) : stringOption(opts.password, '--password');
        if (password === undefined || password === '') {
          throw new OciDeltaError('ERR_INVALID_OPTIONS', 'login needs --password-stdin (or --password)', {
            option: '--password',
          });
        }
        const authfile = stringOption(opts.authfile, '--authfile');
        const result = await login(
          registry,
          { username, password },
          {
            env: io.env,
            ...(authfile !== undefined ? { authFile: resolve(io.cwd, authfile) } : {}),
            ...(opts.insecure ? { insecureRegistries: [registry] } : {}),
            ...(io.signal ? { signal: io.signal } : {}),
          },
        );
        if (opts.json) writeJson(io, { registry, username, ...result });
        else
          io.stdout.write(
            `Login Succeeded (${result.stored === 'helper' ? `credential helper ${result.helper}` : result.file})\n`,
          );
        return ExitCode.Ok;
      });
  },
};

export const logoutCommand: CommandDef = {
  path: ['logout'],
  summary: 'Remove the stored credentials of a registry',
  define(cli, io) {
    cli
      .command('<registry>', 'Log out of REGISTRY')
      .option('--authfile <file>', 'Auth file to edit (default as login)')
      .action(async (registryText: string, opts: { authfile?: string }) => {
        const registry = registryArg(registryText);
        const authfile = stringOption(opts.authfile, '--authfile');
        const r = await logout(registry, {
          env: io.env,
          ...(authfile !== undefined ? { authFile: resolve(io.cwd, authfile) } : {}),
        });
        if (!r.removed) {
          io.stderr.write(`ocidelta: not logged in to ${registry} (${r.file})\n`);
          return ExitCode.Input;
        }
        io.stdout.write(`Removed login credentials for ${registry} (${r.file})\n`);
        return ExitCode.Ok;
      });
  },
};
