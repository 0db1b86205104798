/** The bytes a writer accepts: a stream, an async iterable of chunks, or one buffer. */
import { Readable } from 'node:stream';

/** Content accepted by blob and file writers. */
export type BlobData = Readable | AsyncIterable<Uint8Array> | Uint8Array;

/** Turn any BlobData into a Readable. */
export function toReadable(data: BlobData): Readable {
  if (data instanceof Readable) return data;
  if (data instanceof Uint8Array)
    return Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
  return Readable.from(data);
}
