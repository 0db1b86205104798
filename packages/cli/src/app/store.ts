/**
 * The build-farm store: deep deltas and release records kept as OCI artifacts in a registry
 * repository that every CI runner can reach (layout: store-format.ts). Everything read from it
 * is checked here as far as the store alone can: manifest and blob digests (the registry
 * client verifies them while streaming), record schemas and the delta's key; the caller then
 * rebuilds the new image from the delta as the device would before shipping it (see
 * verifyDeepDelta). Writes are content-addressed, so runners racing on one key push the same
 * blobs and the last tag write wins with equal content.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import {
  type Digest,
  digestOf,
  digestStream,
  OciDeltaError,
  parseReference,
  type Reference,
  writeFileAtomic,
} from '@ocidelta/core';
import type { RegistryClient } from '@ocidelta/registry';
import { type DeltaInfo, type DeltaKey, sameDeltaKey } from './delta-key.js';
import { parseReleaseMetadata, type ReleaseMetadata, serializeReleaseMetadata } from './release-metadata.js';
import {
  type Blob,
  DELTA_CONFIG_TYPE,
  DELTA_IMAGE_TYPE,
  deltaManifest,
  deltaTag,
  MAX_RECORD_SIZE,
  parseDeltaRecord,
  parseStoreManifest,
  RELEASE_CONFIG_TYPE,
  releaseManifest,
  releaseTags,
  type StoreEntryKind,
} from './store-format.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** One entry of `store ls`. */
export interface StoreEntry {
  tag: string;
  kind: StoreEntryKind;
  digest: Digest;
  /** Bytes of the record plus the image.img (deltas). */
  size: number;
  createdAt?: string;
  /** Deltas: `fromRef -> toRef`; releases: `<software> <version>`. */
  label: string;
}

/** A store entry that is there but cannot be used (poisoned, truncated, another key). */
export class StoreEntryRejected extends OciDeltaError {}

export class ArtifactStore {
  readonly repo: Reference;

  constructor(
    private readonly client: RegistryClient,
    repo: string,
  ) {
    const ref = parseReference(repo);
    if (ref.digest !== undefined || (ref.tag !== undefined && repo.includes(`:${ref.tag}`))) {
      throw new OciDeltaError(
        'ERR_INVALID_OPTIONS',
        `store ${repo}: name a repository (registry.example.com/ocidelta/store), not a tag or digest`,
        { ref: repo, hint: 'store' },
      );
    }
    this.repo = ref;
  }

  private at(tag: string): Reference {
    return this.repo.withTag(tag);
  }

  /** The manifest tagged `ref`, or undefined when the store has no such tag (one request, no HEAD first). */
  private async manifestAt(ref: Reference, signal?: AbortSignal) {
    try {
      return await this.client.getManifest(ref, { signal });
    } catch (err) {
      if (
        err instanceof OciDeltaError &&
        (err.code === 'ERR_MANIFEST_UNKNOWN' || err.code === 'ERR_NAME_UNKNOWN')
      )
        return undefined;
      throw err;
    }
  }

  private async readRecord(blob: Blob, where: string, signal?: AbortSignal): Promise<Buffer> {
    if (blob.size > MAX_RECORD_SIZE) {
      throw new StoreEntryRejected('ERR_INVALID_MANIFEST', `${where}: record of ${blob.size} bytes`, {
        ref: where,
      });
    }
    const chunks: Buffer[] = [];
    for await (const c of await this.client.getBlob(this.repo, blob, { signal })) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  private async upload(data: Buffer | string, mediaType: string, signal?: AbortSignal): Promise<Blob> {
    if (typeof data === 'string') {
      const { size } = await stat(data);
      const digest = (
        await this.client.uploadBlob(
          this.repo,
          async () => createReadStream(data),
          { digest: await fileDigest(data), size },
          { signal },
        )
      ).digest as Digest;
      return { mediaType, digest, size };
    }
    const digest = digestOf(data);
    await this.client.uploadBlob(this.repo, data, { digest, size: data.length }, { signal });
    return { mediaType, digest, size: data.length };
  }

  /**
   * The delta for `key`, downloaded to `file` (temp name, renamed when verified), or undefined
   * when the store has none. Throws StoreEntryRejected when the entry exists but is not usable,
   * including an image.img over `maxSize` (a delta larger than the full image is of no use),
   * which is refused before it is downloaded.
   */
  async fetchDelta(
    key: DeltaKey,
    file: string,
    options: { signal?: AbortSignal; maxSize?: number } = {},
  ): Promise<DeltaInfo | undefined> {
    const { signal } = options;
    const ref = this.at(deltaTag(key));
    const m = await this.manifestAt(ref, signal);
    if (!m) return undefined;
    const where = ref.toString();
    try {
      const parsed = parseStoreManifest(m.bytes, where);
      if (parsed.kind !== 'delta' || !parsed.image)
        throw new OciDeltaError('ERR_INVALID_MANIFEST', `${where} is not a delta`);
      if (options.maxSize !== undefined && parsed.image.size > options.maxSize) {
        throw new OciDeltaError(
          'ERR_INVALID_MANIFEST',
          `${where}: image.img of ${parsed.image.size} bytes is more than ${options.maxSize}`,
          { ref: where },
        );
      }
      const info = parseDeltaRecord(await this.readRecord(parsed.record, where, signal), where);
      if (!sameDeltaKey(info, key)) {
        throw new OciDeltaError(
          'ERR_INVALID_MANIFEST',
          `${where} was made for another pair of images or device`,
          { ref: where },
        );
      }
      const body = await this.client.getBlob(this.repo, parsed.image, { signal });
      await writeFileAtomic(file, body, { signal });
      return { ...info, size: parsed.image.size };
    } catch (err) {
      if (err instanceof StoreEntryRejected || !(err instanceof OciDeltaError) || err.code === 'ERR_ABORTED')
        throw err;
      if (err.code === 'ERR_NETWORK' || err.code === 'ERR_AUTH') throw err;
      throw new StoreEntryRejected(
        err.code,
        `store entry ${where} rejected: ${err.message}`,
        { ...err.details, ref: where },
        { cause: err },
      );
    }
  }

  /** True when the store has an entry for `key` (not checked: fetchDelta does that). */
  async hasDelta(key: DeltaKey, signal?: AbortSignal): Promise<boolean> {
    return (await this.client.headManifest(this.at(deltaTag(key)), { signal })) !== undefined;
  }

  /** Push a delta (record + image.img) under its key's tag. */
  async pushDelta(info: DeltaInfo, file: string, signal?: AbortSignal): Promise<Digest> {
    const image = await this.upload(file, DELTA_IMAGE_TYPE, signal);
    const record = await this.upload(
      Buffer.from(`${JSON.stringify({ ...info, size: image.size })}\n`),
      DELTA_CONFIG_TYPE,
      signal,
    );
    const manifest = deltaManifest(record, image, info.createdAt);
    return this.client.putManifest(this.at(deltaTag(info)), manifest, OCI_MANIFEST, { signal });
  }

  /** The latest release record of `softwareName`, or undefined. */
  async fetchRelease(
    softwareName: string,
    signal?: AbortSignal,
  ): Promise<{ meta: ReleaseMetadata; bytes: Buffer; label: string } | undefined> {
    const ref = this.at(releaseTags(softwareName, 'x').latest);
    const m = await this.manifestAt(ref, signal);
    if (!m) return undefined;
    const where = ref.toString();
    const parsed = parseStoreManifest(m.bytes, where);
    if (parsed.kind !== 'release')
      throw new OciDeltaError('ERR_INVALID_MANIFEST', `${where} is not a release record`, { ref: where });
    const bytes = await this.readRecord(parsed.record, where, signal);
    const meta = parseReleaseMetadata(bytes, where);
    if (meta.softwareName && meta.softwareName !== softwareName) {
      throw new OciDeltaError(
        'ERR_INVALID_MANIFEST',
        `${where} records ${meta.softwareName}, not ${softwareName}`,
        { ref: where },
      );
    }
    return { meta, bytes, label: where };
  }

  /** Push a release record under its version tag and move `latest` to it. */
  async pushRelease(meta: ReleaseMetadata, signal?: AbortSignal): Promise<Digest> {
    const record = await this.upload(
      Buffer.from(serializeReleaseMetadata(meta)),
      RELEASE_CONFIG_TYPE,
      signal,
    );
    const manifest = releaseManifest(record, meta.createdAt || new Date().toISOString());
    const tags = releaseTags(meta.softwareName, meta.version);
    await this.client.putManifest(this.at(tags.version), manifest, OCI_MANIFEST, { signal });
    return this.client.putManifest(this.at(tags.latest), manifest, OCI_MANIFEST, { signal });
  }

  /** Every entry of the store (tags that are not ours are skipped). */
  async list(signal?: AbortSignal): Promise<StoreEntry[]> {
    const tags = await this.client.listTags(this.repo, { signal }).catch((err: unknown) => {
      if (err instanceof OciDeltaError && err.code === 'ERR_NAME_UNKNOWN') return [] as string[];
      throw err;
    });
    const out: StoreEntry[] = [];
    for (const tag of tags.sort()) {
      if (!/^(delta|release)-/.test(tag)) continue;
      const ref = this.at(tag);
      let parsed: ReturnType<typeof parseStoreManifest>;
      let digest: Digest;
      try {
        const m = await this.client.getManifest(ref, { signal });
        parsed = parseStoreManifest(m.bytes, ref.toString());
        digest = m.digest;
      } catch (err) {
        if (err instanceof OciDeltaError && err.code !== 'ERR_ABORTED') continue;
        throw err;
      }
      let label = '';
      try {
        const record = await this.readRecord(parsed.record, ref.toString(), signal);
        if (parsed.kind === 'delta') {
          const info = parseDeltaRecord(record, ref.toString());
          label = `${info.fromRef} -> ${info.toRef} (${info.platform}, ${info.deviceStore})`;
        } else {
          const meta = parseReleaseMetadata(record, ref.toString());
          label = `${meta.softwareName} ${meta.version}`;
        }
      } catch {
        label = '(unreadable record)';
      }
      out.push({
        tag,
        kind: parsed.kind,
        digest,
        size: parsed.record.size + (parsed.image?.size ?? 0),
        ...(parsed.createdAt ? { createdAt: parsed.createdAt } : {}),
        label,
      });
    }
    return out;
  }

  /**
   * Delete entries created before `cutoff` (ms since the epoch); a release's `latest` tag is kept
   * while it is the newest record of its software. Returns what was deleted. The registry must
   * allow deletes; its garbage collection then frees the blobs.
   */
  async prune(cutoff: number, signal?: AbortSignal): Promise<StoreEntry[]> {
    const entries = await this.list(signal);
    const latest = new Set(entries.filter((e) => e.tag.endsWith('-latest')).map((e) => e.digest));
    const removed: StoreEntry[] = [];
    const deleted = new Set<string>();
    for (const e of entries) {
      const created = e.createdAt ? Date.parse(e.createdAt) : Number.NaN;
      if (!(created < cutoff) || latest.has(e.digest) || deleted.has(e.digest)) continue;
      await this.client.deleteManifest(this.repo.withDigest(e.digest), { signal });
      deleted.add(e.digest);
      removed.push(e);
    }
    return removed;
  }
}

async function fileDigest(file: string): Promise<Digest> {
  return (await digestStream(createReadStream(file))).digest as Digest;
}
