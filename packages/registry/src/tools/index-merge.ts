/**
 * Merge the platform manifests of a source index (or single image) into a destination index:
 * every platform of the source wins, the destination keeps the platforms the source lacks
 * (with `platforms`, only those are taken from the source). Children missing in the target
 * repository are copied (mounted within one registry). Platform identity is os + architecture
 * + variant (+ os.version), normalized (`linux/arm64` = `linux/arm64/v8`).
 */
import {
  type Descriptor,
  formatPlatform,
  indexFromDescriptors,
  MediaType,
  normalizePlatform,
  OciDeltaError,
  type Platform,
  type PlatformSpec,
  parseManifest,
  parsePlatform,
  platformFromSpec,
  platformMatches,
  type Reference,
  toReference,
} from '@ocidelta/core';
import type { RegistryClient } from '../client.js';
import { copyImage } from '../transfer/copy.js';
import type { TransferProgress } from '../transfer/progress.js';
import { byDigest, isMissing } from './common.js';

export interface IndexMergeOptions {
  /** Where to push the result (default: the destination). */
  to?: Reference | string;
  /**
   * Take only these platforms from the source; the destination keeps all others. A string
   * without `/` is a bare architecture (`arm64`: every os and variant of it, the merger's
   * identity); `os/arch[/variant]` is precise. An eligible platform the source lacks is skipped
   * with a warning and the destination's entry kept.
   */
  platforms?: readonly (Platform | string)[];
  /** Compute and return the merged index without copying or pushing anything. */
  dryRun?: boolean;
  /** Client for the destination/target when it needs other credentials (default `client`). */
  destClient?: RegistryClient;
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (e: TransferProgress) => void;
  /** Called for each warning (also returned in the result). */
  onWarning?: (message: string) => void;
}

/** One entry of the merged index. */
export interface MergedEntry {
  platform: string;
  digest: string;
  mediaType: string;
  from: 'source' | 'destination';
}

export interface IndexMergeResult {
  /** Where the index was (or would be) pushed. */
  target: string;
  digest: string;
  mediaType: string;
  /** The merged index document. */
  index: Record<string, unknown>;
  /** Its exact bytes (as pushed). */
  bytes: Buffer;
  entries: MergedEntry[];
  /** Child manifests copied into the target repository. */
  copied: string[];
  pushed: boolean;
  warnings: string[];
}

interface Child {
  descriptor: Descriptor;
  /** Normalized identity, e.g. `linux/arm64/v8`; undefined for attestations and platform-less entries. */
  identity?: string;
  platform?: Platform;
  /** For attestation manifests: the digest they describe. */
  attests?: string;
}

interface Manifests {
  mediaType: string;
  children: Child[];
  annotations?: Record<string, string>;
  /** The index's other top-level fields (kept in the merged index). */
  extra?: Record<string, unknown>;
}

/** Fields the merge writes itself; any other top-level field of the source index is kept. */
const OWN_FIELDS = new Set(['schemaVersion', 'mediaType', 'manifests', 'annotations']);

const ATTESTATION_REF = 'vnd.docker.reference.digest';

interface WantedPlatform {
  label: string;
  matches(p: Platform): boolean;
}

/** A `--platforms` entry: a bare architecture (any os, any variant) or a precise platform. */
function platformWanted(p: Platform | string): WantedPlatform {
  if (typeof p === 'string' && !p.includes('/')) {
    const arch = normalizePlatform({ os: 'linux', architecture: p.trim() }).architecture;
    return { label: `architecture ${arch}`, matches: (c) => c.architecture === arch };
  }
  const w = typeof p === 'string' ? parsePlatform(p) : normalizePlatform(p);
  return { label: formatPlatform(w), matches: (c) => platformMatches(w, c) };
}

/** Identity string of a platform: normalized os/arch/variant plus os.version. */
export function platformIdentity(p: Platform): string {
  const { os, architecture, variant, osVersion } = p;
  return formatPlatform(normalizePlatform({ os, architecture, variant, osVersion }));
}

function childOf(d: Descriptor): Child {
  const attests = d.annotations?.[ATTESTATION_REF];
  if (d.platform && !(d.platform.os === 'unknown' && d.platform.architecture === 'unknown')) {
    const platform = normalizePlatform(platformFromSpec(d.platform));
    return { descriptor: d, platform, identity: platformIdentity(platform) };
  }
  return attests ? { descriptor: d, attests } : { descriptor: d };
}

async function readManifests(
  client: RegistryClient,
  ref: Reference,
  allowMissing: boolean,
  signal?: AbortSignal,
): Promise<Manifests | undefined> {
  let m: Awaited<ReturnType<RegistryClient['getManifest']>>;
  try {
    m = await client.getManifest(ref, { signal });
  } catch (err) {
    if (allowMissing && isMissing(err, true)) return undefined;
    throw err;
  }
  const parsed = parseManifest(m.bytes, m.mediaType, { ref: ref.toString() });
  if (parsed.kind === 'index') {
    const raw = JSON.parse(Buffer.from(m.bytes).toString('utf8')) as Record<string, unknown>;
    const extra = Object.fromEntries(Object.entries(raw).filter(([k]) => !OWN_FIELDS.has(k)));
    return {
      mediaType: parsed.mediaType,
      children: parsed.manifest.manifests.map(childOf),
      ...(parsed.manifest.annotations ? { annotations: parsed.manifest.annotations } : {}),
      ...(Object.keys(extra).length > 0 ? { extra } : {}),
    };
  }
  // A single image: its platform comes from its config.
  const image = await client.resolveImage(byDigest(ref, m.digest), { signal });
  const spec: PlatformSpec = {
    os: image.config.os,
    architecture: image.config.architecture,
    ...(image.config.variant ? { variant: image.config.variant } : {}),
    ...(image.config['os.version'] ? { 'os.version': image.config['os.version'] } : {}),
  };
  const descriptor: Descriptor = {
    mediaType: parsed.mediaType,
    digest: m.digest,
    size: m.bytes.length,
    platform: spec,
  };
  return {
    mediaType:
      parsed.mediaType === MediaType.DockerManifest ? MediaType.DockerManifestList : MediaType.OciIndex,
    children: [childOf(descriptor)],
  };
}

function family(mediaType: string): 'oci' | 'docker' | 'other' {
  if (mediaType.startsWith('application/vnd.oci.')) return 'oci';
  if (mediaType.startsWith('application/vnd.docker.')) return 'docker';
  return 'other';
}

/** Warn when two children of one input share an identity (which one a client picks is undefined). */
function ambiguities(name: string, children: readonly Child[]): string[] {
  const seen = new Map<string, string>();
  const out: string[] = [];
  for (const c of children) {
    if (!c.identity) continue;
    const first = seen.get(c.identity);
    if (first) {
      out.push(
        `${name} lists ${c.identity} twice (${first} and ${c.descriptor.digest}); the first is used. Platform identity is os/architecture/variant(+os.version)`,
      );
    } else seen.set(c.identity, c.descriptor.digest);
  }
  return out;
}

/** First child per identity, attestations kept with their subject. */
function firstPerIdentity(children: readonly Child[]): Child[] {
  const seen = new Set<string>();
  return children.filter((c) => {
    if (!c.identity) return false;
    if (seen.has(c.identity)) return false;
    seen.add(c.identity);
    return true;
  });
}

/** The source's entries to merge: one per platform, only the `platforms` asked for (if any). */
function sourceEntries(
  src: Reference,
  children: readonly Child[],
  platforms: IndexMergeOptions['platforms'],
  warn: (m: string) => void,
): Child[] {
  const all = firstPerIdentity(children);
  if (platforms === undefined || platforms.length === 0) return all;
  const wanted = platforms.map(platformWanted);
  for (const w of wanted) {
    if (!all.some((c) => c.platform && w.matches(c.platform))) {
      warn(
        `${src} has no ${w.label} (it has: ${all.map((c) => c.identity).join(', ') || 'none'}); the destination's entry is kept`,
      );
    }
  }
  return all.filter((c) => c.platform && wanted.some((w) => w.matches(c.platform as Platform)));
}

/** Copy each child the target repository lacks into it (by digest); returns the digests copied. */
async function copyChildren(
  plan: readonly { c: Child; repo: Reference; from: RegistryClient }[],
  destClient: RegistryClient,
  target: Reference,
  options: IndexMergeOptions,
): Promise<string[]> {
  const copied: string[] = [];
  for (const { c, repo, from } of plan) {
    if (repo.registry === target.registry && repo.repository === target.repository) continue;
    const there = await destClient.headManifest(byDigest(target, c.descriptor.digest), {
      signal: options.signal,
    });
    if (there) continue;
    await copyImage(from, byDigest(repo, c.descriptor.digest), byDigest(target, c.descriptor.digest), {
      destClient,
      allPlatforms: true,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    copied.push(c.descriptor.digest);
  }
  return copied;
}

/**
 * Merge `source` into `destination` and push the result to `options.to ?? destination`
 * (unless `dryRun`). A missing destination (404, or 401 on a repository that does not exist
 * yet) counts as empty.
 */
export async function mergeIndex(
  client: RegistryClient,
  source: Reference | string,
  destination: Reference | string,
  options: IndexMergeOptions = {},
): Promise<IndexMergeResult> {
  const src = toReference(source);
  const dest = toReference(destination);
  const target = options.to !== undefined ? toReference(options.to) : dest;
  const destClient = options.destClient ?? client;
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    options.onWarning?.(m);
  };
  const srcManifests = await readManifests(client, src, false, options.signal);
  if (!srcManifests)
    throw new OciDeltaError('ERR_MANIFEST_UNKNOWN', `${src} not found`, { ref: src.toString() });
  const destManifests = (await readManifests(destClient, dest, true, options.signal)) ?? {
    mediaType: srcManifests.mediaType,
    children: [],
  };
  for (const w of ambiguities(`source ${src}`, srcManifests.children)) warn(w);
  for (const w of ambiguities(`destination ${dest}`, destManifests.children)) warn(w);
  for (const c of srcManifests.children) {
    if (!c.identity && !c.attests)
      warn(`source entry ${c.descriptor.digest} has no platform; it is left out`);
  }

  const fromSource = sourceEntries(src, srcManifests.children, options.platforms, warn);
  const taken = new Set(fromSource.map((c) => c.identity));
  const fromDest = firstPerIdentity(destManifests.children).filter((c) => !taken.has(c.identity));
  // Attestations travel with the image they describe.
  const withAttestations = (kept: Child[], all: readonly Child[]) => {
    const digests = new Set(kept.map((c) => c.descriptor.digest));
    return [...kept, ...all.filter((c) => c.attests !== undefined && digests.has(c.attests))];
  };
  const srcEntries = withAttestations(fromSource, srcManifests.children);
  const destEntries = withAttestations(fromDest, destManifests.children);

  const mediaType = srcManifests.mediaType;
  const families = new Set([...srcEntries, ...destEntries].map((c) => family(c.descriptor.mediaType)));
  families.add(family(mediaType));
  if (families.has('oci') && families.has('docker')) {
    const list = [...srcEntries, ...destEntries]
      .map((c) => `${c.identity ?? c.descriptor.digest}: ${c.descriptor.mediaType}`)
      .join('; ');
    throw new OciDeltaError(
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      `cannot merge: the result (${mediaType}) would mix OCI and Docker manifests (${list}); convert one side first (e.g. skopeo copy --format)`,
      { source: src.toString(), destination: dest.toString() },
    );
  }

  const merged = indexFromDescriptors({
    mediaType,
    manifests: [...srcEntries, ...destEntries].map((c) => c.descriptor),
    ...(srcManifests.annotations ? { annotations: srcManifests.annotations } : {}),
    ...(srcManifests.extra ? { extra: srcManifests.extra } : {}),
  });
  const bytes = Buffer.from(merged.manifestBytes);
  const index = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  const entries: MergedEntry[] = [
    ...srcEntries.map((c) => ({ c, from: 'source' as const })),
    ...destEntries.map((c) => ({ c, from: 'destination' as const })),
  ].map(({ c, from }) => ({
    platform: c.identity ?? `attestation of ${c.attests ?? 'unknown'}`,
    digest: c.descriptor.digest,
    mediaType: c.descriptor.mediaType,
    from,
  }));
  const copied: string[] = [];
  let digest: string = merged.digest;
  if (!options.dryRun) {
    copied.push(
      ...(await copyChildren(
        [
          ...srcEntries.map((c) => ({ c, repo: src, from: client })),
          ...destEntries.map((c) => ({ c, repo: dest, from: destClient })),
        ],
        destClient,
        target,
        options,
      )),
    );
    digest = await destClient.putManifest(target, bytes, mediaType, { signal: options.signal });
  }
  return {
    target: target.toString(),
    digest,
    mediaType,
    index,
    bytes,
    entries,
    copied,
    pushed: !options.dryRun,
    warnings,
  };
}
