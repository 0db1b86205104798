/**
 * Offline install check of an app artifact: what the app update module does on a device, with
 * the device's decoder emulated and every result verified. The artifact is read and checked
 * (format, checksums), images.tar.gz is unpacked to a temp dir (never into memory); for each
 * `images/<id>/` a deep delta is rebuilt from the given current `docker image save` archive with
 * the emulated stock xdelta3 (the store mode follows from what `.source` names in that archive:
 * a compressed blob is read sequentially, as the device's decompressor pipe does), a full image is
 * taken as it is; then the image must be loadable: it carries the name url-new, its layers hash
 * to the config's diff_ids, and its config is the one its image.img names.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import {
  type ArchiveEntry,
  byteLimit,
  digestOf,
  digestStream,
  type Image,
  OciDeltaError,
  readDockerArchive,
  type TarEntry,
  TarIndex,
} from '@ocidelta/core';
import { openArtifactPayload, readArtifact } from '@ocidelta/core/mender';
import { type AppliedLayer, applyDeepDelta } from '@ocidelta/delta';

export interface VerifyInstallOptions {
  /** The device's `docker image save` archives of the images installed now (for deep deltas). */
  current: readonly string[];
  /** The device xdelta3's `-B` (default 64 MiB). */
  sourceWindow?: number;
  /** PEM public key: the artifact's signature must be valid. */
  publicKey?: string;
  /** Largest unpacked images.tar the check accepts (default 64 GiB). */
  maxPayloadSize?: number;
  tmpDir?: string;
  signal?: AbortSignal;
  onImage?: (report: InstalledImage) => void;
}

/** What installing one image of the artifact does on the device. */
export interface InstalledImage {
  id: string;
  urlNew: string;
  urlCurrent: string;
  kind: 'deep-delta' | 'full';
  /** The --current archive a deep delta was rebuilt from. */
  currentArchive?: string;
  configDigest: string;
  layers: number;
  /** Deep deltas: per rebuilt layer, how the device's xdelta3 read its source and what it read. */
  rebuilt: AppliedLayer[];
  /** Source bytes the device's xdelta3 reads for this image. */
  sourceBytesRead: number;
}

export interface VerifyInstallResult {
  artifact: string;
  applicationName: string;
  platform: string;
  images: InstalledImage[];
}

const DEFAULT_MAX_PAYLOAD = 64 * 1024 ** 3;

function notInstallable(message: string, details: Record<string, unknown>): OciDeltaError {
  return new OciDeltaError('ERR_INVALID_ARTIFACT', message, details);
}

/** Strip the tag/digest decoration `docker save` RepoTags and url files may differ in. */
function sameName(a: string, b: string): boolean {
  const strip = (r: string) =>
    r.replace(/@sha256:[a-f0-9]{64}$/, '').replace(/^docker\.io\/(library\/)?/, '');
  return strip(a) === strip(b);
}

/** The single image of an archive named `url` (or its only image). */
function pick(entries: readonly ArchiveEntry[], url: string, file: string): ArchiveEntry {
  const named = entries.filter((e) => e.refs.some((r) => sameName(r, url)));
  if (named.length === 1) return named[0]!;
  if (named.length === 0 && entries.length === 1) return entries[0]!;
  throw notInstallable(`${file} has ${named.length === 0 ? 'no image' : 'several images'} named ${url}`, {
    path: file,
    url,
  });
}

/** Hash every layer as `docker load` reads it and compare with the config's diff_ids. */
async function checkLayers(image: Image, what: string, signal?: AbortSignal): Promise<void> {
  const diffIds = image.config.rootfs.diff_ids;
  if (diffIds.length !== image.layers.length) {
    throw new OciDeltaError(
      'ERR_DIGEST_MISMATCH',
      `${what}: ${image.layers.length} layers but the config lists ${diffIds.length} diff_ids`,
      {},
    );
  }
  for (const [i, layer] of image.layers.entries()) {
    const { digest } = await digestStream(await layer.uncompressed({ signal }));
    if (digest !== diffIds[i]) {
      throw new OciDeltaError(
        'ERR_DIGEST_MISMATCH',
        `${what}: layer ${i} unpacks to ${digest}, but the config lists diff_id ${diffIds[i]}`,
        { layer: i, expected: diffIds[i], actual: digest },
      );
    }
  }
}

async function extract(tar: TarIndex, entry: TarEntry, file: string, signal?: AbortSignal): Promise<void> {
  await pipeline(tar.open(entry), createWriteStream(file), { signal });
}

/**
 * Check that `artifact` installs on a device whose current images are the `current` archives.
 * Resolves with a per-image report; rejects with the first failure (a typed OciDeltaError:
 * ERR_DEVICE_DECODE, ERR_VCDIFF, ERR_DIGEST_MISMATCH, ERR_INVALID_ARTIFACT, ERR_INVALID_ARCHIVE...).
 */
export async function verifyInstall(
  artifact: string,
  options: VerifyInstallOptions,
): Promise<VerifyInstallResult> {
  const { signal } = options;
  const info = await readArtifact(artifact, {
    signal,
    ...(options.publicKey ? { publicKey: options.publicKey } : {}),
  });
  const meta = checkAppArtifact(artifact, info);
  const work = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'ocidelta-verify-'));
  try {
    const unpack = async (name: string): Promise<TarIndex> => {
      const file = join(work, name.replace(/\.gz$/, ''));
      await pipeline(
        await openArtifactPayload(artifact, name, { signal }),
        createGunzip(),
        byteLimit(
          options.maxPayloadSize ?? DEFAULT_MAX_PAYLOAD,
          `${artifact}: ${name}`,
          'ERR_ARTIFACT_TOO_LARGE',
        ),
        createWriteStream(file),
        { signal },
      );
      return TarIndex.scan(file, { signal });
    };
    const manifests = await unpack('manifests.tar.gz');
    if (![...manifests.entries.keys()].some((n) => /^manifests\/[^/]+$/.test(n))) {
      throw notInstallable(`${artifact}: manifests.tar.gz has no manifests/<compose file>`, {
        path: artifact,
      });
    }
    const images = await unpack('images.tar.gz');
    const ids = [
      ...new Set([...images.entries.keys()].flatMap((n) => /^images\/([^/]+)\//.exec(n)?.[1] ?? [])),
    ];
    const listed = Array.isArray(meta.images) ? (meta.images as unknown[]).map(String).sort() : undefined;
    if (listed && JSON.stringify(listed) !== JSON.stringify([...ids].sort())) {
      throw notInstallable(
        `${artifact}: meta-data images ${listed.join(',')} differ from images.tar.gz (${ids.join(',')})`,
        {
          path: artifact,
        },
      );
    }
    const currents = await Promise.all(
      options.current.map(async (file) => ({ file, archive: await readDockerArchive(file, { signal }) })),
    );
    const report: InstalledImage[] = [];
    for (const id of ids.sort()) {
      const one = await verifyImage({ artifact, images, work, currents, options }, id);
      options.onImage?.(one);
      report.push(one);
    }
    return {
      artifact,
      applicationName: String(meta.application_name),
      platform: String(meta.platform),
      images: report,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The artifact's type, meta-data and payload files, as the app update module requires them. */
function checkAppArtifact(
  artifact: string,
  info: Awaited<ReturnType<typeof readArtifact>>,
): Record<string, unknown> {
  if (info.typeInfo.type !== 'app') {
    throw notInstallable(`${artifact} is a ${info.typeInfo.type ?? 'rootfs'} artifact, not an app one`, {
      path: artifact,
    });
  }
  const meta = (info.metaData ?? {}) as Record<string, unknown>;
  for (const key of ['application_name', 'orchestrator', 'platform', 'version']) {
    if (typeof meta[key] !== 'string' || meta[key] === '') {
      throw notInstallable(`${artifact}: the app module requires meta-data ${key} (non-empty)`, {
        path: artifact,
        key,
      });
    }
  }
  for (const name of ['images.tar.gz', 'manifests.tar.gz']) {
    if (!info.payloads.some((p) => p.name === name)) {
      throw notInstallable(`${artifact} has no payload file ${name}`, { path: artifact });
    }
  }
  return meta;
}

interface VerifyContext {
  artifact: string;
  images: TarIndex;
  work: string;
  currents: { file: string; archive: Awaited<ReturnType<typeof readDockerArchive>> }[];
  options: VerifyInstallOptions;
}

/** Install one `images/<id>/` as the device would (rebuild a deep delta), and check the result. */
async function verifyImage(ctx: VerifyContext, id: string): Promise<InstalledImage> {
  const { artifact, images, work, currents, options } = ctx;
  const { signal } = options;
  const text = async (name: string): Promise<string> => {
    const entry = images.entries.get(`images/${id}/${name}`);
    if (entry?.type !== 'file') throw notInstallable(`${artifact}: images/${id}/${name} is missing`, { id });
    return (await images.read(entry, 64 * 1024)).toString('utf8').trim();
  };
  const urlNew = await text('url-new.txt');
  const urlCurrent = await text('url-current.txt');
  const imgEntry = images.entries.get(`images/${id}/image.img`);
  if (imgEntry?.type !== 'file')
    throw notInstallable(`${artifact}: images/${id}/image.img is missing`, { id });
  const imageImg = join(work, `${id}.img`);
  await extract(images, imgEntry, imageImg, signal);
  const deep = images.entries.get(`images/${id}/deep_delta`)?.type === 'file';
  const what = `${urlNew} (images/${id})`;
  let loadable = imageImg;
  let rebuilt: AppliedLayer[] = [];
  let currentArchive: string | undefined;
  if (deep) {
    const current = currents.find((c) =>
      c.archive.entries.some((e) => e.refs.some((r) => sameName(r, urlCurrent))),
    );
    // An untagged save (the only one given) is taken as the current image.
    const untagged = currents.length === 1 && currents[0]!.archive.entries.every((e) => e.refs.length === 0);
    const chosen = current ?? (untagged ? currents[0] : undefined);
    if (!chosen) {
      throw notInstallable(
        `${what} is a deep delta from ${urlCurrent}, and no current image archive given holds that image`,
        { id, urlCurrent, hint: 'current-archive' },
      );
    }
    currentArchive = chosen.file;
    loadable = join(work, `${id}.rebuilt.tar`);
    try {
      rebuilt = await applyDeepDelta(chosen.file, imageImg, loadable, {
        tmpDir: work,
        signal,
        ...(options.sourceWindow ? { sourceWindow: options.sourceWindow } : {}),
      });
    } catch (err) {
      if (err instanceof OciDeltaError) {
        throw new OciDeltaError(
          err.code,
          `${what}: ${err.message}`,
          { ...err.details, id, urlNew },
          { cause: err },
        );
      }
      throw err;
    }
  } else if (urlCurrent !== urlNew) {
    throw notInstallable(`${what}: a full image needs url-current = url-new (got ${urlCurrent})`, { id });
  }
  const declared = pick((await readDockerArchive(imageImg, { signal })).entries, urlNew, imageImg);
  // A full image loads as it is: no second read of the same archive.
  const result =
    loadable === imageImg
      ? declared
      : pick((await readDockerArchive(loadable, { signal })).entries, urlNew, loadable);
  if (!result.refs.some((r) => sameName(r, urlNew))) {
    throw notInstallable(`${what}: the image is not named ${urlNew} (docker load would leave it untagged)`, {
      id,
    });
  }
  const configDigest = digestOf(result.image.configBytes);
  if (configDigest !== declared.image.configDigest || configDigest !== result.image.configDigest) {
    throw new OciDeltaError(
      'ERR_DIGEST_MISMATCH',
      `${what}: the loaded config is ${configDigest}, image.img names ${declared.image.configDigest}`,
      {
        id,
      },
    );
  }
  await checkLayers(result.image, what, signal);
  await rm(imageImg, { force: true });
  if (loadable !== imageImg) await rm(loadable, { force: true });
  return {
    id,
    urlNew,
    urlCurrent,
    kind: deep ? 'deep-delta' : 'full',
    ...(currentArchive ? { currentArchive } : {}),
    configDigest,
    layers: result.image.layers.length,
    rebuilt,
    sourceBytesRead: rebuilt.reduce((n, l) => n + l.device.sourceBytesRead, 0),
  };
}
