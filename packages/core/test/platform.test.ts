/** Platform parsing/normalization (containerd platforms rules) and index selection. */
import { describe, expect, it } from 'vitest';
import {
  digestOf,
  formatPlatform,
  hostPlatform,
  type IndexManifest,
  isOciDeltaError,
  MediaType,
  normalizePlatform,
  type Platform,
  parsePlatform,
  platformFromSpec,
  platformMatches,
  platformToSpec,
  selectManifest,
} from '../src/index.js';

describe('parsePlatform + normalizePlatform', () => {
  const cases: [string, string][] = [
    ['linux/amd64', 'linux/amd64'],
    ['linux/x86_64', 'linux/amd64'],
    ['linux/x86-64', 'linux/amd64'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3'],
    ['linux/arm64', 'linux/arm64/v8'],
    ['linux/aarch64', 'linux/arm64/v8'],
    ['linux/arm64/v8', 'linux/arm64/v8'],
    ['linux/arm64/8', 'linux/arm64/v8'],
    ['linux/arm64/v8.0', 'linux/arm64/v8'],
    ['linux/arm64/9', 'linux/arm64/v9'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/7', 'linux/arm/v7'],
    ['linux/arm/v7', 'linux/arm/v7'],
    ['linux/arm/6', 'linux/arm/v6'],
    ['linux/arm/v5', 'linux/arm/v5'],
    ['linux/armhf', 'linux/arm/v7'],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/i386', 'linux/386'],
    ['Linux/AMD64', 'linux/amd64'],
    ['macos/arm64', 'darwin/arm64/v8'],
    ['linux/riscv64', 'linux/riscv64'],
    ['windows(10.0.17763)/amd64', 'windows(10.0.17763)/amd64'],
  ];
  it.each(cases)('%s -> %s', (input, expected) => {
    expect(formatPlatform(parsePlatform(input))).toBe(expected);
  });

  it('returns the fields', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('windows(10.0.1)/amd64')).toEqual({
      os: 'windows',
      architecture: 'amd64',
      osVersion: '10.0.1',
    });
  });

  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['linux', /expected os\/architecture/],
    ['linux/arm/v7/extra', /expected os\/architecture/],
    ['linux/', /architecture is empty/],
    ['/amd64', /os is empty/],
    ['linux/amd 64', /invalid architecture "amd 64"/],
    ['linux/arm/v7!', /invalid variant "v7!"/],
  ];
  it.each(bad)('rejects %j', (input, reason) => {
    try {
      parsePlatform(input);
      expect.unreachable();
    } catch (err) {
      expect(isOciDeltaError(err, 'ERR_INVALID_PLATFORM')).toBe(true);
      expect((err as Error).message).toContain(`"${input}"`);
      expect((err as Error).message).toMatch(reason);
    }
  });

  it('normalize keeps os.version and features, drops empty ones', () => {
    expect(
      normalizePlatform({ os: 'windows', architecture: 'x86_64', osVersion: '10.0', osFeatures: ['win32k'] }),
    ).toEqual({ os: 'windows', architecture: 'amd64', osVersion: '10.0', osFeatures: ['win32k'] });
    expect(normalizePlatform({ os: 'linux', architecture: 'amd64', variant: '', osFeatures: [] })).toEqual({
      os: 'linux',
      architecture: 'amd64',
    });
  });

  it('hostPlatform is a normalized platform of this process', () => {
    const p = hostPlatform();
    expect(normalizePlatform(p)).toEqual(p);
    expect(p.os).toBe(process.platform === 'win32' ? 'windows' : process.platform);
  });
});

describe('platformFromSpec / platformToSpec', () => {
  it('maps os.version and os.features', () => {
    const spec = {
      os: 'windows',
      architecture: 'amd64',
      'os.version': '10.0.17763.1',
      'os.features': ['win32k'],
    };
    const p = platformFromSpec(spec);
    expect(p).toEqual({
      os: 'windows',
      architecture: 'amd64',
      osVersion: '10.0.17763.1',
      osFeatures: ['win32k'],
    });
    expect(platformToSpec(p)).toEqual(spec);
  });
});

describe('platformMatches', () => {
  const p = (s: string): Platform => parsePlatform(s);
  it('matches on normalized identity', () => {
    expect(platformMatches(p('linux/arm64'), { os: 'linux', architecture: 'arm64' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'aarch64' }, p('linux/arm64/v8'))).toBe(true);
    expect(platformMatches(p('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(true);
    expect(platformMatches(p('linux/arm/v6'), p('linux/arm/v7'))).toBe(false);
    expect(platformMatches(p('linux/amd64'), p('linux/arm64'))).toBe(false);
    expect(platformMatches(p('linux/amd64'), p('windows/amd64'))).toBe(false);
    expect(platformMatches(p('linux/amd64'), p('linux/amd64/v3'))).toBe(false);
  });
  it('checks os.version only when wanted', () => {
    const have: Platform = { os: 'windows', architecture: 'amd64', osVersion: '10.0.2' };
    expect(platformMatches(p('windows/amd64'), have)).toBe(true);
    expect(platformMatches(p('windows(10.0.2)/amd64'), have)).toBe(true);
    expect(platformMatches(p('windows(10.0.1)/amd64'), have)).toBe(false);
  });
});

describe('selectManifest', () => {
  const desc = (name: string, platform?: { os: string; architecture: string; variant?: string }) => ({
    mediaType: MediaType.OciManifest,
    digest: digestOf(name),
    size: name.length,
    ...(platform ? { platform } : {}),
  });
  const index: IndexManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [
      desc('none'),
      desc('amd64', { os: 'linux', architecture: 'amd64' }),
      desc('attestation', { os: 'unknown', architecture: 'unknown' }),
      desc('arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }),
      desc('armv7', { os: 'linux', architecture: 'arm', variant: 'v7' }),
    ],
  };

  it('picks the entry for the platform', () => {
    expect(selectManifest(index, parsePlatform('linux/amd64')).digest).toBe(digestOf('amd64'));
    expect(selectManifest(index, parsePlatform('linux/aarch64')).digest).toBe(digestOf('arm64'));
    expect(selectManifest(index, { os: 'linux', architecture: 'arm' }).digest).toBe(digestOf('armv7'));
  });

  it('ignores unknown/unknown attestations', () => {
    expect(() => selectManifest(index, { os: 'unknown', architecture: 'unknown' })).toThrow(/no manifest/);
  });

  it('throws ERR_PLATFORM_NOT_FOUND listing the available platforms', () => {
    try {
      selectManifest(index, parsePlatform('linux/arm/v6'));
      expect.unreachable();
    } catch (err) {
      expect(isOciDeltaError(err, 'ERR_PLATFORM_NOT_FOUND')).toBe(true);
      expect((err as Error).message).toBe(
        'no manifest for linux/arm/v6 in index; available: linux/amd64, linux/arm64/v8, linux/arm/v7',
      );
      expect((err as { details: Record<string, unknown> }).details.available).toEqual([
        'linux/amd64',
        'linux/arm64/v8',
        'linux/arm/v7',
      ]);
    }
  });

  it('says none when the index has no platform entries', () => {
    expect(() =>
      selectManifest({ schemaVersion: 2, manifests: [desc('x')] }, parsePlatform('linux/amd64')),
    ).toThrow('no manifest for linux/amd64 in index; available: none');
  });
});
