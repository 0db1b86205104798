/** The one tar stack: header format, streaming reader and writer, file index and file writer. */

export { READ_CHUNK, type TarEntry, TarIndex } from './file-index.js';
export { type TarStreamOptions, TarWriter, writeTarFile } from './file-writer.js';
export {
  BLOCK,
  cString,
  decodeHeader,
  encodeHeader,
  encodePax,
  fitsUstar,
  type HeaderFields,
  isZeroBlock,
  padding,
  paddingFor,
  parsePax,
  parseTarNumber,
  paxRecordsFor,
  paxSize,
  TAR_END,
  type TarEntryType,
  type TarHeader,
  type WritableEntryType,
} from './format.js';
export { memberHeader, type PackOptions, packTar, type TarBody, type TarMember } from './pack.js';
export { ByteReader, readTar, type TarReadEntry } from './reader.js';
