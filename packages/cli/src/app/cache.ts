/**
 * The ocidelta cache, content-addressed and safe under concurrent runs:
 * - `oci/`: an OCI image layout holding every pulled blob (manifests, configs, layers);
 * - `deltas/<key>.img` (+ `.json`): computed deep-delta image.img files keyed by
 *   (from digest, to digest, device store, delivery);
 * - `manifests/<name>/previous_artifact.json`: the previous release's metadata.
 * Files appear by atomic rename only; index.json updates and delta builds take a lock file.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ANNOTATION_REF_NAME,
  type Digest,
  exists,
  forEachLimit,
  type Image,
  MAX_METADATA_FILE_SIZE,
  moveIntoPlace,
  OciDeltaError,
  OciLayout,
  parseIndexJson,
  readFileLimited,
  sweepLeftovers,
  withFileLock,
  writeFileAtomic,
} from '@ocidelta/core';
import { type DeltaInfo, type DeltaKey, deltaKeyId } from './delta-key.js';
import { parseReleaseMetadata, type ReleaseMetadata, serializeReleaseMetadata } from './release-metadata.js';

export type { DeltaInfo, DeltaKey } from './delta-key.js';

export interface CacheEntry {
  kind: 'blob' | 'delta' | 'release';
  path: string;
  size: number;
  mtimeMs: number;
  label: string;
}

export class AppCache {
  readonly dir: string;
  readonly layout: OciLayout;
  /** Blob downloads under way, by digest: two images sharing a blob fetch it once. */
  private readonly fetching = new Map<string, Promise<void>>();

  private constructor(dir: string, layout: OciLayout) {
    this.dir = dir;
    this.layout = layout;
  }

  /** Open (creating) the cache at `dir`; ERR_INPUT when it cannot be written. */
  static async open(dir: string): Promise<AppCache> {
    try {
      await mkdir(join(dir, 'deltas'), { recursive: true });
      await mkdir(join(dir, 'manifests'), { recursive: true });
      await mkdir(join(dir, 'locks'), { recursive: true });
      const probe = join(dir, `.probe-${randomBytes(4).toString('hex')}`);
      await writeFile(probe, '');
      await unlink(probe);
      const layout = await OciLayout.create(join(dir, 'oci'));
      // Partial deltas and blobs of killed runs.
      await sweepLeftovers(join(dir, 'deltas'));
      await sweepLeftovers(join(layout.dir, 'blobs', 'sha256'));
      return new AppCache(dir, layout);
    } catch (err) {
      if (err instanceof OciDeltaError) throw err;
      throw new OciDeltaError(
        'ERR_INPUT',
        `cache directory ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); choose another cache directory or run without a cache`,
        { path: dir, hint: 'cache-dir' },
        { cause: err },
      );
    }
  }

  /**
   * Run `fn` holding the lock `name`: a lease lock file under `locks/` that works across
   * processes and containers sharing the cache; a lock left by a killed run is taken over once
   * its lease ran out. `onWait` hears when another run holds it.
   */
  async withLock<T>(
    name: string,
    fn: () => Promise<T>,
    signal?: AbortSignal,
    onWait?: (message: string) => void,
  ): Promise<T> {
    const path = join(this.dir, 'locks', `${name.replace(/[^\w.-]/g, '_')}.lock`);
    return withFileLock(path, fn, {
      signal,
      onWait: (holder) =>
        onWait?.(
          `waiting for ${path}, held by ${holder ? `process ${holder.pid} on ${holder.host} since ${holder.since}` : 'another run'}`,
        ),
    });
  }

  /** The cached image with manifest `digest`, when all its blobs are present. */
  async image(digest: Digest): Promise<Image | undefined> {
    if (!(await this.layout.hasBlob(digest))) return undefined;
    let image: Image;
    try {
      image = await this.layout.image({ digest });
    } catch {
      return undefined;
    }
    for (const l of image.layers) if (!(await this.layout.hasBlob(l.digest))) return undefined;
    // A reused image is recently used: prune removes least recently used blobs first.
    for (const digest of [image.digest, image.configDigest, ...image.layers.map((l) => l.digest)])
      await this.touch(digest);
    return image;
  }

  /** Mark a blob used now (its mtime is what `prune` orders by). */
  private async touch(digest: string): Promise<void> {
    const now = new Date();
    await utimes(this.layout.blobPath(digest), now, now).catch(() => undefined);
  }

  /**
   * Store every blob of `image` (from its own source, verified) and return the same image read
   * from the cache. Blobs already cached are not fetched again.
   */
  async add(
    image: Image,
    options: {
      ref?: string;
      signal?: AbortSignal;
      /** Blobs fetched at once (default 4). */
      concurrency?: number;
      onProgress?: (p: { digest: string; done: number; total: number }) => void;
    } = {},
  ): Promise<Image> {
    const { signal } = options;
    const blobs = [image.manifest.config, ...image.manifest.layers];
    // Up to 4 blobs download at once, like the registry client's pulls.
    await forEachLimit(blobs, options.concurrency ?? 4, async (d) => {
      const under = this.fetching.get(d.digest);
      if (under) {
        // The other image's fetch may fail where ours would not (another repository, its own
        // signal): then fetch it ourselves.
        const ok = await under.then(
          () => true,
          () => false,
        );
        if (ok) {
          options.onProgress?.({ digest: d.digest, done: d.size, total: d.size });
          return;
        }
      }
      const fetch = (async () => {
        if (await this.layout.hasBlob(d.digest)) {
          await this.touch(d.digest);
          options.onProgress?.({ digest: d.digest, done: d.size, total: d.size });
          return;
        }
        // writeBlob hashes what it writes and keeps it only when digest and size match: one
        // sha256 pass per downloaded byte (the registry's blob stream is not verified again).
        const stream = await image.source.openBlob(d, { signal });
        await this.layout.writeBlob(
          stream,
          { digest: d.digest, size: d.size },
          {
            signal,
            onProgress: (p) => options.onProgress?.({ digest: d.digest, done: p.done, total: d.size }),
          },
        );
      })();
      this.fetching.set(d.digest, fetch);
      try {
        await fetch;
      } finally {
        if (this.fetching.get(d.digest) === fetch) this.fetching.delete(d.digest);
      }
    });
    await this.layout.writeBlob(Buffer.from(image.manifestBytes), { digest: image.digest });
    await this.withLock(
      'oci-index',
      () =>
        this.layout.addManifest({
          mediaType: image.mediaType,
          digest: image.digest,
          size: image.manifestBytes.length,
          ...(options.ref ? { annotations: { [ANNOTATION_REF_NAME]: options.ref } } : {}),
        }),
      signal,
    );
    const cached = await this.image(image.digest);
    if (!cached) {
      throw new OciDeltaError('ERR_INPUT', `image ${image.digest} vanished from the cache ${this.dir}`, {
        path: this.dir,
      });
    }
    return cached;
  }

  private deltaBase(key: DeltaKey): string {
    return join(this.dir, 'deltas', deltaKeyId(key));
  }

  /** Path of a cached delta image.img, or undefined. Touches it (for LRU pruning). */
  async delta(key: DeltaKey): Promise<string | undefined> {
    const path = `${this.deltaBase(key)}.img`;
    if (!(await exists(path))) return undefined;
    const now = new Date();
    await utimes(path, now, now).catch(() => undefined);
    return path;
  }

  /** The recorded information of a cached delta, or undefined. */
  async deltaInfo(key: DeltaKey): Promise<DeltaInfo | undefined> {
    try {
      return JSON.parse(
        (
          await readFileLimited(`${this.deltaBase(key)}.json`, MAX_METADATA_FILE_SIZE, 'delta record')
        ).toString('utf8'),
      ) as DeltaInfo;
    } catch {
      return undefined;
    }
  }

  /** Move a finished delta file into the cache (atomic rename; copies when across devices). */
  async putDelta(info: DeltaInfo, file: string): Promise<string> {
    const base = this.deltaBase(info);
    await writeFileAtomic(`${base}.json`, `${JSON.stringify(info, null, 2)}\n`);
    await moveIntoPlace(file, `${base}.img`);
    return `${base}.img`;
  }

  metadataFile(softwareName: string): string {
    return join(this.dir, 'manifests', softwareName, 'previous_artifact.json');
  }

  async readPrevious(softwareName: string): Promise<ReleaseMetadata | undefined> {
    const path = this.metadataFile(softwareName);
    try {
      return parseReleaseMetadata(
        await readFileLimited(path, MAX_METADATA_FILE_SIZE, 'release record'),
        path,
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Record `meta` as the previous release of its software name (atomic). */
  async writePrevious(meta: ReleaseMetadata): Promise<string> {
    const path = this.metadataFile(meta.softwareName);
    await mkdir(join(this.dir, 'manifests', meta.softwareName), { recursive: true });
    await writeFileAtomic(path, serializeReleaseMetadata(meta));
    return path;
  }

  /** Every cached item with its size (blobs, deltas, release records). */
  async list(): Promise<CacheEntry[]> {
    const out: CacheEntry[] = [];
    const refs = new Map<string, string>();
    try {
      const index = parseIndexJson(await readFile(join(this.layout.dir, 'index.json')), 'index.json');
      for (const m of index.manifests) {
        const ref = m.annotations?.[ANNOTATION_REF_NAME];
        if (ref) refs.set(m.digest, ref);
      }
    } catch {
      // an unreadable index only loses labels
    }
    const blobDir = join(this.layout.dir, 'blobs', 'sha256');
    for (const name of await readdir(blobDir).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const st = await stat(join(blobDir, name)).catch(() => undefined);
      if (!st) continue;
      const digest = `sha256:${name}`;
      out.push({
        kind: 'blob',
        path: join(blobDir, name),
        size: st.size,
        mtimeMs: st.mtimeMs,
        label: refs.has(digest) ? `${digest} (${refs.get(digest)})` : digest,
      });
    }
    const deltaDir = join(this.dir, 'deltas');
    for (const name of await readdir(deltaDir).catch(() => [] as string[])) {
      if (!name.endsWith('.img')) continue;
      const path = join(deltaDir, name);
      const st = await stat(path).catch(() => undefined);
      if (!st) continue;
      let label = name;
      try {
        const info = JSON.parse(await readFile(path.replace(/\.img$/, '.json'), 'utf8')) as DeltaInfo;
        label = `${info.fromRef} -> ${info.toRef} (${info.deviceStore}, ${info.delivery})`;
      } catch {
        // label stays the file name
      }
      out.push({ kind: 'delta', path, size: st.size, mtimeMs: st.mtimeMs, label });
    }
    const manDir = join(this.dir, 'manifests');
    for (const name of await readdir(manDir).catch(() => [] as string[])) {
      const path = join(manDir, name, 'previous_artifact.json');
      const st = await stat(path).catch(() => undefined);
      if (!st) continue;
      let label = name;
      try {
        const meta = parseReleaseMetadata(
          await readFileLimited(path, MAX_METADATA_FILE_SIZE, 'release record'),
          path,
        );
        label = `${name} ${meta.version}`;
      } catch {
        // keep the name
      }
      out.push({ kind: 'release', path, size: st.size, mtimeMs: st.mtimeMs, label });
    }
    return out;
  }

  /**
   * Remove cached blobs and deltas, least recently used first, until their total is at most
   * `maxSize` (0 or undefined: remove all). Release records are kept. Returns what was removed.
   */
  async prune(options: { maxSize?: number } = {}): Promise<{ removed: CacheEntry[]; kept: number }> {
    return this.withLock('oci-index', async () => {
      const entries = (await this.list()).filter((e) => e.kind !== 'release');
      entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
      let total = entries.reduce((n, e) => n + e.size, 0);
      const max = options.maxSize ?? 0;
      const removed: CacheEntry[] = [];
      for (const e of entries) {
        if (total <= max) break;
        await rm(e.path, { force: true });
        if (e.kind === 'delta') await rm(e.path.replace(/\.img$/, '.json'), { force: true });
        total -= e.size;
        removed.push(e);
      }
      if (removed.some((e) => e.kind === 'blob')) {
        // Drop index entries whose manifest blob is gone.
        const indexPath = join(this.layout.dir, 'index.json');
        const index = parseIndexJson(await readFile(indexPath), indexPath);
        const kept = [];
        for (const m of index.manifests) if (await this.layout.hasBlob(m.digest)) kept.push(m);
        await writeFileAtomic(indexPath, JSON.stringify({ ...index, manifests: kept }));
      }
      return { removed, kept: total };
    });
  }
}
