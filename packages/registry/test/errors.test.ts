// Mapping of registry responses (status + Distribution error body) to typed errors, and the
// small header parsers (Link, Content-Range) and URL helpers used by the client.
import { describe, expect, it } from 'vitest';
import { parseContentRange } from '../src/blob-reader.js';
import { errorCodeFor, parseErrorBody, RegistryError, responseError } from '../src/errors.js';
import { pageQuery, parseLinkNext } from '../src/pagination.js';
import { appendQuery } from '../src/upload.js';

const body = (code: string, message = 'msg') =>
  JSON.stringify({ errors: [{ code, message, detail: { x: 1 } }] });

describe('errorCodeFor', () => {
  const cases: Array<[number, string | undefined, string | undefined, string]> = [
    [401, 'UNAUTHORIZED', 'manifest', 'ERR_AUTH'],
    [403, 'DENIED', 'blob', 'ERR_AUTH'],
    [404, 'MANIFEST_UNKNOWN', 'manifest', 'ERR_MANIFEST_UNKNOWN'],
    [404, undefined, 'manifest', 'ERR_MANIFEST_UNKNOWN'],
    [404, 'BLOB_UNKNOWN', 'blob', 'ERR_BLOB_UNKNOWN'],
    [404, undefined, 'blob', 'ERR_BLOB_UNKNOWN'],
    [404, 'BLOB_UPLOAD_UNKNOWN', 'upload', 'ERR_BLOB_UNKNOWN'],
    [400, 'MANIFEST_BLOB_UNKNOWN', 'manifest', 'ERR_BLOB_UNKNOWN'],
    [404, 'NAME_UNKNOWN', 'tags', 'ERR_NAME_UNKNOWN'],
    [404, 'NAME_UNKNOWN', 'manifest', 'ERR_NAME_UNKNOWN'],
    [429, 'TOOMANYREQUESTS', 'blob', 'ERR_TOO_MANY_REQUESTS'],
    [429, undefined, undefined, 'ERR_TOO_MANY_REQUESTS'],
    [400, 'DIGEST_INVALID', 'upload', 'ERR_DIGEST_MISMATCH'],
    [400, 'SIZE_INVALID', 'upload', 'ERR_SIZE_MISMATCH'],
    [400, 'MANIFEST_INVALID', 'manifest', 'ERR_INVALID_MANIFEST'],
    [415, undefined, 'manifest', 'ERR_UNSUPPORTED_MEDIA_TYPE'],
    [405, 'UNSUPPORTED', 'manifest', 'ERR_REGISTRY'],
    [500, undefined, 'blob', 'ERR_REGISTRY'],
    [400, 'NAME_INVALID', 'manifest', 'ERR_REGISTRY'],
  ];
  for (const [status, code, resource, expected] of cases) {
    it(`${status} ${code ?? '(no body)'} on ${resource ?? '?'} -> ${expected}`, () => {
      const entries = code ? parseErrorBody(body(code)) : [];
      expect(errorCodeFor(status, entries, resource as never)).toBe(expected);
    });
  }
});

describe('responseError', () => {
  it('carries ref, url, status, the registry code and message', () => {
    const err = responseError(404, body('MANIFEST_UNKNOWN', 'manifest unknown to registry'), {
      ref: 'localhost:5000/app:1',
      url: 'http://localhost:5000/v2/app/manifests/1',
      method: 'GET',
      resource: 'manifest',
    });
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({
      code: 'ERR_MANIFEST_UNKNOWN',
      status: 404,
      registryCode: 'MANIFEST_UNKNOWN',
      ref: 'localhost:5000/app:1',
      url: 'http://localhost:5000/v2/app/manifests/1',
    });
    expect(err.details).toMatchObject({
      status: 404,
      registryCode: 'MANIFEST_UNKNOWN',
      ref: 'localhost:5000/app:1',
    });
    expect(err.message).toContain('localhost:5000/app:1');
    expect(err.message).toContain('HTTP 404');
    expect(err.message).toContain('manifest unknown to registry');
  });

  it('explains a 405 to DELETE (deletion disabled)', () => {
    const err = responseError(405, body('UNSUPPORTED', 'The operation is unsupported.'), {
      ref: 'r/x:1',
      url: 'http://r/v2/x/manifests/sha256:00',
      method: 'DELETE',
      resource: 'manifest',
    });
    expect(err.code).toBe('ERR_REGISTRY');
    expect(err.registryCode).toBe('UNSUPPORTED');
    expect(err.message).toContain('operation not supported');
    expect(err.message).toContain('deletion may be disabled');
  });

  it('tolerates bodies that are not error documents', () => {
    expect(parseErrorBody('<html>oops</html>')).toEqual([]);
    expect(parseErrorBody('{"errors":"nope"}')).toEqual([]);
    expect(parseErrorBody(undefined)).toEqual([]);
    const err = responseError(502, '<html>', { url: 'http://x/v2/', method: 'GET' });
    expect(err.code).toBe('ERR_REGISTRY');
    expect(err.registryCode).toBeUndefined();
  });
});

describe('parseLinkNext', () => {
  it('finds rel="next" in the forms registries send', () => {
    expect(parseLinkNext('</v2/app/tags/list?n=2&last=b>; rel="next"')).toBe('/v2/app/tags/list?n=2&last=b');
    expect(parseLinkNext('<https://r.example/v2/_catalog?last=x&n=100>; rel=next')).toBe(
      'https://r.example/v2/_catalog?last=x&n=100',
    );
    expect(parseLinkNext('</a>; rel="prev", </b>; rel="next"')).toBe('/b');
    expect(parseLinkNext('</opaque/token/abc==>; title="x"; rel="next last"')).toBe('/opaque/token/abc==');
    expect(parseLinkNext('</a>; rel="prev"')).toBeUndefined();
    expect(parseLinkNext(undefined)).toBeUndefined();
    expect(parseLinkNext('')).toBeUndefined();
  });

  it('builds n/last queries', () => {
    expect(pageQuery({})).toBe('');
    expect(pageQuery({ n: 50, last: 'v1.0' })).toBe('?n=50&last=v1.0');
  });
});

describe('parseContentRange', () => {
  it('parses byte ranges with known or unknown totals', () => {
    expect(parseContentRange('bytes 100-199/1000')).toEqual({ start: 100, end: 199, total: 1000 });
    expect(parseContentRange('bytes 5-9/*')).toEqual({ start: 5, end: 9, total: undefined });
    expect(parseContentRange('bytes */1000')).toBeUndefined();
    expect(parseContentRange('items 1-2/3')).toBeUndefined();
    expect(parseContentRange(undefined)).toBeUndefined();
  });
});

describe('appendQuery', () => {
  it("adds the digest to 2.8's absolute upload Location with ?_state=", () => {
    const loc = 'http://127.0.0.1:5000/v2/app/blobs/uploads/uuid?_state=abc%3D%3D';
    expect(appendQuery(loc, 'digest', 'sha256:00')).toBe(`${loc}&digest=sha256%3A00`);
    expect(appendQuery('http://r/v2/app/blobs/uploads/uuid', 'digest', 'sha256:00')).toBe(
      'http://r/v2/app/blobs/uploads/uuid?digest=sha256%3A00',
    );
    expect(appendQuery('http://r/u?', 'digest', 'd')).toBe('http://r/u?digest=d');
  });
});
