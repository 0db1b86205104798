/**
 * Test harness: a loopback HTTP reverse proxy in front of a real registry that injects faults
 * on matching requests: cut the connection after N body bytes, answer a status (429 with
 * Retry-After, 503...) without forwarding, flip one byte of the response body, or stall the
 * body after N bytes with the connection left open, or throttle it. Every
 * request is recorded (method, path, Range, status, fault) for assertions.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export type Fault =
  /** Forward, but destroy the connection after `afterBytes` bytes of the response body. */
  | { kind: 'cut'; afterBytes: number }
  /** Answer this status without forwarding (e.g. 429 + Retry-After, 503). */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Forward, flipping (XOR 0xff) the body byte at `offset`. */
  | { kind: 'corrupt'; offset: number }
  /** Forward `afterBytes` bytes of the body, then send nothing more (the connection stays open). */
  | { kind: 'stall'; afterBytes: number }
  /** Forward the body at about `bytesPerSecond` (a slow link, for progress over time). */
  | { kind: 'throttle'; bytesPerSecond: number };

export interface FaultRule {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** Path (with query) to match: a RegExp, or a substring. */
  path: RegExp | string;
  fault: Fault;
  /** How many matching requests get the fault (default 1; Infinity for all). */
  times?: number;
}

export interface ProxyRequestRecord {
  method: string;
  path: string;
  range?: string;
  authorization: boolean;
  status: number;
  fault?: Fault['kind'];
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` */
  host: string;
  requests: ProxyRequestRecord[];
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  /** Faults not yet used up. */
  pendingFaults(): number;
  stop(): Promise<void>;
}

function matches(rule: FaultRule, method: string, path: string): boolean {
  if (rule.method !== undefined && rule.method.toUpperCase() !== method) return false;
  return typeof rule.path === 'string' ? path.includes(rule.path) : rule.path.test(path);
}

/** Start a proxy forwarding to `target` (e.g. a RunningRegistry's url). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const rules: { rule: FaultRule; left: number }[] = [];
  const requests: ProxyRequestRecord[] = [];
  let selfHost = '';

  const server = createServer((req, res) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const path = req.url ?? '/';
    const entry = rules.find((r) => r.left > 0 && matches(r.rule, method, path));
    if (entry) entry.left--;
    const fault = entry?.rule.fault;
    const record: ProxyRequestRecord = {
      method,
      path,
      range: typeof req.headers.range === 'string' ? req.headers.range : undefined,
      authorization: req.headers.authorization !== undefined,
      status: 0,
      fault: fault?.kind,
    };
    requests.push(record);

    if (fault?.kind === 'status') {
      req.resume();
      req.on('end', () => {
        const code = fault.status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE';
        const body = fault.body ?? JSON.stringify({ errors: [{ code, message: 'injected fault' }] });
        record.status = fault.status;
        res.writeHead(fault.status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...fault.headers,
        });
        res.end(body);
      });
      return;
    }

    const headers: IncomingHttpHeaders = { ...req.headers };
    const up = httpRequest(
      { host: upstream.hostname, port: upstream.port, method, path, headers },
      (upRes) => {
        record.status = upRes.statusCode ?? 0;
        const outHeaders = { ...upRes.headers };
        // The registry builds absolute URLs from the Host header we forward unchanged; rewrite
        // anyway in case it used its own address.
        if (typeof outHeaders.location === 'string') {
          outHeaders.location = outHeaders.location.replace(upstream.host, selfHost);
        }
        res.writeHead(upRes.statusCode ?? 502, outHeaders);
        let seen = 0;
        upRes.on('data', (chunk: Buffer) => {
          let data = chunk;
          if (fault?.kind === 'corrupt' && fault.offset >= seen && fault.offset < seen + chunk.length) {
            data = Buffer.from(chunk);
            data[fault.offset - seen] = (data[fault.offset - seen] as number) ^ 0xff;
          }
          if (fault?.kind === 'stall' && seen + chunk.length >= fault.afterBytes) {
            if (seen < fault.afterBytes) res.write(data.subarray(0, fault.afterBytes - seen));
            seen += chunk.length;
            upRes.destroy();
            return;
          }
          if (fault?.kind === 'cut' && seen + chunk.length >= fault.afterBytes) {
            const part = data.subarray(0, Math.max(0, fault.afterBytes - seen));
            seen += chunk.length;
            upRes.destroy();
            res.write(part, () => res.socket?.destroy());
            return;
          }
          seen += chunk.length;
          res.write(data);
          if (fault?.kind === 'throttle') {
            upRes.pause();
            setTimeout(() => upRes.resume(), (chunk.length / fault.bytesPerSecond) * 1000);
          }
        });
        upRes.on('end', () => {
          if (fault?.kind !== 'stall' || seen < fault.afterBytes) res.end();
        });
        upRes.on('error', () => res.socket?.destroy());
      },
    );
    up.on('error', () => {
      record.status = 502;
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  selfHost = `127.0.0.1:${port}`;
  return {
    url: `http://${selfHost}`,
    host: selfHost,
    requests,
    addFault(rule) {
      rules.push({ rule, left: rule.times ?? 1 });
    },
    clearFaults() {
      rules.length = 0;
    },
    pendingFaults: () => rules.reduce((n, r) => n + (Number.isFinite(r.left) ? r.left : 1), 0),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
