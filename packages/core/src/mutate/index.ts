/** New images from existing ones (see mutate.ts) and the overlay source they read from. */
export {
  appendLayers,
  type ImageParts,
  type IndexParts,
  imageFromBlobs,
  indexFromDescriptors,
  type NewLayer,
  type RawConfig,
  replaceLayer,
  rewriteManifest,
  withConfig,
  withLayerDescriptors,
} from './mutate.js';
export { type OverlayBlob, overlaySource } from './overlay-source.js';
