/**
 * Image references (`[registry/]repository[:tag][@digest]`), parsed and normalized the way
 * docker/distribution's `reference` package does (regexp.go grammar, normalize.go rules):
 * `ubuntu` -> `docker.io/library/ubuntu:latest`. Pure functions, no I/O.
 */
import { type Digest, parseDigest } from './digest.js';
import { OciDeltaError } from './errors.js';

/** The registry a reference without a registry points to. */
export const DEFAULT_REGISTRY = 'docker.io';
/** The tag a reference with neither tag nor digest gets. */
export const DEFAULT_TAG = 'latest';
/** Maximum length of the repository path (registry excluded), as distribution/reference. */
export const REPOSITORY_MAX_LENGTH = 255;

const LEGACY_DEFAULT_REGISTRY = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';

// The grammar of distribution/reference regexp.go.
const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_ADDRESS = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6_ADDRESS})(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';

const DOMAIN_RE = new RegExp(`^${DOMAIN_AND_PORT}$`);
const REMOTE_NAME_RE = new RegExp(`^${REMOTE_NAME}$`);
const PATH_COMPONENT_RE = new RegExp(`^${PATH_COMPONENT}$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const DIGEST_RE = new RegExp(`^${DIGEST}$`);
/** Repository path, tag and digest after the registry has been split off. */
const REMAINDER_RE = new RegExp(`^(${REMOTE_NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

function invalid(input: string, reason: string): OciDeltaError {
  return new OciDeltaError('ERR_INVALID_REFERENCE', `invalid reference "${input}": ${reason}`, {
    reference: input,
    reason,
  });
}

/**
 * Split a familiar name into registry and remainder (distribution's `splitDockerDomain`): the
 * first component is a registry when it is `localhost`, contains `.` or `:`, or has uppercase
 * letters (Docker Hub namespaces are lowercase); otherwise the registry is docker.io, and a
 * single-component Docker Hub name gets the `library/` prefix.
 */
function splitRegistry(name: string): [registry: string, remainder: string] {
  const slash = name.indexOf('/');
  let registry = DEFAULT_REGISTRY;
  let remainder = name;
  if (slash >= 0) {
    const first = name.slice(0, slash);
    if (
      first === 'localhost' ||
      first.includes('.') ||
      first.includes(':') ||
      first.toLowerCase() !== first
    ) {
      registry = first === LEGACY_DEFAULT_REGISTRY ? DEFAULT_REGISTRY : first;
      remainder = name.slice(slash + 1);
    }
  }
  if (registry === DEFAULT_REGISTRY && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return [registry, remainder];
}

/** Explain why `remainder` (path[:tag][@digest]) does not match the grammar. */
function diagnose(remainder: string): string {
  const at = remainder.indexOf('@');
  const nameAndTag = at >= 0 ? remainder.slice(0, at) : remainder;
  const digest = at >= 0 ? remainder.slice(at + 1) : undefined;
  const lastSlash = nameAndTag.lastIndexOf('/');
  const colon = nameAndTag.indexOf(':', lastSlash + 1);
  const path = colon >= 0 ? nameAndTag.slice(0, colon) : nameAndTag;
  const tag = colon >= 0 ? nameAndTag.slice(colon + 1) : undefined;
  if (digest !== undefined && !DIGEST_RE.test(digest)) return `invalid digest "${digest}"`;
  if (tag !== undefined && !TAG_RE.test(tag)) {
    return tag.length > 128
      ? `tag is longer than 128 characters`
      : `invalid tag "${tag}" (allowed: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})`;
  }
  if (path === '') return 'repository name is empty';
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT_RE.test(component)) {
      return component === ''
        ? `empty path component in repository "${path}"`
        : `invalid repository path component "${component}" (lowercase letters, digits and separators . _ __ - only)`;
    }
  }
  return 'invalid reference format';
}

/** The parts of a reference, as given to `Reference.fromParts`. */
export interface ReferenceParts {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * A parsed, normalized image reference. Always carries a registry (`docker.io` by default) and
 * a full repository path (`library/ubuntu`); the tag is `latest` when neither tag nor digest
 * was given.
 */
export class Reference {
  /** Registry host with optional port: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** Repository path inside the registry: `library/ubuntu`, `user/app`. */
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;

  private constructor(
    registry: string,
    repository: string,
    tag: string | undefined,
    digest: Digest | undefined,
  ) {
    this.registry = registry;
    this.repository = repository;
    this.tag = tag;
    this.digest = digest;
  }

  /**
   * Parse and normalize a reference such as `ubuntu`, `user/app:1`,
   * `localhost:5000/a/b:tag@sha256:<hex>`. Throws ERR_INVALID_REFERENCE naming the input and
   * the reason. Digests must be sha256 or sha512 (what ocidelta can verify).
   */
  static parse(input: string): Reference {
    if (typeof input !== 'string' || input === '') throw invalid(String(input ?? ''), 'reference is empty');
    if (IDENTIFIER_RE.test(input)) {
      throw invalid(input, 'a 64-character hex string is an image ID, not a repository name');
    }
    if (input.startsWith(':') || input.startsWith('@')) throw invalid(input, 'repository name is empty');
    const [registry, remainder] = splitRegistry(input);
    if (!DOMAIN_RE.test(registry)) throw invalid(input, `invalid registry host "${registry}"`);
    const path = remainder.split(/[:@]/, 1)[0] as string;
    if (path.toLowerCase() !== path) throw invalid(input, `repository name "${path}" must be lowercase`);
    const m = REMAINDER_RE.exec(remainder);
    if (!m) throw invalid(input, diagnose(remainder));
    const repository = m[1] as string;
    if (repository.length > REPOSITORY_MAX_LENGTH) {
      throw invalid(input, `repository name is longer than ${REPOSITORY_MAX_LENGTH} characters`);
    }
    let digest: Digest | undefined;
    if (m[3] !== undefined) {
      try {
        parseDigest(m[3]);
      } catch (err) {
        throw invalid(input, (err as Error).message);
      }
      digest = m[3] as Digest;
    }
    const tag = m[2] ?? (digest === undefined ? DEFAULT_TAG : undefined);
    return new Reference(registry, repository, tag, digest);
  }

  /** Build a reference from parts, validated as if parsed. */
  static fromParts(parts: ReferenceParts): Reference {
    let s = `${parts.registry}/${parts.repository}`;
    if (parts.tag !== undefined) s += `:${parts.tag}`;
    if (parts.digest !== undefined) s += `@${parts.digest}`;
    const ref = Reference.parse(s);
    if (ref.registry !== parts.registry && parts.registry !== LEGACY_DEFAULT_REGISTRY) {
      throw invalid(s, `"${parts.registry}" is not recognized as a registry host`);
    }
    return ref;
  }

  /** `registry/repository`, e.g. `docker.io/library/ubuntu`. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** digest ?? tag ?? 'latest': what goes in `/v2/<repo>/manifests/<identifier>`. */
  get identifier(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** The same repository at another tag. Drops the digest (it would win as identifier). */
  withTag(tag: string): Reference {
    if (!TAG_RE.test(tag)) throw invalid(`${this.name}:${tag}`, diagnose(`${this.repository}:${tag}`));
    return new Reference(this.registry, this.repository, tag, undefined);
  }

  /** The same repository pinned to a digest; keeps the tag (informational, as `name:tag@digest`). */
  withDigest(digest: string): Reference {
    try {
      parseDigest(digest);
    } catch (err) {
      throw invalid(`${this.name}@${digest}`, (err as Error).message);
    }
    return new Reference(this.registry, this.repository, this.tag, digest as Digest);
  }

  /** Another repository in the same registry, same tag and digest. `ubuntu` on docker.io becomes `library/ubuntu`. */
  withRepository(repository: string): Reference {
    const full =
      this.registry === DEFAULT_REGISTRY && !repository.includes('/')
        ? OFFICIAL_REPO_PREFIX + repository
        : repository;
    if (!REMOTE_NAME_RE.test(full)) throw invalid(`${this.registry}/${repository}`, diagnose(full));
    if (full.length > REPOSITORY_MAX_LENGTH) {
      throw invalid(
        `${this.registry}/${repository}`,
        `repository name is longer than ${REPOSITORY_MAX_LENGTH} characters`,
      );
    }
    return new Reference(this.registry, full, this.tag, this.digest);
  }

  /** Normalized full form, `registry/repository[:tag][@digest]`; `Reference.parse` round-trips it. */
  toString(): string {
    let s = this.name;
    if (this.tag !== undefined) s += `:${this.tag}`;
    if (this.digest !== undefined) s += `@${this.digest}`;
    return s;
  }

  /** Docker's short form: `ubuntu:latest`, `user/app:1`, `localhost:5000/app:1`. */
  familiar(): string {
    let name = this.name;
    if (this.registry === DEFAULT_REGISTRY) {
      let path = this.repository;
      const rest = path.startsWith(OFFICIAL_REPO_PREFIX) ? path.slice(OFFICIAL_REPO_PREFIX.length) : '';
      if (rest !== '' && !rest.includes('/')) path = rest;
      // Keep the registry when the short form would read as another registry (`docker.io/a.b/c`).
      if (splitRegistry(path)[0] === DEFAULT_REGISTRY) name = path;
    }
    if (this.tag !== undefined) name += `:${this.tag}`;
    if (this.digest !== undefined) name += `@${this.digest}`;
    return name;
  }

  /** Same registry, repository, tag and digest. */
  equals(other: Reference): boolean {
    return this.toString() === other.toString();
  }

  toJSON(): string {
    return this.toString();
  }
}

/** Parse and normalize a reference (see `Reference.parse`). */
export function parseReference(input: string): Reference {
  return Reference.parse(input);
}

/** skopeo's transports that name local images (not accepted where a registry reference is). */
const LOCAL_TRANSPORTS = [
  'oci:',
  'oci-archive:',
  'docker-archive:',
  'dir:',
  'containers-storage:',
  'docker-daemon:',
];

/**
 * A registry reference as users write it: `REF` or skopeo's `docker://REF`. A local transport
 * (`oci:DIR`, `oci-archive:FILE`, `docker-archive:FILE`...) is an ERR_INVALID_REFERENCE that
 * says so, instead of a confusing parse error or a registry lookup.
 */
export function parseRegistryReference(input: string, what = 'reference'): Reference {
  if (input.startsWith('docker://')) return Reference.parse(input.slice('docker://'.length));
  const local = LOCAL_TRANSPORTS.find((t) => input.startsWith(t));
  if (local !== undefined) {
    throw new OciDeltaError(
      'ERR_INVALID_REFERENCE',
      `"${input}" names a local image (${local.slice(0, -1)}), but this ${what} must be in a registry: give REGISTRY/REPO[:TAG] or docker://REGISTRY/REPO[:TAG]`,
      { ref: input },
    );
  }
  return Reference.parse(input);
}

/** A registry reference, parsed or as text (`REGISTRY/REPO[:TAG][@DIGEST]` or `docker://...`). */
export type ReferenceLike = Reference | string;

/** A parsed reference from either form (text goes through {@link parseRegistryReference}). */
export function toReference(ref: ReferenceLike): Reference {
  return typeof ref === 'string' ? parseRegistryReference(ref) : ref;
}

/** The host serving the registry API: `registry-1.docker.io` for Docker Hub, else the registry itself. */
export function registryApiHost(registry: string): string {
  return registry === DEFAULT_REGISTRY || registry === LEGACY_DEFAULT_REGISTRY
    ? 'registry-1.docker.io'
    : registry;
}
