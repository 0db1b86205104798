/**
 * Small pure helpers of the registry HTTP layer: what a failure means (a plain-HTTP answer to
 * TLS, a rejected certificate, an abort), loopback hosts, bounded reads and discards of bodies.
 */
import type { Readable } from 'node:stream';
import type { RequestBody } from './http-types.js';
import { causes } from './retry.js';

const ERROR_BODY_LIMIT = 64 * 1024;

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** A TLS handshake answered in plain HTTP (OpenSSL: "wrong version number", "packet length too long"). */
export function isPlainHttpAnswer(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: string }).code ?? '';
    const message = (e as Error).message ?? '';
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return true;
    if (/wrong version number|packet length too long|http request/i.test(message)) return true;
  }
  return false;
}

export function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Strip the query (may hold signed storage URLs) for logs. */
export function logUrl(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : `${url.slice(0, q)}?...`;
}

/** Read at most `limit` bytes of a body as text, then discard the rest. */
export async function readText(body: Readable, limit = ERROR_BODY_LIMIT): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      const b = chunk as Buffer;
      if (size < limit) chunks.push(b.subarray(0, limit - size));
      size += b.length;
    }
  } catch {
    // a body cut short is still worth showing
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Discard a body so the connection can be reused. */
export function dump(body: Readable): void {
  body.on('error', () => {});
  body.resume();
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  const e = err as { name?: string; code?: string };
  return e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED' || e?.code === 'ABORT_ERR';
}

const CERT_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A TLS handshake that succeeded far enough to see a certificate we reject. */
export function isCertificateError(err: unknown): boolean {
  for (const e of causes(err)) if (typeof e.code === 'string' && CERT_ERROR_CODES.has(e.code)) return true;
  return false;
}

export function replayable(body: RequestBody | undefined): body is string | Uint8Array | undefined {
  return body === undefined || typeof body === 'string' || body instanceof Uint8Array;
}
