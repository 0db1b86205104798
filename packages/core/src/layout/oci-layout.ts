/**
 * OCI image layout directories (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`): open, create,
 * stream blobs in and out (verified, atomic), maintain index.json, resolve images.
 */
import { mkdir, open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { BlobData } from '../blob-data.js';
import { type Digest, parseDigest } from '../digest.js';
import { OciDeltaError } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import { exists } from '../fs/exists.js';
import { withFileLock } from '../fs/file-lock.js';
import { MAX_METADATA_FILE_SIZE, readFileLimited } from '../limits.js';
import { MediaType } from '../media-types.js';
import type { BlobSource, Image, Index } from '../model.js';
import { type Descriptor, type IndexManifest, IndexManifestSchema, parseWith } from '../schemas.js';
import { READ_CHUNK } from '../tar/file-index.js';
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  type ImageSelector,
  type ResolveContext,
  resolveImage,
  resolveIndex,
} from './resolve.js';
import { blobFilePath } from './safe-path.js';
import { type ExpectedContent, type WriteOptions, writeFileVerified } from './write-blob.js';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const OCI_LAYOUT_VERSION = '1.0.0';

/** Bytes of the `oci-layout` file we write. */
export const ociLayoutBytes = (): Buffer =>
  Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }));

/** An empty OCI index (what a fresh layout's index.json holds). */
export const emptyIndex = (): IndexManifest => ({
  schemaVersion: 2,
  mediaType: MediaType.OciIndex,
  manifests: [],
});

function invalid(path: string, message: string, cause?: unknown): OciDeltaError {
  return new OciDeltaError('ERR_INVALID_LAYOUT', `${path}: ${message}`, { path }, { cause });
}

/** Parse and validate `oci-layout` bytes; `path` names the file in errors. */
export function parseOciLayoutFile(bytes: Uint8Array | string, path: string): void {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw invalid(path, `not JSON (${(err as Error).message})`, err);
  }
  const version = (json as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
  if (typeof version !== 'string' || !version.startsWith('1.')) {
    throw invalid(path, `unsupported imageLayoutVersion ${JSON.stringify(version)} (expected 1.x)`);
  }
}

/** Parse and validate `index.json` bytes; `path` names the file in errors. */
export function parseIndexJson(bytes: Uint8Array | string, path: string): IndexManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw invalid(path, `not JSON (${(err as Error).message})`, err);
  }
  try {
    return parseWith(IndexManifestSchema, json, 'index.json', { path });
  } catch (err) {
    throw invalid(path, (err as Error).message, err);
  }
}

/** An OCI image layout directory. */
export class OciLayout implements BlobSource {
  /** Absolute path of the layout directory. */
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Open an existing layout; validates `oci-layout` and `index.json` (ERR_INVALID_LAYOUT naming the file). */
  static async open(dir: string): Promise<OciLayout> {
    const abs = resolve(dir);
    const layoutFile = join(abs, OCI_LAYOUT_FILE);
    let bytes: Buffer;
    try {
      bytes = await readFileLimited(layoutFile, MAX_METADATA_FILE_SIZE, 'oci-layout', 'ERR_INVALID_LAYOUT');
    } catch (err) {
      if (err instanceof OciDeltaError) throw err;
      throw invalid(layoutFile, 'missing (not an OCI image layout directory)', err);
    }
    parseOciLayoutFile(bytes, layoutFile);
    const layout = new OciLayout(abs);
    await layout.readIndex();
    return layout;
  }

  /** Create a layout (directories, `oci-layout`, empty `index.json`), or open it when it exists. */
  static async create(dir: string): Promise<OciLayout> {
    const abs = resolve(dir);
    if (await exists(join(abs, OCI_LAYOUT_FILE))) return OciLayout.open(abs);
    await mkdir(join(abs, 'blobs', 'sha256'), { recursive: true });
    const layout = new OciLayout(abs);
    if (!(await exists(join(abs, 'index.json')))) await layout.writeIndex(emptyIndex());
    await writeFileAtomic(join(abs, OCI_LAYOUT_FILE), ociLayoutBytes());
    return OciLayout.open(abs);
  }

  /** Read and validate index.json. */
  async readIndex(): Promise<IndexManifest> {
    const path = join(this.dir, 'index.json');
    let bytes: Buffer;
    try {
      bytes = await readFileLimited(path, MAX_METADATA_FILE_SIZE, 'index.json', 'ERR_INVALID_LAYOUT');
    } catch (err) {
      if (err instanceof OciDeltaError) throw err;
      throw invalid(path, 'missing', err);
    }
    return parseIndexJson(bytes, path);
  }

  /** Absolute path where a blob lives (whether or not it exists). */
  blobPath(digest: string): string {
    return blobFilePath(this.dir, digest);
  }

  async hasBlob(digest: string): Promise<boolean> {
    return exists(this.blobPath(digest));
  }

  /** Open a blob's stored bytes (not verified; see `openVerified`). ERR_BLOB_UNKNOWN naming the path. */
  async openBlob(d: Pick<Descriptor, 'digest'> & Partial<Descriptor>): Promise<Readable> {
    const path = this.blobPath(d.digest);
    try {
      const fh = await open(path, 'r');
      return fh.createReadStream({ highWaterMark: READ_CHUNK });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new OciDeltaError('ERR_BLOB_UNKNOWN', `blob ${d.digest} missing: ${path}`, {
          digest: d.digest,
          path,
        });
      }
      throw err;
    }
  }

  /**
   * Stream content into `blobs/` (temp file, hashed and verified while written, renamed into
   * place). Returns the digest and size.
   */
  async writeBlob(
    data: BlobData,
    expected: ExpectedContent = {},
    options: WriteOptions = {},
  ): Promise<{ digest: Digest; size: number }> {
    // An already-piped stream may fail before the pipeline below attaches; it rethrows then.
    if (data instanceof Readable) data.on('error', () => undefined);
    const algorithm = expected.digest ? parseDigest(expected.digest).algorithm : 'sha256';
    const algDir = join(this.dir, 'blobs', algorithm);
    await mkdir(algDir, { recursive: true });
    return writeFileVerified(
      expected.digest ? this.blobPath(expected.digest) : (digest) => this.blobPath(digest),
      data,
      expected,
      options,
    );
  }

  /**
   * Add a descriptor to index.json, atomically. An entry with the same name (the
   * `io.containerd.image.name` annotation, else `org.opencontainers.image.ref.name`) is replaced
   * (a tag moves); an identical unnamed entry is not duplicated.
   */
  addManifest(d: Descriptor): Promise<void> {
    return withIndexLock(this.dir, async () => {
      const index = await this.readIndex();
      const key = refKey(d);
      const kept = index.manifests.filter((m) =>
        key !== undefined ? refKey(m) !== key : !(m.digest === d.digest && refKey(m) === undefined),
      );
      kept.push(d);
      await this.writeIndex({ ...index, manifests: kept });
    });
  }

  /** Merge `annotations` into index.json's own annotations, atomically. */
  annotateIndex(annotations: Record<string, string>): Promise<void> {
    return withIndexLock(this.dir, async () => {
      const index = await this.readIndex();
      await this.writeIndex({ ...index, annotations: { ...(index.annotations ?? {}), ...annotations } });
    });
  }

  private async writeIndex(index: IndexManifest): Promise<void> {
    await writeFileAtomic(join(this.dir, 'index.json'), Buffer.from(JSON.stringify(index)));
  }

  private async context(): Promise<ResolveContext> {
    return {
      where: this.dir,
      index: await this.readIndex(),
      source: this,
      hasBlob: (digest) => this.hasBlob(digest),
    };
  }

  /** Resolve an image: by ref name, digest, or the only/first entry; an index is narrowed by platform. */
  async image(selector: ImageSelector = {}): Promise<Image> {
    return resolveImage(await this.context(), selector);
  }

  /** Resolve an index entry (by ref name, digest, or the first entry). */
  async index(selector: ImageSelector = {}): Promise<Index> {
    return resolveIndex(await this.context(), selector);
  }
}

/** The name that identifies an index entry: the containerd full name, else the OCI ref name. */
function refKey(d: Descriptor): string | undefined {
  return d.annotations?.[ANNOTATION_CONTAINERD_NAME] ?? d.annotations?.[ANNOTATION_REF_NAME];
}

/** index.json updates in flight, per layout directory (serializes writers in this process). */
const indexQueues = new Map<string, Promise<unknown>>();

/**
 * Run `fn` holding the layout's index.json lock: queued behind other updates of the same
 * directory in this process, and holding `index.json.lock` against other processes (a lease
 * lock: one left by a killed writer is taken over once its lease ran out, see file-lock.ts).
 */
async function withIndexLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const previous = indexQueues.get(dir) ?? Promise.resolve();
  const run = previous.then(() => withFileLock(join(dir, 'index.json.lock'), fn));
  const tail = run.catch(() => undefined);
  indexQueues.set(dir, tail);
  void tail.then(() => {
    if (indexQueues.get(dir) === tail) indexQueues.delete(dir);
  });
  return run;
}
