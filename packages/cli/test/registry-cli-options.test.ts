// The shared registry options of the CLI: --creds parsing, registries named by arguments,
// integer options. Pure, no registry.
import { describe, expect, it } from 'vitest';
import { intOption, parseCreds, registryOf, stringOption } from '../src/registry-options.js';

describe('registry CLI options', () => {
  it('splits --creds at the first colon so passwords may contain colons', () => {
    expect(parseCreds('alice:s3:cr:et')).toEqual({ username: 'alice', password: 's3:cr:et' });
    expect(parseCreds('bob:')).toEqual({ username: 'bob', password: '' });
  });

  it('rejects --creds without a user name and colon', () => {
    for (const bad of ['alice', ':secret', '']) {
      expect(() => parseCreds(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
    }
  });

  it('names the registry of a reference for --insecure (docker.io by default)', () => {
    expect(registryOf('localhost:5000/app:1')).toBe('localhost:5000');
    expect(registryOf('registry.example.com/team/app')).toBe('registry.example.com');
    expect(registryOf('ubuntu')).toBe('docker.io');
  });

  it('accepts positive integers and single string values only', () => {
    expect(intOption('6', '--concurrency')).toBe(6);
    expect(intOption(undefined, '--concurrency')).toBeUndefined();
    expect(() => intOption('0', '--concurrency')).toThrow(/--concurrency must be a positive integer/);
    expect(() => intOption('2.5', '--concurrency')).toThrow(/positive integer/);
    expect(stringOption('x', '--oci')).toBe('x');
    expect(() => stringOption(['a', 'b'], '--oci')).toThrow(/--oci needs one value/);
    expect(() => stringOption(true, '--oci')).toThrow(/--oci needs one value/);
  });
});
