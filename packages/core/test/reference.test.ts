/**
 * Reference parsing vectors, derived from distribution/reference's regexp.go grammar and the
 * cases of its reference_test.go / normalize_test.go (normalized the way ParseNormalizedNamed does).
 */
import { describe, expect, it } from 'vitest';
import { isOciDeltaError, parseReference, Reference, registryApiHost } from '../src/index.js';

const F64 = 'f'.repeat(64);
const SHA256 = `sha256:${F64}`;
const SHA512 = `sha512:${'f'.repeat(128)}`;

interface Valid {
  input: string;
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const valid: Valid[] = [
  // Docker Hub normalization
  { input: 'ubuntu', registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' },
  { input: 'ubuntu:22.04', registry: 'docker.io', repository: 'library/ubuntu', tag: '22.04' },
  { input: 'user/app:1', registry: 'docker.io', repository: 'user/app', tag: '1' },
  { input: 'docker.io/ubuntu', registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' },
  { input: 'docker.io/library/ubuntu:x', registry: 'docker.io', repository: 'library/ubuntu', tag: 'x' },
  { input: 'index.docker.io/foo/bar', registry: 'docker.io', repository: 'foo/bar', tag: 'latest' },
  { input: 'index.docker.io/bar', registry: 'docker.io', repository: 'library/bar', tag: 'latest' },
  { input: 'test_com', registry: 'docker.io', repository: 'library/test_com', tag: 'latest' },
  { input: 'test_com/foo', registry: 'docker.io', repository: 'test_com/foo', tag: 'latest' },
  // A single component is never a host: "test.com:5000" is repo test.com, tag 5000
  { input: 'test.com:tag', registry: 'docker.io', repository: 'library/test.com', tag: 'tag' },
  { input: 'test.com:5000', registry: 'docker.io', repository: 'library/test.com', tag: '5000' },
  { input: 'foo_bar.com:8080', registry: 'docker.io', repository: 'library/foo_bar.com', tag: '8080' },
  { input: '192.168.1.1', registry: 'docker.io', repository: 'library/192.168.1.1', tag: 'latest' },
  { input: '192.168.1.1:5000', registry: 'docker.io', repository: 'library/192.168.1.1', tag: '5000' },
  // first component without '.', ':' or uppercase and not localhost is a namespace
  { input: 'foo/foo_bar.com:8080', registry: 'docker.io', repository: 'foo/foo_bar.com', tag: '8080' },
  // hosts
  { input: 'test.com/repo:tag', registry: 'test.com', repository: 'repo', tag: 'tag' },
  { input: 'test:5000/repo', registry: 'test:5000', repository: 'repo', tag: 'latest' },
  { input: 'test:5000/repo:tag', registry: 'test:5000', repository: 'repo', tag: 'tag' },
  { input: `test:5000/repo@${SHA256}`, registry: 'test:5000', repository: 'repo', digest: SHA256 },
  {
    input: `test:5000/repo:tag@${SHA256}`,
    registry: 'test:5000',
    repository: 'repo',
    tag: 'tag',
    digest: SHA256,
  },
  { input: 'localhost/app', registry: 'localhost', repository: 'app', tag: 'latest' },
  { input: 'localhost:5000/a/b:tag', registry: 'localhost:5000', repository: 'a/b', tag: 'tag' },
  {
    input: `localhost:5000/a/b:tag@${SHA256}`,
    registry: 'localhost:5000',
    repository: 'a/b',
    tag: 'tag',
    digest: SHA256,
  },
  { input: '127.0.0.1:5000/app:v1', registry: '127.0.0.1:5000', repository: 'app', tag: 'v1' },
  { input: '192.168.1.1:5000/repo:5050', registry: '192.168.1.1:5000', repository: 'repo', tag: '5050' },
  { input: 'test-com:8080/foo', registry: 'test-com:8080', repository: 'foo', tag: 'latest' },
  { input: 'xn--n3h.com:18080/foo', registry: 'xn--n3h.com:18080', repository: 'foo', tag: 'latest' },
  {
    input: 'sub-dom1.foo.com/bar/baz/quux:some-long-tag',
    registry: 'sub-dom1.foo.com',
    repository: 'bar/baz/quux',
    tag: 'some-long-tag',
  },
  {
    input: 'b.gcr.io/test.example.com/my-app:test.example.com',
    registry: 'b.gcr.io',
    repository: 'test.example.com/my-app',
    tag: 'test.example.com',
  },
  {
    input: `xn--7o8h.com/myimage:xn--7o8h.com@${SHA512}`,
    registry: 'xn--7o8h.com',
    repository: 'myimage',
    tag: 'xn--7o8h.com',
    digest: SHA512,
  },
  // Uppercase first component is taken as a registry (Docker Hub namespaces are lowercase)
  { input: 'Uppercase/lowercase:tag', registry: 'Uppercase', repository: 'lowercase', tag: 'tag' },
  // IPv6 hosts
  { input: '[2001:db8::1]/repo', registry: '[2001:db8::1]', repository: 'repo', tag: 'latest' },
  { input: '[2001:db8::1]:5000/repo:tag', registry: '[2001:db8::1]:5000', repository: 'repo', tag: 'tag' },
  { input: `[::1]:5000/repo@${SHA256}`, registry: '[::1]:5000', repository: 'repo', digest: SHA256 },
  // separators and tags
  {
    input: 'a/b__c/d--e/f.g_h:TAG_5.x-y',
    registry: 'docker.io',
    repository: 'a/b__c/d--e/f.g_h',
    tag: 'TAG_5.x-y',
  },
  { input: 'lowercase:Uppercase', registry: 'docker.io', repository: 'library/lowercase', tag: 'Uppercase' },
  {
    input: `app:_${'x'.repeat(127)}`,
    registry: 'docker.io',
    repository: 'library/app',
    tag: `_${'x'.repeat(127)}`,
  },
  // from normalize_test.go
  {
    input: 'docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a',
    registry: 'docker.io',
    repository: 'library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a',
    tag: 'latest',
  },
  { input: 'DOCKER/docker', registry: 'DOCKER', repository: 'docker', tag: 'latest' },
  {
    input: 'thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
    registry: 'docker.io',
    repository: 'library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev',
    tag: 'latest',
  },
  {
    input: 'docker---rules/docker',
    registry: 'docker.io',
    repository: 'docker---rules/docker',
    tag: 'latest',
  },
  {
    input: '[fc00:1:2:3:4:5:6:7]:5000/library/debian',
    registry: '[fc00:1:2:3:4:5:6:7]:5000',
    repository: 'library/debian',
    tag: 'latest',
  },
  { input: '192.168.0.1:8/debian', registry: '192.168.0.1:8', repository: 'debian', tag: 'latest' },
  { input: 'docker.io/library/foo/bar', registry: 'docker.io', repository: 'library/foo/bar', tag: 'latest' },
  {
    input: `busybox:latest@${SHA256}`,
    registry: 'docker.io',
    repository: 'library/busybox',
    tag: 'latest',
    digest: SHA256,
  },
  // length: 255 characters of path is the maximum (the registry is not counted)
  {
    input: `${'a/'.repeat(127)}a:tag-puts-this-over-max`,
    registry: 'docker.io',
    repository: `${'a/'.repeat(127)}a`,
    tag: 'tag-puts-this-over-max',
  },
  {
    input: `example.com/${'a'.repeat(255)}`,
    registry: 'example.com',
    repository: 'a'.repeat(255),
    tag: 'latest',
  },
];

const invalid: { input: string; reason: RegExp }[] = [
  { input: '', reason: /empty/ },
  { input: ':justtag', reason: /repository name is empty/ },
  { input: `@${SHA256}`, reason: /repository name is empty/ },
  { input: F64, reason: /image ID/ },
  { input: 'Uppercase:tag', reason: /must be lowercase/ },
  { input: 'test:5000/Uppercase/lowercase:tag', reason: /must be lowercase/ },
  { input: 'docker.io/Library/ubuntu', reason: /must be lowercase/ },
  { input: 'aa/asdf$$^/aa', reason: /invalid repository path component "asdf\$\$\^"/ },
  { input: 'a//b', reason: /empty path component/ },
  { input: 'a/b/', reason: /empty path component/ },
  { input: '-abc', reason: /path component "-abc"/ },
  { input: 'abc-', reason: /path component "abc-"/ },
  { input: 'a..b', reason: /path component "a\.\.b"/ },
  { input: 'a___b', reason: /path component "a___b"/ },
  { input: `${'a/'.repeat(128)}a:tag`, reason: /longer than 255/ },
  { input: `example.com/${'a'.repeat(256)}`, reason: /longer than 255/ },
  { input: `app:${'x'.repeat(129)}`, reason: /tag is longer than 128/ },
  { input: 'app:-tag', reason: /invalid tag "-tag"/ },
  { input: 'app:ta/g', reason: /invalid/ },
  { input: 'app:', reason: /invalid tag ""/ },
  { input: 'repo@sha256:ffffffffffffffffffffffffffffffffff', reason: /64 lowercase hex/ },
  { input: `validname@invaliddigest:${F64}`, reason: /unsupported algorithm/ },
  { input: `repo@sha256:${'F'.repeat(64)}`, reason: /lowercase hex/ },
  { input: 'repo@sha256:', reason: /invalid digest "sha256:"/ },
  // from normalize_test.go
  { input: 'https://github.com/docker/docker', reason: /invalid registry host "https:"/ },
  { input: 'docker/Docker', reason: /must be lowercase/ },
  { input: '-docker.io/docker/docker', reason: /invalid registry host/ },
  { input: 'docker///docker', reason: /empty path component/ },
  { input: 'docker-/docker', reason: /path component "docker-"/ },
  { input: '____/____', reason: /path component "____"/ },
  { input: '_docker/_docker', reason: /path component "_docker"/ },
  { input: 'dock_.er/docker', reason: /invalid registry host "dock_\.er"/ },
  { input: 'docker/', reason: /empty path component/ },
  { input: 'fc00::1:5000/debian', reason: /invalid registry host "fc00::1:5000"/ },
  { input: '[2001:db8:3:4::192.0.2.33]:5000/debian', reason: /invalid registry host/ },
  { input: `${'namespace'.repeat(29)}/docker`, reason: /longer than 255/ },
  { input: '[2001:db8::1]', reason: /invalid/ },
  { input: '[2001:db8::1]:5000', reason: /invalid/ },
  { input: '[fe80::1%eth0]:5000/repo', reason: /invalid registry host/ },
  { input: '-bad.com/repo', reason: /invalid registry host "-bad\.com"/ },
  { input: 'bad_host.com/repo', reason: /invalid registry host/ },
  { input: 'host.com:port/repo', reason: /invalid registry host "host\.com:port"/ },
];

describe('Reference.parse: valid vectors', () => {
  it.each(valid)('$input', (v) => {
    const ref = Reference.parse(v.input);
    expect(ref.registry).toBe(v.registry);
    expect(ref.repository).toBe(v.repository);
    expect(ref.tag).toBe(v.tag);
    expect(ref.digest).toBe(v.digest);
    expect(ref.name).toBe(`${v.registry}/${v.repository}`);
    // toString() is the normalized full form and round-trips
    const s = ref.toString();
    expect(s).toBe(
      `${v.registry}/${v.repository}${v.tag ? `:${v.tag}` : ''}${v.digest ? `@${v.digest}` : ''}`,
    );
    expect(Reference.parse(s).toString()).toBe(s);
    // familiar() form parses back to the same reference
    expect(Reference.parse(ref.familiar()).toString()).toBe(s);
  });
});

describe('Reference.parse: invalid vectors', () => {
  it.each(invalid)('$input', ({ input, reason }) => {
    let caught: unknown;
    try {
      Reference.parse(input);
    } catch (err) {
      caught = err;
    }
    expect(isOciDeltaError(caught, 'ERR_INVALID_REFERENCE')).toBe(true);
    const err = caught as Error & { details: Record<string, unknown> };
    expect(err.message).toContain(`"${input}"`);
    expect(err.message).toMatch(reason);
    expect(err.details.reference).toBe(input);
  });
});

describe('Reference accessors and builders', () => {
  it('has enough vectors', () => {
    expect(valid.length + invalid.length).toBeGreaterThanOrEqual(40);
  });

  it('identifier is digest, else tag, else latest', () => {
    expect(parseReference('ubuntu').identifier).toBe('latest');
    expect(parseReference('ubuntu:22.04').identifier).toBe('22.04');
    expect(parseReference(`ubuntu:22.04@${SHA256}`).identifier).toBe(SHA256);
    expect(parseReference(`ubuntu@${SHA256}`).tag).toBeUndefined();
  });

  it('familiar() gives docker short forms', () => {
    expect(parseReference('docker.io/library/ubuntu').familiar()).toBe('ubuntu:latest');
    expect(parseReference('user/app:1').familiar()).toBe('user/app:1');
    expect(parseReference('localhost:5000/app:1').familiar()).toBe('localhost:5000/app:1');
    expect(parseReference('docker.io/library/a/b').familiar()).toBe('library/a/b:latest');
    // would read as registry "a.b" without the prefix
    expect(parseReference('docker.io/a.b/c').familiar()).toBe('docker.io/a.b/c:latest');
    expect(parseReference(`ubuntu@${SHA256}`).familiar()).toBe(`ubuntu@${SHA256}`);
  });

  it('withTag replaces the tag and drops the digest', () => {
    const r = parseReference(`localhost:5000/a:1@${SHA256}`).withTag('2');
    expect(r.toString()).toBe('localhost:5000/a:2');
    expect(r.identifier).toBe('2');
    expect(() => r.withTag('-x')).toThrow(/invalid tag "-x"/);
  });

  it('withDigest pins and keeps the tag', () => {
    const r = parseReference('localhost:5000/a:1').withDigest(SHA512);
    expect(r.toString()).toBe(`localhost:5000/a:1@${SHA512}`);
    expect(r.identifier).toBe(SHA512);
    expect(() => r.withDigest('sha256:abc')).toThrow(/ERR|invalid digest/);
  });

  it('withRepository keeps registry, tag and digest', () => {
    const r = parseReference('localhost:5000/a:1').withRepository('b/c');
    expect(r.toString()).toBe('localhost:5000/b/c:1');
    expect(parseReference('ubuntu:1').withRepository('debian').toString()).toBe('docker.io/library/debian:1');
    expect(() => r.withRepository('B')).toThrow(/invalid repository path component "B"/);
  });

  it('fromParts validates and rejects a registry that would read as a namespace', () => {
    const r = Reference.fromParts({ registry: 'localhost:5000', repository: 'x/y', tag: 't' });
    expect(r.toString()).toBe('localhost:5000/x/y:t');
    expect(() => Reference.fromParts({ registry: 'myhost', repository: 'x' })).toThrow(
      /not recognized as a registry host/,
    );
  });

  it('equals and JSON', () => {
    expect(parseReference('ubuntu').equals(parseReference('docker.io/library/ubuntu:latest'))).toBe(true);
    expect(parseReference('ubuntu').equals(parseReference('ubuntu:1'))).toBe(false);
    expect(JSON.stringify({ r: parseReference('ubuntu') })).toBe('{"r":"docker.io/library/ubuntu:latest"}');
  });

  it('registryApiHost maps Docker Hub to registry-1.docker.io', () => {
    expect(registryApiHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost(parseReference('ubuntu').registry)).toBe('registry-1.docker.io');
    expect(registryApiHost('localhost:5000')).toBe('localhost:5000');
  });
});
