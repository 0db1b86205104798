import { OciDeltaError } from '@ocidelta/core';
import { describe, expect, it } from 'vitest';
import { errorMessage, renderHint, withHint } from '../src/kit/hints.js';

describe('hint codes rendered as options', () => {
  it('appends the options of a known code, leaves the message alone otherwise', () => {
    expect(withHint('no cache directory', 'cache-dir')).toBe(
      'no cache directory (--cache-dir DIR or --no-cache)',
    );
    expect(withHint('plain', undefined)).toBe('plain');
    expect(withHint('plain', 'no-such-code')).toBe('plain');
    expect(renderHint('toString')).toBeUndefined();
  });

  it("renders an error's details.hint, from any package's codes", () => {
    const err = new OciDeltaError('ERR_AUTH', 'registry r.example asked for credentials', {
      hint: 'credentials',
    });
    expect(errorMessage(err)).toMatch(/asked for credentials \(--creds USER:PASSWORD, --authfile FILE/);
    expect(errorMessage(new Error('not ours'))).toBe('not ours');
  });
});
