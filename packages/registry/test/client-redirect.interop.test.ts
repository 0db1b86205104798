// Blob redirects to a "storage backend": the authenticated registry (htpasswd, behind a proxy
// that answers the blob GET with a 307) sends the client to a second, anonymous registry on
// another origin that holds the same blob. The client must follow the redirect, verify the
// bytes, and not send its Authorization header to the other origin.
import { Reference } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveBinaries } from '../../../test-support/binaries.js';
import { RegistryClient } from '../src/index.js';
import {
  digestOfBytes,
  type FaultProxy,
  pseudoRandom,
  type RunningRegistry,
  readAll,
  startFaultProxy,
  startRegistry,
} from './harness/index.js';

describe.skipIf(!haveBinaries('docker-registry', 'htpasswd'))('RegistryClient blob redirects', () => {
  let authReg: RunningRegistry;
  let storageReg: RunningRegistry;
  let front: FaultProxy;
  let storage: FaultProxy;
  const blob = pseudoRandom(100_000, 'redirect');
  const digest = digestOfBytes(blob);

  beforeAll(async () => {
    [authReg, storageReg] = await Promise.all([
      startRegistry({ auth: 'htpasswd' }),
      startRegistry({ auth: 'none' }),
    ]);
    front = await startFaultProxy(authReg.url);
    storage = await startFaultProxy(storageReg.url);
    const plain = new RegistryClient({ useDockerConfig: false });
    await plain.uploadBlob(Reference.parse(`${storageReg.host}/backend/blobs`), blob, {
      digest,
      size: blob.length,
    });
    await plain.close();
  });
  afterAll(async () => {
    await front?.stop();
    await storage?.stop();
    await Promise.all([authReg?.stop(), storageReg?.stop()]);
  });

  it('follows a 307 to another origin without forwarding Authorization', async () => {
    const client = new RegistryClient({
      credentials: { username: authReg.username, password: authReg.password },
      useDockerConfig: false,
    });
    const repo = Reference.parse(`${front.host}/app/redirected:1`);
    front.addFault({
      method: 'GET',
      path: `/v2/app/redirected/blobs/${digest}`,
      fault: {
        kind: 'status',
        status: 307,
        headers: { location: `${storage.url}/v2/backend/blobs/blobs/${digest}?X-Signature=abc` },
        body: '',
      },
    });
    const got = await readAll(await client.getBlob(repo, { digest, size: blob.length }));
    expect(digestOfBytes(got)).toBe(digest);
    const asked = front.requests.filter((r) => r.path.includes('/blobs/'));
    expect(asked.map((r) => [r.status, r.authorization])).toEqual([[307, true]]);
    const served = storage.requests.filter((r) => r.path.includes('/blobs/'));
    expect(served.map((r) => [r.method, r.status, r.authorization])).toEqual([['GET', 200, false]]);
    await client.close();
  });
});
