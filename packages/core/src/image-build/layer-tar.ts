/**
 * Deterministic layer tars: entries in the order given (see diff.ts), uid/gid 0, no user or
 * group names, one fixed mtime (option, else SOURCE_DATE_EPOCH, else 0), then gzip through
 * node:zlib with a fixed header, so the same tree always gives the same digests.
 */
import { createReadStream } from 'node:fs';
import { PassThrough, pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { throwIfAborted } from '../abort.js';
import { gzipCompressor } from '../compression.js';
import { type Digest, Digester, verifyingStream } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { packTar, type TarMember } from '../tar/pack.js';
import type { LayerEntry } from './diff.js';

export interface LayerTarOptions {
  /** mtime of every entry, in seconds since the epoch (default: `resolveMtime()`). */
  mtime?: number;
  signal?: AbortSignal;
}

/**
 * The mtime to stamp on entries: `explicit` when given, else `SOURCE_DATE_EPOCH` from `env`,
 * else 0. A malformed SOURCE_DATE_EPOCH is ERR_INVALID_OPTIONS.
 */
export function resolveMtime(explicit?: number, env: NodeJS.ProcessEnv = process.env): number {
  if (explicit !== undefined) {
    if (!Number.isInteger(explicit) || explicit < 0) {
      throw new OciDeltaError(
        'ERR_INVALID_OPTIONS',
        `mtime must be a non-negative integer (got ${explicit})`,
      );
    }
    return explicit;
  }
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return 0;
  if (!/^\d+$/.test(raw)) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `SOURCE_DATE_EPOCH must be a number of seconds (got "${raw}")`,
      {
        option: 'SOURCE_DATE_EPOCH',
      },
    );
  }
  return Number(raw);
}

/** The ustar name of an entry whose real (long) name is in its pax header. */
const LONG_NAME_PLACEHOLDER = 'ocidelta-long-name';

/** The tar members of `entries`; file contents are read and verified as they stream. */
function* layerMembers(
  entries: readonly LayerEntry[],
  mtime: number,
  signal?: AbortSignal,
): Generator<TarMember> {
  for (const e of entries) {
    throwIfAborted(signal, 'writing a layer');
    const common = {
      mtime,
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mode: e.mode,
      // Extended attributes as pax records with raw byte values.
      pax: (e.xattrs ?? []).map(([k, v]): [string, Uint8Array] => [`SCHILY.xattr.${k}`, v]),
    };
    if (e.type === 'directory') yield { ...common, name: `${e.path}/`, type: 'directory' };
    else if (e.type === 'symlink')
      yield { ...common, name: e.path, type: 'symlink', linkname: e.linkname ?? '' };
    else if (e.type === 'whiteout') yield { ...common, name: e.path, size: 0 };
    else {
      if (e.source === undefined)
        throw new OciDeltaError('ERR_INPUT', `no content for ${e.path}`, { path: e.path });
      const source = e.source;
      const open = (): AsyncIterable<Uint8Array> => {
        const stream = createReadStream(source);
        if (!e.digest) return stream;
        const verified = verifyingStream({
          digest: e.digest,
          size: e.size,
          context: { path: source, reason: 'changed while building' },
        });
        stream.on('error', (err) => verified.destroy(err));
        return stream.pipe(verified);
      };
      yield { ...common, name: e.path, size: e.size, body: open };
    }
  }
}

/** Stream the tar of `entries` (uncompressed). File contents are read and verified as they go. */
export function layerTarStream(entries: readonly LayerEntry[], options: LayerTarOptions = {}): Readable {
  const mtime = resolveMtime(options.mtime);
  return Readable.from(
    packTar(layerMembers(entries, mtime, options.signal), { longNamePlaceholder: LONG_NAME_PLACEHOLDER }),
    { objectMode: false },
  );
}

/** Sets the gzip header's OS byte to 255 ("unknown"), so output is the same on every platform. */
class FixedGzipHeader extends Transform {
  private seen = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.seen <= 9 && this.seen + chunk.length > 9) {
      const copy = Buffer.from(chunk);
      copy[9 - this.seen] = 0xff;
      chunk = copy;
    }
    this.seen += chunk.length;
    cb(null, chunk);
  }
}

/** A layer stream being produced: read `stream`, then `diffId()` is the uncompressed digest. */
export interface LayerStream {
  stream: Readable;
  /** Digest and size of the uncompressed tar (valid once `stream` has ended). */
  diffId(): { digest: Digest; size: number };
}

/** Tar `entries` and gzip them (or not), hashing the tar on the way for the diff_id. */
export function layerBlobStream(
  entries: readonly LayerEntry[],
  options: LayerTarOptions & { compression?: 'gzip' | 'none' } = {},
): LayerStream {
  const tar = layerTarStream(entries, options);
  const hasher = new Digester();
  let result: { digest: Digest; size: number } | undefined;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hasher.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      result = { digest: hasher.digest(), size: hasher.size };
      cb();
    },
  });
  const out = new PassThrough();
  const stages: (Readable | Transform | PassThrough)[] =
    (options.compression ?? 'gzip') === 'gzip'
      ? [tar, tap, gzipCompressor(), new FixedGzipHeader(), out]
      : [tar, tap, out];
  pipeline(stages as [Readable, ...Transform[]], (err) => {
    if (err) out.destroy(err);
  });
  return {
    stream: out,
    diffId() {
      if (!result) throw new OciDeltaError('ERR_TRUNCATED', 'layer stream not finished');
      return result;
    },
  };
}
