import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DigestMismatchError, isOciDeltaError, OciDeltaError } from '../src/errors.js';

const copies: string[] = [];
afterAll(async () => {
  for (const dir of copies) await rm(dir, { recursive: true, force: true });
});

/** A second copy of core's errors module, as when two versions of core are installed. */
async function otherCopy(): Promise<typeof import('../src/errors.js')> {
  const dir = await mkdtemp(join(tmpdir(), 'ocidelta-core-copy-'));
  copies.push(dir);
  const file = join(dir, 'errors.ts');
  await copyFile(fileURLToPath(new URL('../src/errors.ts', import.meta.url)), file);
  return import(/* @vite-ignore */ pathToFileURL(file).href);
}

describe('branded errors', () => {
  it('an error from another copy of core is still an OciDeltaError, and of its own subclass', async () => {
    const copy = await otherCopy();
    expect(copy.OciDeltaError).not.toBe(OciDeltaError);
    const foreign = new copy.OciDeltaError('ERR_INPUT', 'from the other copy');
    expect(foreign instanceof OciDeltaError).toBe(true);
    expect(isOciDeltaError(foreign, 'ERR_INPUT')).toBe(true);
    const mismatch = new copy.DigestMismatchError('sha256:aa', 'sha256:bb');
    expect(mismatch instanceof DigestMismatchError).toBe(true);
    expect(mismatch instanceof OciDeltaError).toBe(true);
    // The brand does not make every ocidelta error every subclass.
    expect(foreign instanceof DigestMismatchError).toBe(false);
    expect(new OciDeltaError('ERR_INPUT', 'x') instanceof DigestMismatchError).toBe(false);
  });

  it('plain errors and look-alikes are not OciDeltaErrors', () => {
    expect(new Error('x') instanceof OciDeltaError).toBe(false);
    const lookAlike = Object.assign(new Error('x'), { code: 'ERR_INPUT', name: 'OciDeltaError' });
    expect(lookAlike instanceof OciDeltaError).toBe(false);
    expect((null as unknown) instanceof OciDeltaError).toBe(false);
    expect(isOciDeltaError('ERR_INPUT')).toBe(false);
  });

  it('the brand is not enumerable: JSON of an error is unchanged', () => {
    const err = new OciDeltaError('ERR_INPUT', 'x', { path: '/a' });
    expect(Object.keys(err).sort()).toEqual(['code', 'details', 'name']);
    expect(Object.getOwnPropertySymbols(err)).toEqual([Symbol.for('ocidelta.error')]);
    expect(JSON.stringify(err)).toBe('{"code":"ERR_INPUT","details":{"path":"/a"},"name":"OciDeltaError"}');
  });
});
