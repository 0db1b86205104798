/**
 * Workstation-side apply of a deep delta: what the device's app update module does, in
 * TypeScript, with checks the device lacks. From the current image's `docker save` archive (as
 * the device's store writes it) and a deep-delta image.img, rebuild the new image's archive:
 * every `blobs/<alg>/<hex>.vcdiff` is decoded against the current archive's member named by the
 * matching `.source` (a gzip source is decompressed first, as stock xdelta3 does), the result is
 * verified against `<alg>:<hex>`, and the archive is re-tarred without the `.vcdiff`/`.source`
 * files (the device leaves them in; `docker load` ignores unreferenced files). Both archives are
 * read in place (indexed, never unpacked); only the decompressed source layer goes to a temp file.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import {
  abortAware,
  assertSafeEntryName,
  DigestMismatchError,
  HashingCounter,
  isDigest,
  normalizeEntryName,
  OciDeltaError,
  type Progress,
  sniffCompression,
  type TarEntry,
  TarIndex,
  writeTarFile,
} from '@ocidelta/core';
import { type DeviceDecodeStats, decode } from '../vcdiff/index.js';

export interface ApplyDeepDeltaOptions {
  /** Where the decompressed source layer goes (default: the OS temp dir). */
  tmpDir?: string;
  /** The device's xdelta3 `-B` (default 64 MiB): the decoder's source cache is emulated with it. */
  sourceWindow?: number;
  signal?: AbortSignal;
  /** One event per layer rebuilt: `item` is its `blobs/sha256/<diff_id>` path (unit items). */
  onProgress?: (event: Progress<'decode'>) => void;
}

/** One layer rebuilt by applyDeepDelta. */
export interface AppliedLayer {
  /** `blobs/<alg>/<hex>`: the rebuilt layer, named by its digest. */
  name: string;
  /** The current archive's member it was decoded against. */
  source: string;
  /** How the device's xdelta3 read that source (`sequential` when it decompressed it) and the cost. */
  device: DeviceDecodeStats;
}

/** What the device's loop matches: `<new dir>/*\/*\/*.vcdiff`. */
const DELTA_ENTRY = /^blobs\/[^/]+\/[^/]+\.vcdiff$/;

/** The `.source` path, as the device's `$(cat X.source)` reads it (trailing newlines dropped). */
export async function readSourcePath(delta: TarIndex, base: string): Promise<string> {
  const entry = delta.entries.get(`${base}.source`);
  if (entry?.type !== 'file') {
    throw new OciDeltaError('ERR_INVALID_ARCHIVE', `${delta.file} has ${base}.vcdiff but no ${base}.source`, {
      path: delta.file,
      entry: `${base}.vcdiff`,
    });
  }
  const path = (await delta.read(entry, 4096)).toString('utf8').replace(/\n+$/, '');
  assertSafeEntryName(path, `${delta.file} (${base}.source)`);
  return normalizeEntryName(path);
}

/**
 * Copy a current-archive member to `file`, gunzipping it when it is gzip (as stock xdelta3 does,
 * which then reads it as a non-seekable stream). Returns whether it was compressed.
 */
async function plainSource(
  current: TarIndex,
  entry: TarEntry,
  file: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const head = await current.read({ ...entry, size: Math.min(entry.size, 4) });
  const kind = sniffCompression(head);
  if (kind === 'zstd') {
    throw new OciDeltaError(
      'ERR_INVALID_ARCHIVE',
      `${entry.name} in ${current.file} is zstd-compressed; stock xdelta3 cannot use it as a source`,
      { path: current.file, entry: entry.name },
    );
  }
  const stages = kind === 'gzip' ? [current.open(entry), createGunzip()] : [current.open(entry)];
  await pipeline([...stages, createWriteStream(file)], { signal });
  return kind === 'gzip';
}

/**
 * Rebuild the new image archive at `outPath` (temp + rename) from `currentArchive` (the device's
 * `docker save` of the current image) and `deltaImg` (a deep delta from buildDeepDelta).
 * Every delta is decoded as the device's stock xdelta3 would (its source cache emulated: a
 * compressed source is read sequentially). Throws ERR_INVALID_ARCHIVE when a `.source` names a
 * file the current archive lacks, ERR_DEVICE_DECODE when the device's decoder could not serve a
 * copy, ERR_VCDIFF when a delta does not fit its source (e.g. computed against compressed bytes
 * the device decompresses), and ERR_DIGEST_MISMATCH when a rebuilt layer does not hash to its name.
 */
export async function applyDeepDelta(
  currentArchive: string,
  deltaImg: string,
  outPath: string,
  options: ApplyDeepDeltaOptions = {},
): Promise<AppliedLayer[]> {
  const { signal } = options;
  const delta = await TarIndex.scan(deltaImg, { signal });
  const current = await TarIndex.scan(currentArchive, { signal });
  const deltas = new Map<string, string>();
  for (const entry of delta.entries.values()) {
    if (entry.type === 'file' && DELTA_ENTRY.test(entry.name)) {
      const base = entry.name.slice(0, -'.vcdiff'.length);
      const [, alg, hex] = base.split('/') as [string, string, string];
      if (!isDigest(`${alg}:${hex}`)) {
        // The rebuilt layer is checked against its name: a name that is no digest cannot be.
        throw new OciDeltaError(
          'ERR_INVALID_ARCHIVE',
          `${deltaImg}: ${entry.name} is not named by a digest (blobs/sha256/<hex>.vcdiff), so its result cannot be verified`,
          { path: deltaImg, entry: entry.name },
        );
      }
      deltas.set(base, await readSourcePath(delta, base));
    }
  }
  const skip = new Set([...deltas.keys()].flatMap((base) => [`${base}.vcdiff`, `${base}.source`]));
  const work = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'ocidelta-apply-'));
  const applied: AppliedLayer[] = [];
  try {
    await writeTarFile(outPath, async (tar) => {
      for (const entry of delta.entries.values()) {
        if (entry.type === 'directory') {
          await tar.addDirectory(entry.name);
        } else if (entry.type === 'file' && !skip.has(entry.name)) {
          await tar.addStream(entry.name, delta.open(entry), { size: entry.size, signal });
        }
      }
      for (const [base, sourceName] of deltas) {
        const source = current.entries.get(sourceName);
        if (source?.type !== 'file') {
          throw new OciDeltaError(
            'ERR_INVALID_ARCHIVE',
            `${base}.source names ${sourceName}, which ${currentArchive} does not contain (wrong device store mode or current image?)`,
            { path: currentArchive, entry: sourceName },
          );
        }
        options.onProgress?.({ phase: 'decode', item: base, done: 0, total: 1, unit: 'items' });
        const sourceFile = join(work, 'source');
        const compressed = await plainSource(current, source, sourceFile, signal);
        const [, alg, hex] = base.split('/') as [string, string, string];
        const expected = `${alg}:${hex}`;
        const counter = new HashingCounter(alg === 'sha512' ? 'sha512' : 'sha256');
        let stats: DeviceDecodeStats | undefined;
        const decoded = decode(sourceFile, delta.open(delta.entries.get(`${base}.vcdiff`)!), {
          signal,
          device: {
            sourceAccess: compressed ? 'sequential' : 'seekable',
            sourceWindow: options.sourceWindow,
          },
          onDeviceStats: (s) => {
            stats = s;
          },
        });
        decoded.on('error', (err) => counter.destroy(err));
        try {
          await tar.addStream(base, decoded.pipe(counter), { signal });
        } catch (err) {
          throw abortAware(err, signal, outPath);
        }
        const actual = counter.digester.digest();
        if (actual !== expected) {
          throw new DigestMismatchError(expected, actual, { path: `${deltaImg}: ${base}` });
        }
        await rm(sourceFile, { force: true });
        applied.push({ name: base, source: sourceName, device: stats! });
      }
    });
    return applied;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
