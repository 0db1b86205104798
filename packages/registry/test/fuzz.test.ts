// Fuzz targets of @ocidelta/registry: what a hostile registry or auth file controls before any
// blob is verified: WWW-Authenticate challenges, Link pagination, Content-Range, Retry-After,
// and docker config.json auth files (see test-support/fuzz.ts for the property and figures).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzz } from '../../../test-support/fuzz.js';
import { parseContentRange } from '../src/blob-reader.js';
import { parseChallenges } from '../src/challenge.js';
import { CredentialStore } from '../src/credentials.js';
import { parseLinkNext } from '../src/pagination.js';
import { parseRetryAfter } from '../src/retry.js';

let work: string;
let n = 0;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ocidelta-fuzz-registry-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

const text = (...s: string[]) => s.map((x) => Buffer.from(x));

describe('fuzz: registry parsers', () => {
  it('hostile headers and auth files give a result or a typed error', { timeout: 600_000 }, async () => {
    const results = [
      await fuzz({
        name: 'www-authenticate',
        seeds: text(
          'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"',
          'Basic realm="Registry Realm", Bearer realm="https://x/t",error="insufficient_scope"',
          'Bearer realm=https://x/t,service=x',
        ),
        runs: 8000,
        run: async (b) => parseChallenges(b.toString('latin1')),
      }),
      await fuzz({
        name: 'link-header',
        seeds: text(
          '</v2/_catalog?n=100&last=b>; rel="next"',
          '<https://r/v2/a/tags/list?last=x>; rel=next, <x>; rel="prev"',
        ),
        runs: 4000,
        run: async (b) => parseLinkNext(b.toString('latin1')),
      }),
      await fuzz({
        name: 'content-range',
        seeds: text('bytes 100-999/1000', 'bytes 0-0/*'),
        runs: 3000,
        run: async (b) => parseContentRange(b.toString('latin1')),
      }),
      await fuzz({
        name: 'retry-after',
        seeds: text('120', 'Wed, 21 Oct 2026 07:28:00 GMT'),
        runs: 3000,
        run: async (b) => parseRetryAfter(b.toString('latin1'), 0),
      }),
      await fuzz({
        name: 'auth-file',
        seeds: text(
          JSON.stringify({
            auths: { 'reg.example.com': { auth: Buffer.from('alice:s3cr3t').toString('base64') } },
          }),
          JSON.stringify({
            auths: { 'https://index.docker.io/v1/': { username: 'u', password: 'p' } },
            credHelpers: {},
          }),
          JSON.stringify({ auths: { 'reg.example.com': { identitytoken: 'tok' } } }),
        ),
        runs: 3000,
        run: async (b) => {
          const authFile = join(work, `auth-${n++}.json`);
          writeFileSync(authFile, b);
          // No helpers can run: a mutated helper name must not execute anything.
          const store = new CredentialStore(undefined, {
            authFile,
            useDockerConfig: false,
            env: { PATH: '' },
          });
          return store.get('reg.example.com');
        },
      }),
    ];
    expect(results.flatMap((r) => r.failures)).toEqual([]);
  });
});
