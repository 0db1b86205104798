/**
 * The header tar of a Mender artifact (`header-info`, `headers/0000/type-info`,
 * `headers/0000/meta-data`): built from writer options, and parsed back (from its decompressed
 * bytes) with the strict schemas of header.ts. Pure functions on in-memory bytes: the header is
 * small.
 */
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { z } from 'zod';
import { OciDeltaError } from '../errors.js';
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
import { readTar, TAR_END, tarHeader, tarPadding } from './tar.js';

const HEADER_LIMIT = 64 << 20;

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
    parts.push(tarHeader({ name, size: body.length, mode: 0o600 }), body, tarPadding(body.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

/** Decompress a stored header member. */
export function decompressSync(c: ArtifactCompression, data: Buffer, path: string, member: string): Buffer {
  try {
    if (c === 'gzip') return gunzipSync(data);
    if (c === 'zstd') return Buffer.from(zstdDecompress(data));
    return data;
  } catch (err) {
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
    const text = (await readAll(body, HEADER_LIMIT, path, header.name)).toString('utf8');
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
