/**
 * Helpers for the Mender artifact tests: run the real `mender-artifact`, translate writer
 * options into its flags, locate members in an artifact's outer tar, generate keys; read a
 * payload stream, and the typed error an operation fails with.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isOciDeltaError } from '../src/index.js';
import type { WriteArtifactOptions } from '../src/mender/index.js';

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function menderArtifact(args: string[]): RunResult {
  const r = spawnSync('mender-artifact', args, { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `mender-artifact read` output without the lines that legitimately differ between writers. */
export function normalizedRead(path: string, key?: string): string {
  const r = menderArtifact(['read', ...(key ? ['-k', key] : []), path]);
  if (r.status !== 0) throw new Error(`mender-artifact read ${path} failed: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => !/^\s*modified:/.test(l))
    .join('\n');
}

/** The flags `mender-artifact write module-image` takes for the same options (files are paths). */
export function menderWriteArgs(o: WriteArtifactOptions, dir: string, out: string, key?: string): string[] {
  const a = ['write', 'module-image', '-T', o.type, '-n', o.artifactName, '-o', out];
  for (const t of o.deviceTypes) a.push('-t', t);
  if (o.artifactGroup) a.push('-g', o.artifactGroup);
  for (const n of o.dependsArtifactName ?? []) a.push('-N', n);
  for (const g of o.dependsGroups ?? []) a.push('-G', g);
  for (const [k, v] of Object.entries(o.provides ?? {})) a.push('-p', `${k}:${v}`);
  for (const [k, v] of Object.entries(o.depends ?? {})) a.push('-d', `${k}:${v}`);
  // After -p: mender-artifact lets the later of -p and --software-* win; ours lets software win.
  if (o.softwareName !== undefined) a.push('--software-name', o.softwareName);
  if (o.softwareVersion !== undefined) a.push('--software-version', o.softwareVersion);
  if (o.softwareFilesystem !== undefined) a.push('--software-filesystem', o.softwareFilesystem);
  if (o.noDefaultSoftwareVersion) a.push('--no-default-software-version');
  if (o.noDefaultClearsProvides) a.push('--no-default-clears-provides');
  for (const c of o.clearsProvides ?? []) a.push('--clears-provides', c);
  if (o.metaData) {
    const meta = join(dir, `meta-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(meta, JSON.stringify(o.metaData));
    a.push('-m', meta);
  }
  for (const f of o.files) a.push('-f', typeof f === 'string' ? f : f.path!);
  // mender-artifact calls xz lzma.
  a.push('--compression', o.compression === 'xz' ? 'lzma' : (o.compression ?? 'gzip'));
  if (key) a.push('-k', key);
  return a;
}

export interface OuterMember {
  name: string;
  /** Offset of the content in the file. */
  offset: number;
  size: number;
}

/** Members of an uncompressed tar (the artifact's outer tar), with content offsets. */
export function outerMembers(file: string): OuterMember[] {
  const buf = readFileSync(file);
  const out: OuterMember[] = [];
  let pos = 0;
  while (pos + 512 <= buf.length && buf[pos] !== 0) {
    const name = buf
      .subarray(pos, pos + 100)
      .toString('utf8')
      .replace(/\0.*$/s, '');
    const size = Number.parseInt(
      buf
        .subarray(pos + 124, pos + 136)
        .toString('ascii')
        .replace(/\0.*$/s, ''),
      8,
    );
    out.push({ name, offset: pos + 512, size });
    pos += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Copy `src` to `dst` with the byte at `offset` changed. */
export function flipByte(src: string, dst: string, offset: number, to?: number): void {
  const buf = readFileSync(src);
  buf[offset] = to ?? buf[offset]! ^ 0x01;
  writeFileSync(dst, buf);
}

export interface KeySet {
  /** PEM private keys by encoding. */
  pkcs1?: string;
  sec1?: string;
  pkcs8: string;
  /** SPKI PEM public key. */
  spki: string;
}

export function rsaKeys(): KeySet {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    pkcs1: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    pkcs8: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    spki: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function ecKeys(): KeySet {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    sec1: privateKey.export({ type: 'sec1', format: 'pem' }).toString(),
    pkcs8: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    spki: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Extract one member of a tar (or a compressed tar) with the system tar. */
export function tarCat(archive: string, member: string): Buffer {
  return execFileSync('tar', ['-xOf', archive, member]);
}

/** The code and message of the OciDeltaError `p` rejects with; any other outcome fails the test. */
export async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isOciDeltaError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a rejection');
}

/** All the bytes of a stream (e.g. a payload read back from an artifact). */
export async function drain(r: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}
