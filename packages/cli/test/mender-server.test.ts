import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startForwardProxy } from '../../registry/test/harness/index.js';
import { MenderServer } from '../src/app/mender-server.js';

interface Part {
  name: string;
  filename?: string;
  body: Buffer;
}

/** Minimal multipart/form-data parser (independent of the client). */
function parseMultipart(body: Buffer, contentType: string): Part[] {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!m) throw new Error('no boundary');
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts: Part[] = [];
  let pos = body.indexOf(boundary);
  while (pos >= 0) {
    const start = pos + boundary.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    const headers = body.subarray(start + 2, headerEnd).toString();
    const next = body.indexOf(boundary, headerEnd);
    const content = body.subarray(headerEnd + 4, next - 2);
    const name = /name="([^"]*)"/.exec(headers)?.[1] ?? '';
    const filename = /filename="([^"]*)"/.exec(headers)?.[1];
    parts.push({ name, filename, body: content });
    pos = next;
  }
  return parts;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface Recorded {
  method: string;
  url: string;
  auth?: string;
  parts?: Part[];
  json?: unknown;
}

/** A fake Mender management API with scripted status codes. */
async function fakeMender(script: { upload?: number[]; deploy?: number[]; token?: string }) {
  const recorded: Recorded[] = [];
  const uploads = [...(script.upload ?? [201])];
  const deploys = [...(script.deploy ?? [201])];
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization };
    recorded.push(rec);
    if (req.headers.authorization !== `Bearer ${script.token ?? 'pat-123'}`) {
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end('{"error":"Unauthorized","request_id":"r1"}');
      return;
    }
    if (req.url === '/api/management/v1/deployments/artifacts' && req.method === 'POST') {
      rec.parts = parseMultipart(body, req.headers['content-type'] ?? '');
      const status = uploads.length > 1 ? uploads.shift()! : uploads[0]!;
      const errors: Record<number, string> = {
        409: '{"error":"Artifact not unique"}',
        413: '{"error":"artifact too large"}',
        422: '{"error":"unsupported artifact format"}',
        500: '{"error":"internal error"}',
        503: 'busy',
      };
      if (status === 201)
        res.writeHead(201, { location: '/api/management/v1/deployments/artifacts/art-42' }).end();
      else res.writeHead(status, { 'content-type': 'application/json' }).end(errors[status] ?? '');
      return;
    }
    const m = /^\/api\/management\/v1\/deployments\/deployments\/group\/([^/]+)$/.exec(req.url ?? '');
    if (m && req.method === 'POST') {
      rec.json = JSON.parse(body.toString());
      const status = deploys.length > 1 ? deploys.shift()! : deploys[0]!;
      if (status === 201)
        res.writeHead(201, { location: '/api/management/v1/deployments/deployments/dep-7' }).end();
      else res.writeHead(status).end('{"error":"nope"}');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    recorded,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let dir: string;
let file: string;
const content = Buffer.concat([
  Buffer.from('mender-artifact-bytes\r\n--not-a-boundary\r\n'),
  Buffer.alloc(200_000, 3),
]);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidelta-mender-'));
  file = join(dir, 'shop-1.0.mender');
  await writeFile(file, content);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Mender server client (contract against a local fake)', () => {
  it('uploads multipart with the artifact part last and the PAT, then deploys to a group', async () => {
    const srv = await fakeMender({});
    try {
      const client = new MenderServer({ host: srv.url, token: 'pat-123' });
      const progress: number[] = [];
      const up = await client.uploadArtifact(file, { description: 'd', onProgress: (d) => progress.push(d) });
      expect(up).toEqual({ uploaded: true, id: 'art-42' });
      expect(progress.at(-1)).toBe(content.length);
      const rec = srv.recorded[0]!;
      expect(rec.auth).toBe('Bearer pat-123');
      expect(rec.parts!.map((p) => p.name)).toEqual(['size', 'description', 'artifact']);
      expect(rec.parts![0]!.body.toString()).toBe(String(content.length));
      expect(rec.parts!.at(-1)!.filename).toBe('shop-1.0.mender');
      expect(rec.parts!.at(-1)!.body.equals(content)).toBe(true);

      const dep = await client.deployToGroup('field test', 'shop-1.0');
      expect(dep.id).toBe('dep-7');
      expect(srv.recorded[1]!.url).toBe('/api/management/v1/deployments/deployments/group/field%20test');
      expect(srv.recorded[1]!.json).toEqual({ name: 'shop-1.0', artifact_name: 'shop-1.0' });
    } finally {
      await srv.close();
    }
  });

  it('goes through HTTP_PROXY (and not with NO_PROXY naming the host)', async () => {
    const srv = await fakeMender({});
    const proxy = await startForwardProxy();
    try {
      const env = { HTTP_PROXY: proxy.url };
      const client = new MenderServer({ host: srv.url, token: 'pat-123', env });
      expect(await client.uploadArtifact(file, {})).toEqual({ uploaded: true, id: 'art-42' });
      await client.deployToGroup('g', 'shop-1.0');
      await client.close();
      expect(proxy.seen).toEqual([
        `POST ${srv.url}/api/management/v1/deployments/artifacts`,
        `POST ${srv.url}/api/management/v1/deployments/deployments/group/g`,
      ]);
      expect(srv.recorded.at(-2)?.parts?.at(-1)?.body.equals(content)).toBe(true);
      const direct = new MenderServer({
        host: srv.url,
        token: 'pat-123',
        env: { ...env, NO_PROXY: '127.0.0.1' },
      });
      await direct.deployToGroup('g', 'shop-1.0');
      await direct.close();
      expect(proxy.seen.length).toBe(2);
    } finally {
      await proxy.stop();
      await srv.close();
    }
  });

  it('maps 401 to a token error (ERR_MENDER_SERVER)', async () => {
    const srv = await fakeMender({ token: 'other' });
    try {
      const client = new MenderServer({ host: srv.url, token: 'pat-123' });
      await expect(client.uploadArtifact(file)).rejects.toMatchObject({
        code: 'ERR_MENDER_SERVER',
        message: expect.stringMatching(/refused the token \(HTTP 401\).*MENDER_PAT/),
      });
      expect(srv.recorded).toHaveLength(1);
    } finally {
      await srv.close();
    }
  });

  it('409: an error by default, skipped with skipExisting', async () => {
    const srv = await fakeMender({ upload: [409] });
    try {
      const client = new MenderServer({ host: srv.url, token: 'pat-123' });
      await expect(client.uploadArtifact(file)).rejects.toThrowError(
        /already has this artifact.*skip artifacts the server has/,
      );
      expect(await client.uploadArtifact(file, { skipExisting: true })).toEqual({ uploaded: false });
    } finally {
      await srv.close();
    }
  });

  it('413 and 422 carry the server message, without retries', async () => {
    for (const [status, text] of [
      [413, /too large for the Mender server \(HTTP 413\)/],
      [422, /rejected the request \(HTTP 422\): unsupported artifact format/],
    ] as const) {
      const srv = await fakeMender({ upload: [status] });
      try {
        const client = new MenderServer({ host: srv.url, token: 'pat-123', backoffMs: 1 });
        await expect(client.uploadArtifact(file)).rejects.toThrowError(text);
        expect(srv.recorded).toHaveLength(1);
      } finally {
        await srv.close();
      }
    }
  });

  it('retries 5xx and succeeds, re-sending the whole body', async () => {
    const srv = await fakeMender({ upload: [503, 500, 201] });
    try {
      const client = new MenderServer({ host: srv.url, token: 'pat-123', backoffMs: 1 });
      expect((await client.uploadArtifact(file)).uploaded).toBe(true);
      expect(srv.recorded).toHaveLength(3);
      expect(srv.recorded[2]!.parts!.at(-1)!.body.equals(content)).toBe(true);
    } finally {
      await srv.close();
    }
  });

  it('gives up after the bounded attempts with the last status', async () => {
    const srv = await fakeMender({ upload: [500] });
    try {
      const client = new MenderServer({ host: srv.url, token: 'pat-123', backoffMs: 1, attempts: 2 });
      await expect(client.uploadArtifact(file)).rejects.toThrowError(
        /HTTP 500: internal error \(tried 2 times\)/,
      );
      expect(srv.recorded).toHaveLength(2);
    } finally {
      await srv.close();
    }
  });

  it('reports an unreachable server', async () => {
    const srv = await fakeMender({});
    await srv.close();
    const client = new MenderServer({ host: srv.url, token: 'pat-123', backoffMs: 1, attempts: 1 });
    await expect(client.uploadArtifact(file)).rejects.toThrowError(/cannot reach the Mender server/);
  });
});
