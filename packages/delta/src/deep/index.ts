/** Deep deltas of images: per-layer VCDIFFs the device's app update module rebuilds with stock xdelta3. */
export { type AppliedLayer, type ApplyDeepDeltaOptions, applyDeepDelta } from './apply.js';
export {
  buildDeepDelta,
  buildDeepDeltaTo,
  type DeepDeltaLayer,
  type DeepDeltaOptions,
  type DeepDeltaProgress,
  type DeepDeltaResult,
  type DeviceCost,
  deviceCost,
} from './deep-delta.js';
export { type LayerPair, type PairableLayer, pairLayers } from './pair-layers.js';
export {
  CURRENT_ORIGINS,
  type CurrentOrigin,
  DEVICE_STORES,
  type DeviceStore,
  type SourceLayer,
  type SourcePathOptions,
  sourceAccessOf,
  sourcePath,
} from './source-path.js';
export { type VerifyDeepDeltaOptions, verifyDeepDelta } from './verify.js';
