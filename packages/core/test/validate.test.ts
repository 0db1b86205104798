import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { OciDeltaError } from '../src/errors.js';
import { fieldOf, validate } from '../src/validate.js';

const schema = z.object({ name: z.string(), layers: z.array(z.object({ size: z.number().int() })) });

describe('validate (the one zod adapter)', () => {
  it('returns the parsed value', () => {
    expect(validate(schema, { name: 'a', layers: [] }, { code: 'ERR_INPUT', what: 'invalid x' })).toEqual({
      name: 'a',
      layers: [],
    });
  });

  it('names every failing field in the message and details, with the caller code', () => {
    let err: unknown;
    try {
      validate(
        schema,
        { name: 3, layers: [{ size: 1.5 }] },
        { code: 'ERR_INVALID_MANIFEST', what: 'invalid manifest', details: { ref: 'r/x:1' } },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OciDeltaError);
    const e = err as OciDeltaError;
    expect(e.code).toBe('ERR_INVALID_MANIFEST');
    expect(e.message).toMatch(/^invalid manifest: name: .+; layers\.0\.size: .+/);
    expect(e.details).toMatchObject({ ref: 'r/x:1', field: 'name' });
    expect((e.details.issues as unknown[]).length).toBe(2);
  });

  it('a failing root value is (root)', () => {
    expect(fieldOf([])).toBe('(root)');
    expect(() => validate(schema, null, { code: 'ERR_INPUT', what: 'invalid x' })).toThrow(
      /invalid x: \(root\): /,
    );
  });
});
