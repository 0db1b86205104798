/**
 * Platforms (`linux/arm/v7`): parse, normalize the way containerd's `platforms` package does
 * (`aarch64` -> `arm64`, `x86_64` -> `amd64`, ...), format, and pick an index entry by platform.
 * Pure functions, no I/O.
 */
import { OciDeltaError } from './errors.js';
import type { Descriptor, IndexManifest, PlatformSpec } from './schemas.js';

/** A target platform, in our own camelCase shape (see `platformFromSpec` for the OCI JSON one). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  osVersion?: string;
  osFeatures?: string[];
}

const COMPONENT_RE = /^[A-Za-z0-9_-]+$/;
/** Variants may carry a minor version (`v8.0`), which normalization folds. */
const VARIANT_RE = /^[A-Za-z0-9_.-]+$/;
/** `os(os.version)` as containerd writes it, e.g. `windows(10.0.17763.5576)`. */
const OS_WITH_VERSION_RE = /^([A-Za-z0-9_-]+)\(([A-Za-z0-9_.-]*)\)$/;

function invalidPlatform(input: string, reason: string): OciDeltaError {
  return new OciDeltaError('ERR_INVALID_PLATFORM', `invalid platform "${input}": ${reason}`, {
    platform: input,
    reason,
  });
}

function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

/** containerd's normalizeArch, except that arm64 keeps an explicit default variant `v8`. */
function normalizeArch(arch: string, variant: string): [string, string] {
  let a = arch.toLowerCase();
  let v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      a = '386';
      v = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      a = 'amd64';
      if (v === 'v1') v = '';
      break;
    case 'aarch64':
    case 'arm64':
      a = 'arm64';
      if (v === '' || v === '8' || v === 'v8' || v === 'v8.0') v = 'v8';
      else if (v === '9' || v === '9.0' || v === 'v9.0') v = 'v9';
      break;
    case 'armhf':
      a = 'arm';
      v = 'v7';
      break;
    case 'armel':
      a = 'arm';
      v = 'v6';
      break;
    case 'arm':
      if (v === '' || v === '7') v = 'v7';
      else if (v === '5' || v === '6' || v === '8') v = `v${v}`;
      break;
  }
  return [a, v];
}

/**
 * Normalize a platform: lowercase; `aarch64` -> `arm64` (default variant `v8`), `x86_64` /
 * `x86-64` -> `amd64`, `i386` -> `386`, `armhf` -> `arm/v7`, `armel` -> `arm/v6`, `arm`
 * defaults to `v7`, `macos` -> `darwin`.
 */
export function normalizePlatform(p: Platform): Platform {
  const [architecture, variant] = normalizeArch(p.architecture, p.variant ?? '');
  const out: Platform = { os: normalizeOs(p.os), architecture };
  if (variant !== '') out.variant = variant;
  if (p.osVersion !== undefined && p.osVersion !== '') out.osVersion = p.osVersion;
  if (p.osFeatures !== undefined && p.osFeatures.length > 0) out.osFeatures = [...p.osFeatures];
  return out;
}

/**
 * Parse `os/arch[/variant]` (optionally `os(os.version)/arch`) and normalize it:
 * `linux/arm/v7`, `linux/amd64`, `linux/aarch64` -> linux/arm64/v8. Throws ERR_INVALID_PLATFORM.
 */
export function parsePlatform(s: string): Platform {
  if (typeof s !== 'string' || s.trim() === '') throw invalidPlatform(String(s ?? ''), 'platform is empty');
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3) {
    throw invalidPlatform(s, 'expected os/architecture[/variant], e.g. linux/arm/v7');
  }
  const [osPart, architecture, variant] = parts as [string, string, string | undefined];
  let os = osPart;
  let osVersion: string | undefined;
  const withVersion = OS_WITH_VERSION_RE.exec(osPart);
  if (withVersion) {
    os = withVersion[1] as string;
    osVersion = withVersion[2];
  }
  const named: [string, string | undefined][] = [
    ['os', os],
    ['architecture', architecture],
    ['variant', variant],
  ];
  for (const [field, value] of named) {
    const re = field === 'variant' ? VARIANT_RE : COMPONENT_RE;
    if (value !== undefined && !re.test(value)) {
      throw invalidPlatform(
        s,
        value === '' ? `${field} is empty` : `invalid ${field} "${value}" (letters, digits, _ and - only)`,
      );
    }
  }
  return normalizePlatform({ os, architecture, variant, osVersion });
}

/** `os[(os.version)]/architecture[/variant]`, e.g. `linux/arm64/v8`. */
export function formatPlatform(p: Platform): string {
  const os = p.osVersion ? `${p.os}(${p.osVersion})` : p.os;
  return p.variant ? `${os}/${p.architecture}/${p.variant}` : `${os}/${p.architecture}`;
}

/** Convert an OCI `platform` object (`os.version`, `os.features`) to a Platform, unnormalized. */
export function platformFromSpec(spec: PlatformSpec): Platform {
  const p: Platform = { os: spec.os, architecture: spec.architecture };
  if (spec.variant !== undefined) p.variant = spec.variant;
  if (spec['os.version'] !== undefined) p.osVersion = spec['os.version'];
  if (spec['os.features'] !== undefined) p.osFeatures = [...spec['os.features']];
  return p;
}

/** Convert a Platform to the OCI JSON shape used in descriptors and image configs. */
export function platformToSpec(p: Platform): PlatformSpec {
  const spec: PlatformSpec = { architecture: p.architecture, os: p.os };
  if (p.variant !== undefined) spec.variant = p.variant;
  if (p.osVersion !== undefined) spec['os.version'] = p.osVersion;
  if (p.osFeatures !== undefined) spec['os.features'] = [...p.osFeatures];
  return spec;
}

/**
 * True when `have` is the platform `want` asks for: same os, architecture and variant after
 * normalization (so `linux/arm64` matches `linux/arm64/v8`), and the same os.version when
 * `want` names one.
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture || (w.variant ?? '') !== (h.variant ?? ''))
    return false;
  return w.osVersion === undefined || w.osVersion === h.osVersion;
}

/** True for buildkit's attestation entries (`unknown/unknown`), which are not images. */
function isUnknownPlatform(spec: PlatformSpec): boolean {
  return spec.os === 'unknown' && spec.architecture === 'unknown';
}

/** The (normalized) platforms an index offers, without attestation entries. */
export function indexPlatforms(index: IndexManifest): Platform[] {
  const out: Platform[] = [];
  for (const d of index.manifests) {
    if (d.platform && !isUnknownPlatform(d.platform))
      out.push(normalizePlatform(platformFromSpec(d.platform)));
  }
  return out;
}

/**
 * The first index entry for platform `want`. Entries without a platform and buildkit
 * attestations (`unknown/unknown`) are ignored. Throws ERR_PLATFORM_NOT_FOUND listing the
 * available platforms.
 */
export function selectManifest(index: IndexManifest, want: Platform): Descriptor {
  for (const d of index.manifests) {
    if (!d.platform || isUnknownPlatform(d.platform)) continue;
    if (platformMatches(want, platformFromSpec(d.platform))) return d;
  }
  const wanted = formatPlatform(normalizePlatform(want));
  const available = indexPlatforms(index).map(formatPlatform);
  throw new OciDeltaError(
    'ERR_PLATFORM_NOT_FOUND',
    `no manifest for ${wanted} in index; available: ${available.length > 0 ? available.join(', ') : 'none'}`,
    { platform: wanted, available },
  );
}

/** The platform of this Node process (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`...). */
export function hostPlatform(): Platform {
  const archMap: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips64el: 'mips64le',
  };
  const architecture = archMap[process.arch] ?? process.arch;
  let variant: string | undefined;
  if (process.arch === 'arm') {
    const armVersion = (process.config.variables as unknown as Record<string, unknown>).arm_version;
    if (typeof armVersion === 'string' || typeof armVersion === 'number') variant = `v${armVersion}`;
  }
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return normalizePlatform({ os, architecture, variant });
}
