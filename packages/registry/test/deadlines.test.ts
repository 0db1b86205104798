// Deadlines against a loopback server that misbehaves on purpose (the fault cases a real
// registry cannot be made to produce): one that never answers, one that stops sending a body,
// and one that trickles a few bytes per connection and stalls. Each ends in a typed ERR_NETWORK
// after a bounded number of attempts instead of hanging (undici's defaults wait 300 s each).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Reference } from '@ocidelta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, retryPolicy } from '../src/index.js';
import { retryDelay } from '../src/retry.js';
import { errorOf, readAll } from './harness/index.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let host: string;
let handler: Handler = () => {};
const seen: { method: string; url: string; range?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      return;
    }
    seen.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const client = () =>
  new RegistryClient({
    useDockerConfig: false,
    retries: { max: 2, baseMs: 5, maxMs: 10 },
    timeouts: { headersMs: 250, bodyIdleMs: 250 },
  });

describe('registry request deadlines', () => {
  it('a server that never answers: each attempt times out, then ERR_NETWORK', async () => {
    seen.length = 0;
    handler = () => {}; // keep the socket open, send nothing
    const c = client();
    try {
      const err = await errorOf(c.getManifest(Reference.parse(`${host}/x/app:1`)));
      expect(err).toMatchObject({ code: 'ERR_NETWORK' });
      expect(seen.filter((r) => r.url.includes('/manifests/'))).toHaveLength(3);
    } finally {
      await c.close();
    }
  });

  it('a body that stops: resumed with Range, and a server that trickles and stalls runs out of retries', async () => {
    seen.length = 0;
    const size = 1 << 20;
    // Every answer sends 1000 bytes from the asked offset, then stalls forever.
    handler = (req, res) => {
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
      res.writeHead(from > 0 ? 206 : 200, {
        'content-length': String(size - from),
        ...(from > 0 ? { 'content-range': `bytes ${from}-${size - 1}/${size}` } : {}),
      });
      res.write(Buffer.alloc(1000));
    };
    const c = client();
    try {
      const digest = `sha256:${'0'.repeat(64)}` as const;
      const err = await errorOf(
        (async () => readAll(await c.getBlob(Reference.parse(`${host}/x/app:1`), { digest, size })))(),
      );
      expect(err).toMatchObject({ code: 'ERR_NETWORK' });
      const gets = seen.filter((r) => r.url.includes('/blobs/'));
      // The first request and `max` resumes, each from where the last one stalled.
      expect(gets.map((g) => g.range)).toEqual([undefined, 'bytes=1000-', 'bytes=2000-']);
    } finally {
      await c.close();
    }
  });

  it('no retry starts after the request time budget', () => {
    const policy = retryPolicy({ max: 10, baseMs: 100, maxMs: 100, maxElapsedMs: 1000 });
    expect(retryDelay(0, policy, undefined, () => 0, 0)).toBe(50);
    expect(retryDelay(1, policy, undefined, () => 0, 990)).toBeUndefined();
    expect(retryDelay(1, policy, 2000, () => 0, 0)).toBeUndefined();
  });
});
