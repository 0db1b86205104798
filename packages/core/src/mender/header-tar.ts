/**
 * The header tar of a Mender artifact (`header-info`, `headers/0000/type-info`,
 * `headers/0000/meta-data`): built from writer options, and parsed back (from its decompressed
 * bytes) with the strict schemas of header.ts. Pure functions on in-memory bytes: the header is
 * small.
 */
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { z } from 'zod';
import { OciDeltaError } from '../errors.js';
import { DEFAULT_MAX_ARTIFACT_HEADER_SIZE } from '../limits.js';
import { encodeHeader, padding, readTar, TAR_END } from '../tar/index.js';
import { xzDecompress } from '../xz.js';
import {
  buildHeaderInfo,
  buildMetaData,
  buildTypeInfo,
  type HeaderInfo,
  HeaderInfoSchema,
  parseHeaderJson,
  type TypeInfo,
  TypeInfoSchema,
} from './header.js';
import type { ArtifactCompression, WriteArtifactOptions } from './options.js';

function invalid(path: string, message: string, details: Record<string, unknown> = {}): OciDeltaError {
  return new OciDeltaError('ERR_INVALID_ARTIFACT', `${path}: ${message}`, { path, ...details });
}

/** Read a member body into memory, failing above `limit` bytes. */
export async function readAll(
  body: AsyncIterable<Buffer>,
  limit: number,
  path: string,
  member: string,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += chunk.length;
    if (n > limit) throw invalid(path, `${member} is larger than ${limit} bytes`, { member });
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** Build the header tar (header-info, headers/0000/type-info, headers/0000/meta-data). */
export function buildHeaderTar(options: WriteArtifactOptions): Buffer {
  const members: Array<[string, string]> = [
    ['header-info', buildHeaderInfo(options)],
    ['headers/0000/type-info', buildTypeInfo(options)],
  ];
  const meta = buildMetaData(options.metaData);
  if (meta !== undefined) members.push(['headers/0000/meta-data', meta]);
  const parts: Buffer[] = [];
  for (const [name, text] of members) {
    const body = Buffer.from(text, 'utf8');
    parts.push(encodeHeader({ name, size: body.length, mode: 0o600 }), body, padding(body.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

function headerTooLarge(path: string, member: string, limit: number): OciDeltaError {
  return new OciDeltaError(
    'ERR_INVALID_ARTIFACT',
    `${path}: ${member} unpacks to more than the header limit of ${limit} bytes (a decompression bomb, or raise maxHeaderSize)`,
    { path, member, limit },
  );
}

/**
 * The zstd window a frame asks its decoder to allocate (RFC 8878 3.1.1.1), or undefined when
 * `data` does not start with a zstd frame header.
 */
export function zstdFrameWindow(data: Uint8Array): number | undefined {
  if (data.length < 6 || data[0] !== 0x28 || data[1] !== 0xb5 || data[2] !== 0x2f || data[3] !== 0xfd)
    return undefined;
  const fhd = data[4]!;
  const singleSegment = (fhd >> 5) & 1;
  if (!singleSegment) {
    const wd = data[5]!;
    const base = 2 ** (10 + (wd >> 3));
    return base + (base / 8) * (wd & 7);
  }
  // Single segment: the window is the content size that follows the (optional) dictionary id.
  const fcsFlag = fhd >> 6;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const fcsBytes = [1, 2, 4, 8][fcsFlag]!;
  const at = 5 + dictBytes;
  if (data.length < at + fcsBytes) return undefined;
  let size = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) size = size * 256 + data[at + i]!;
  return fcsBytes === 2 ? size + 256 : size;
}

/**
 * Decompress a stored header member, never producing more than `limit` bytes: gzip stops at
 * the limit (zlib's maxOutputLength), xz counts its output (and bounds its decoder's memory),
 * zstd is refused when its frame asks for a window above the limit and is otherwise decoded
 * block by block with the output counted.
 */
export async function decompressMember(
  c: ArtifactCompression,
  data: Buffer,
  path: string,
  member: string,
  limit: number = DEFAULT_MAX_ARTIFACT_HEADER_SIZE,
): Promise<Buffer> {
  try {
    if (c === 'gzip') return gunzipSync(data, { maxOutputLength: limit });
    if (c === 'xz') return await xzDecompress(data, limit, () => headerTooLarge(path, member, limit));
    if (c === 'zstd') {
      const window = zstdFrameWindow(data);
      if (window !== undefined && window > limit) throw headerTooLarge(path, member, limit);
      const parts: Buffer[] = [];
      let total = 0;
      const decoder = new ZstdDecompress((chunk) => {
        total += chunk.length;
        if (total > limit) throw headerTooLarge(path, member, limit);
        parts.push(Buffer.from(chunk));
      });
      decoder.push(data, true);
      return Buffer.concat(parts);
    }
    if (data.length > limit) throw headerTooLarge(path, member, limit);
    return data;
  } catch (err) {
    if (err instanceof OciDeltaError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw headerTooLarge(path, member, limit);
    throw new OciDeltaError(
      'ERR_INVALID_ARTIFACT',
      `${path}: cannot decompress ${member}: ${(err as Error).message}`,
      { path, member },
      { cause: err },
    );
  }
}

/** The parsed header of a one-payload artifact. */
export interface ParsedHeader {
  headerInfo: HeaderInfo;
  typeInfo: TypeInfo;
  metaData?: Record<string, unknown>;
  scripts: string[];
}

/** Parse a decompressed header tar; ERR_INVALID_ARTIFACT naming what is wrong. */
export async function parseHeaderTar(tar: Buffer, path: string): Promise<ParsedHeader> {
  let headerInfo: HeaderInfo | undefined;
  let typeInfo: TypeInfo | undefined;
  let metaData: Record<string, unknown> | undefined;
  const scripts: string[] = [];
  const where = `${path}: header`;
  for await (const { header, body } of readTar(Readable.from([tar]), where)) {
    const text = (await readAll(body, tar.length, path, header.name)).toString('utf8');
    if (header.name === 'header-info') {
      headerInfo = parseHeaderJson(HeaderInfoSchema, text, 'header-info', path);
    } else if (!headerInfo) {
      throw invalid(path, `header: expected header-info first, found ${header.name}`, {
        member: header.name,
      });
    } else if (header.name.startsWith('scripts/')) {
      scripts.push(header.name.slice('scripts/'.length));
    } else if (header.name === 'headers/0000/type-info') {
      typeInfo = parseHeaderJson(TypeInfoSchema, text, 'type-info', path);
    } else if (header.name === 'headers/0000/meta-data') {
      const meta: unknown =
        text.trim() === '' ? {} : parseHeaderJson(HeaderMetaSchema, text, 'meta-data', path);
      metaData = meta as Record<string, unknown>;
    } else if (/^headers\/\d{4}\//.test(header.name) && !header.name.startsWith('headers/0000/')) {
      throw invalid(path, `header: artifacts with more than one payload are not supported (${header.name})`, {
        member: header.name,
      });
    } else {
      throw invalid(path, `header: unknown member ${header.name}`, { member: header.name });
    }
  }
  if (!headerInfo) throw invalid(path, 'header: header-info is missing');
  if (headerInfo.payloads.length !== 1) {
    throw invalid(path, `header-info lists ${headerInfo.payloads.length} payloads; exactly one is supported`);
  }
  if (!typeInfo) throw invalid(path, 'header: headers/0000/type-info is missing');
  const out: ParsedHeader = { headerInfo, typeInfo, scripts };
  if (metaData !== undefined) out.metaData = metaData;
  return out;
}

const HeaderMetaSchema = z.record(z.string(), z.unknown());
