/** VCDIFF (RFC 3284) encoder and decoder compatible with stock xdelta3 3.0.x. */
export { type DecodeOptions, decode, decodeFile, decodeWindows } from './decoder.js';
export { type EncodeOptions, encode, encodeFile, MAX_WINDOW_SIZE } from './encoder.js';
export { EFFORTS, type Effort } from './matcher-settings.js';
export { DEFAULT_MAX_SOURCE_SIZE, sharedBuffer } from './source.js';
export {
  DEFAULT_SOURCE_WINDOW,
  DecoderSourceCache,
  type DeviceDecoder,
  type DeviceDecodeStats,
  deviceDecoder,
  SOURCE_ACCESSES,
  SOURCE_CACHE_BLOCKS,
  type SourceAccess,
  type UnreachableCopy,
} from './source-cache.js';
