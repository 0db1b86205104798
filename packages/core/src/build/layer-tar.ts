/**
 * Deterministic layer tars: entries in the order given (see diff.ts), uid/gid 0, no user or
 * group names, one fixed mtime (option, else SOURCE_DATE_EPOCH, else 0), then gzip through
 * node:zlib with a fixed header, so the same tree always gives the same digests.
 */
import { createReadStream } from 'node:fs';
import { PassThrough, pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { type Pack, pack } from 'tar-stream';
import { gzipCompressor } from '../compression.js';
import { type Digest, Digester, verifyingStream } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { encodeHeader, encodePax, paddingFor } from '../layout/tar-format.js';
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

/** Stream the tar of `entries` (uncompressed). File contents are read and verified as they go. */
export function layerTarStream(entries: readonly LayerEntry[], options: LayerTarOptions = {}): Readable {
  const mtime = new Date(resolveMtime(options.mtime) * 1000);
  const p = pack();
  const fail = (err: unknown) => p.destroy(err instanceof Error ? err : new Error(String(err)));
  (async () => {
    for (const e of entries) {
      if (options.signal?.aborted) throw new OciDeltaError('ERR_ABORTED', 'writing a layer was aborted');
      const common = { mtime, uid: e.uid ?? 0, gid: e.gid ?? 0, uname: '', gname: '', mode: e.mode };
      const name = e.type === 'directory' ? `${e.path}/` : e.path;
      // Extended attributes: our own pax header (raw bytes; tar-stream's would re-encode them as
      // UTF-8), which then also carries a name too long for ustar (one pax header per entry).
      let headerName = name;
      if (e.xattrs && e.xattrs.length > 0) {
        const long = Buffer.byteLength(name) > 100;
        const records: [string, Uint8Array | string][] = [
          ...(long ? [['path', name] as [string, string]] : []),
          ...e.xattrs.map(([k, v]): [string, Uint8Array] => [`SCHILY.xattr.${k}`, v]),
        ];
        const data = encodePax(records);
        // Pushed as raw blocks between entries (the pack is idle: the previous entry is done);
        // tar-stream's own pax support would re-encode the values as UTF-8.
        p.push(
          encodeHeader({ name: 'PaxHeader', size: data.length, type: 'pax', mtime: mtime.getTime() / 1000 }),
        );
        p.push(data);
        p.push(Buffer.alloc(paddingFor(data.length)));
        if (long) headerName = LONG_NAME_PLACEHOLDER;
      }
      if (e.type === 'directory') {
        await add(p, { ...common, name: headerName, type: 'directory' });
      } else if (e.type === 'symlink') {
        await add(p, { ...common, name: e.path, type: 'symlink', linkname: e.linkname ?? '' });
      } else if (e.type === 'whiteout') {
        await add(p, { ...common, name: e.path, type: 'file', size: 0 }, Buffer.alloc(0));
      } else {
        if (e.source === undefined) {
          throw new OciDeltaError('ERR_INPUT', `no content for ${e.path}`, { path: e.path });
        }
        const source = createReadStream(e.source);
        const content = e.digest
          ? source.pipe(
              verifyingStream({
                digest: e.digest,
                size: e.size,
                context: { path: e.source, reason: 'changed while building' },
              }),
            )
          : source;
        source.on('error', (err) => content.destroy(err));
        await new Promise<void>((resolve, reject) => {
          const sink = p.entry({ ...common, name: headerName, type: 'file', size: e.size }, (err) =>
            err ? reject(err) : resolve(),
          );
          content.on('error', (err: Error) => {
            sink.destroy(err);
            reject(err);
          });
          content.pipe(sink);
        });
      }
    }
    p.finalize();
  })().catch(fail);
  return Readable.from(p as AsyncIterable<Buffer>, { objectMode: false });
}

function add(p: Pack, header: Parameters<Pack['entry']>[0], body?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    if (body) p.entry(header, body, done);
    else p.entry(header, done);
  });
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
