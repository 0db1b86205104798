// The shared registry options of the CLI: --creds parsing, registries named by arguments,
// integer options, printing a result. Pure, no registry.
import { describe, expect, it } from 'vitest';
import { expandInsecure, parseCredentials } from '../src/kit/registry-client.js';
import { intOption, stringOption, wholeNumberOption, writeResult } from '../src/kit/registry-options.js';
import { captureIO } from './support.js';

describe('registry CLI options', () => {
  it('splits --creds at the first colon so passwords may contain colons', () => {
    expect(parseCredentials('alice:s3:cr:et')).toEqual({ username: 'alice', password: 's3:cr:et' });
    expect(parseCredentials('bob:')).toEqual({ username: 'bob', password: '' });
  });

  it('rejects --creds without a user name and colon', () => {
    for (const bad of ['alice', ':secret', '']) {
      expect(() => parseCredentials(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTIONS' }));
    }
  });

  it('a bare --insecure covers the registry of every reference named (docker.io by default)', () => {
    const refs = ['localhost:5000/app:1', 'docker://registry.example.com/team/app', 'ubuntu', 'oci:dir'];
    expect(expandInsecure({ insecureAll: true }, refs).insecure).toEqual([
      'localhost:5000',
      'registry.example.com',
      'docker.io',
    ]);
    expect(expandInsecure({ insecure: ['a:1'] }, refs).insecure).toEqual(['a:1']);
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

  it('accepts whole numbers from 0 and names the flag and what it wants otherwise', () => {
    expect(wholeNumberOption('0', '--layer', 'a layer number from 0')).toBe(0);
    expect(wholeNumberOption(3, '--layer', 'a layer number from 0')).toBe(3);
    expect(wholeNumberOption(undefined, '--mtime', 'seconds since the epoch')).toBeUndefined();
    expect(() => wholeNumberOption('-1', '--layer', 'a layer number from 0')).toThrow(
      '--layer must be a layer number from 0 (got -1)',
    );
    expect(() => wholeNumberOption('soon', '--mtime', 'seconds since the epoch')).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_OPTIONS',
        message: expect.stringContaining('(got soon)'),
      }),
    );
  });

  it('prints a result as its digest, or whole as JSON with --json', () => {
    const result = { digest: 'sha256:abc', images: [{ digest: 'sha256:def' }] };
    const plain = captureIO();
    writeResult(plain, {}, result);
    expect(plain.out()).toBe('sha256:abc\n');
    const json = captureIO();
    writeResult(json, { json: true }, result);
    expect(JSON.parse(json.out())).toEqual(result);
  });
});
