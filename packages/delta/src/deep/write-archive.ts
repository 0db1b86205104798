/**
 * Write a deep-delta image.img: the new image's Docker >= 25 `docker save` archive as core writes
 * it with `layers: 'uncompressed'` (manifest referencing uncompressed layers, digest = diff_id,
 * config unchanged; same index.json / manifest.json / repositories / oci-layout), except that each
 * layer blob is replaced by `<blob>.vcdiff` + `<blob>.source`. Written to a temp name, then renamed.
 * Core's writer writes it; this module only says what a layer's entries are.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { type Image, OciDeltaError, writeDockerArchive } from '@ocidelta/core';

/** A layer's files in the archive. */
export interface DeltaLayerFile {
  diffId: string;
  deltaFile: string;
  deltaSize: number;
  /** Content of the `.source` file (written with a trailing newline, like `echo`). */
  sourcePath: string;
}

/**
 * Write image.img to `outPath` (core's docker-archive writer, temp + rename; nothing is left
 * behind on error): the layer entries are the deltas. Returns its size.
 */
export async function writeDeltaArchive(
  outPath: string,
  image: Image,
  layers: readonly DeltaLayerFile[],
  uncompressedSizes: ReadonlyMap<string, number>,
  options: { repoTags?: readonly string[]; signal?: AbortSignal } = {},
): Promise<number> {
  const byDiffId = new Map(layers.map((l) => [l.diffId, l]));
  await writeDockerArchive(outPath, [{ image, repoTags: [...(options.repoTags ?? [])] }], {
    layers: 'uncompressed',
    uncompressedSizes,
    ...(options.signal ? { signal: options.signal } : {}),
    async writeLayer(tar, layer, name) {
      const delta = byDiffId.get(layer.diffId);
      if (!delta)
        throw new OciDeltaError('ERR_INPUT', `no delta for layer ${layer.diffId}`, { diffId: layer.diffId });
      await tar.addStream(`${name}.vcdiff`, createReadStream(delta.deltaFile), {
        size: delta.deltaSize,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      await tar.addBuffer(`${name}.source`, Buffer.from(`${delta.sourcePath}\n`));
    },
  });
  return (await stat(outPath)).size;
}
