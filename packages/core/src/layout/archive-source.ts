/**
 * The read side shared by oci-archive and docker-archive: an indexed tar served as a
 * BlobSource (blobs by `blobs/<alg>/<hex>` or by registered entry names), and the
 * `ArchiveImages` result type.
 */
import { Readable } from 'node:stream';
import { OciDeltaError } from '../errors.js';
import type { BlobSource, Image, Index } from '../model.js';
import { platformMatches } from '../platform.js';
import type { Descriptor, IndexManifest } from '../schemas.js';
import type { TarIndex } from '../tar/file-index.js';
import {
  type ImageSelector,
  matchRefName,
  platformOfSelector,
  type ResolveContext,
  resolveImage,
  resolveIndex,
  severalImagesError,
} from './resolve.js';
import { blobEntryName } from './safe-path.js';

/** One image found in an archive, with its names and index annotations. */
export interface ArchiveEntry {
  image: Image;
  /** Names: index annotations (containerd full name first, then ref name) and docker RepoTags. */
  refs: string[];
  annotations: Record<string, string>;
}

/** Images read from an oci-archive or docker-archive; blobs are served from the file. */
export interface ArchiveImages extends BlobSource {
  /** Path of the archive. */
  readonly file: string;
  readonly format: 'oci-archive' | 'docker-archive';
  readonly entries: ArchiveEntry[];
  /** The archive's index.json, when it has one. */
  readonly index?: IndexManifest;
  /** Resolve one image like OciLayout.image (ref name / RepoTag, digest, platform). */
  image(selector?: ImageSelector): Promise<Image>;
  /** Resolve an index entry of index.json. */
  indexEntry(selector?: ImageSelector): Promise<Index>;
  hasBlob(digest: string): boolean;
  close(): Promise<void>;
}

/** BlobSource over an indexed tar; extra names and in-memory blobs can be registered. */
export class TarBlobSource implements BlobSource {
  readonly tar: TarIndex;
  private readonly aliases = new Map<string, string>();
  private readonly memory = new Map<string, Buffer>();

  constructor(tar: TarIndex) {
    this.tar = tar;
  }

  /** Serve `digest` from the entry `name` (legacy docker-archive layer/config names). */
  alias(digest: string, name: string): void {
    this.aliases.set(digest, name);
  }

  /** Serve `digest` from memory (synthesized manifests). */
  remember(digest: string, bytes: Buffer): void {
    this.memory.set(digest, bytes);
  }

  private entryName(digest: string): string {
    return this.aliases.get(digest) ?? blobEntryName(digest);
  }

  hasBlob(digest: string): boolean {
    return this.memory.has(digest) || this.tar.has(this.entryName(digest));
  }

  async openBlob(d: Pick<Descriptor, 'digest'> & Partial<Descriptor>): Promise<Readable> {
    const mem = this.memory.get(d.digest);
    if (mem) return Readable.from([mem]);
    const name = this.entryName(d.digest);
    const entry = this.tar.get(name);
    if (!entry) {
      throw new OciDeltaError(
        'ERR_BLOB_UNKNOWN',
        `blob ${d.digest} missing from ${this.tar.file} (no entry ${name})`,
        {
          path: this.tar.file,
          entry: name,
          digest: d.digest,
        },
      );
    }
    return this.tar.open(entry);
  }
}

/** Build an ArchiveImages object over a source and its entries. */
export function archiveImages(
  format: ArchiveImages['format'],
  source: TarBlobSource,
  entries: ArchiveEntry[],
  index: IndexManifest | undefined,
): ArchiveImages {
  const file = source.tar.file;
  const ctx = (): ResolveContext => ({
    where: file,
    index: index ?? { schemaVersion: 2, manifests: [] },
    source,
    hasBlob: (digest) => source.hasBlob(digest),
  });
  return {
    file,
    format,
    entries,
    ...(index ? { index } : {}),
    openBlob: (d) => source.openBlob(d),
    hasBlob: (digest) => source.hasBlob(digest),
    async image(selector = {}) {
      const { ref, digest, platform } = selector;
      if (ref === undefined && digest === undefined && entries.length > 1 && !index) {
        // docker save of several images: pick by platform, or the caller names one.
        const want = platform === undefined ? undefined : platformOfSelector(platform);
        const fit = want
          ? entries.filter((e) =>
              platformMatches(want, {
                os: e.image.config.os,
                architecture: e.image.config.architecture,
                ...(e.image.config.variant ? { variant: e.image.config.variant } : {}),
              }),
            )
          : [];
        if (fit.length === 1) return fit[0]!.image;
        throw severalImagesError(
          file,
          entries.map((e) => e.refs[0] ?? e.image.digest),
        );
      }
      const named = ref !== undefined || digest !== undefined || entries.length <= 1;
      if (named && (platform === undefined || !index)) {
        const fits = (e: ArchiveEntry) => digest === undefined || e.image.digest === digest;
        const hit =
          ref === undefined
            ? entries.find(fits)
            : (entries.find((e) => e.refs.includes(ref) && fits(e)) ??
              entries.find((e) => matchRefName(e.refs, ref) !== undefined && fits(e)));
        if (hit) return hit.image;
      }
      if (index) return resolveImage(ctx(), selector);
      const known = entries.flatMap((e) => e.refs);
      throw new OciDeltaError(
        'ERR_MANIFEST_UNKNOWN',
        `no image ${ref ?? digest ?? ''} in ${file} (known: ${known.join(', ') || 'none'})`,
        { path: file, ref, digest },
      );
    },
    async indexEntry(selector = {}) {
      return resolveIndex(ctx(), selector);
    },
    async close() {
      // Blobs are opened per read; nothing is held open between reads.
    },
  };
}
