/**
 * Streaming tar writer: members in, tar bytes out (an async generator; wrap it in
 * `Readable.from` for a Node stream). Bodies stream through without buffering; a streamed body
 * must have exactly its declared size. Names and link targets that ustar cannot hold, and any
 * records the caller adds (xattrs), go in a pax header before the member.
 */
import { throwIfAborted } from '../abort.js';
import { OciDeltaError } from '../errors.js';
import { encodeHeader, encodePax, type HeaderFields, padding, paxRecordsFor, TAR_END } from './format.js';

/** Bytes of a member: in memory, or streamed (opened only when the member is written). */
export type TarBody = Uint8Array | string | (() => AsyncIterable<Uint8Array>);

export interface TarMember extends Omit<HeaderFields, 'type'> {
  type?: 'file' | 'directory' | 'symlink' | 'link';
  /** Content of a file; a streamed body needs `size`. Absent for other types (and empty files). */
  body?: TarBody;
  /** Extra pax records written with the member (`SCHILY.xattr.<name>` values are raw bytes). */
  pax?: readonly (readonly [key: string, value: Uint8Array | string])[];
}

export interface PackOptions {
  signal?: AbortSignal;
  /** Name written in the ustar header of a member whose real name is in its pax header. */
  longNamePlaceholder?: string;
}

/** Tar bytes of one member's header block(s): the pax header when one is needed, then ustar. */
export function memberHeader(member: Omit<TarMember, 'body'>, options: PackOptions = {}): Buffer[] {
  const { body: _body, pax: extra, ...fields } = member as TarMember;
  const records = paxRecordsFor(fields, extra);
  const out: Buffer[] = [];
  let name = fields.name;
  if (records.length > 0) {
    const data = encodePax(records);
    out.push(encodeHeader({ name: 'PaxHeader', size: data.length, type: 'pax', mtime: fields.mtime }));
    out.push(data, padding(data.length));
    if (options.longNamePlaceholder && records.some(([k]) => k === 'path'))
      name = options.longNamePlaceholder;
  }
  out.push(encodeHeader({ ...fields, name }));
  return out;
}

/** Yield the tar of `members`, then the end-of-archive marker. */
export async function* packTar(
  members: Iterable<TarMember> | AsyncIterable<TarMember>,
  options: PackOptions = {},
): AsyncGenerator<Buffer> {
  for await (const member of members) {
    throwIfAborted(options.signal, 'writing a tar stream');
    const type = member.type ?? 'file';
    const inline =
      typeof member.body === 'string'
        ? Buffer.from(member.body)
        : member.body instanceof Uint8Array
          ? member.body
          : undefined;
    const size = type === 'file' ? (inline?.byteLength ?? member.size ?? 0) : 0;
    if (type === 'file' && typeof member.body === 'function' && member.size === undefined) {
      throw new OciDeltaError(
        'ERR_INVALID_OPTIONS',
        `tar member ${member.name}: a streamed body needs its size`,
        {
          entry: member.name,
        },
      );
    }
    yield* memberHeader({ ...member, type, size }, options);
    if (inline) yield Buffer.from(inline.buffer, inline.byteOffset, inline.byteLength);
    else if (typeof member.body === 'function')
      yield* streamBody(member.name, member.body(), size, options.signal);
    yield padding(size);
  }
  yield TAR_END;
}

async function* streamBody(
  name: string,
  body: AsyncIterable<Uint8Array>,
  size: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  let written = 0;
  for await (const chunk of body) {
    throwIfAborted(signal, `writing tar member ${name}`);
    written += chunk.byteLength;
    if (written > size) break;
    yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  if (written !== size) {
    throw new OciDeltaError(
      'ERR_SIZE_MISMATCH',
      `tar member ${name}: ${written > size ? 'more than' : `got ${written} bytes,`} the declared ${size} bytes`,
      { entry: name, expected: size, ...(written <= size ? { actual: written } : {}) },
    );
  }
}
