/**
 * Write a deep-delta image.img: the new image's Docker >= 25 `docker save` archive as core writes
 * it with `layers: 'uncompressed'` (manifest referencing uncompressed layers, digest = diff_id,
 * config unchanged; same index.json / manifest.json / repositories / oci-layout), except that each
 * layer blob is replaced by `<blob>.vcdiff` + `<blob>.source`. Written to a temp name, then renamed.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import {
  addBlobDirs,
  blobEntryName,
  dockerArchiveMetadata,
  type Image,
  OCI_LAYOUT_FILE,
  writeTarFile,
} from '@ocidelta/core';

/** A layer's files in the archive. */
export interface DeltaLayerFile {
  diffId: string;
  deltaFile: string;
  deltaSize: number;
  /** Content of the `.source` file (written with a trailing newline, like `echo`). */
  sourcePath: string;
}

/** Write image.img to `outPath` (temp + rename; nothing is left behind on error). Returns its size. */
export async function writeDeltaArchive(
  outPath: string,
  image: Image,
  layers: readonly DeltaLayerFile[],
  uncompressedSizes: ReadonlyMap<string, number>,
  options: { repoTags?: readonly string[]; signal?: AbortSignal } = {},
): Promise<number> {
  const meta = dockerArchiveMetadata([{ image, repoTags: [...(options.repoTags ?? [])] }], {
    layers: 'uncompressed',
    uncompressedSizes,
  });
  await writeTarFile(outPath, async (tar) => {
    await addBlobDirs(tar);
    for (const layer of layers) {
      const name = blobEntryName(layer.diffId);
      await tar.addStream(`${name}.vcdiff`, createReadStream(layer.deltaFile), {
        size: layer.deltaSize,
        signal: options.signal,
      });
      await tar.addBuffer(`${name}.source`, Buffer.from(`${layer.sourcePath}\n`));
    }
    await tar.addBuffer(blobEntryName(image.configDigest), image.configBytes);
    for (const m of meta.manifests) {
      const name = blobEntryName(m.digest);
      if (!tar.has(name)) await tar.addBuffer(name, m.bytes);
    }
    await tar.addBuffer('index.json', meta.indexJson);
    await tar.addBuffer('manifest.json', meta.manifestJson);
    await tar.addBuffer(OCI_LAYOUT_FILE, meta.ociLayout);
    if (meta.repositories) await tar.addBuffer('repositories', meta.repositories);
  });
  return (await stat(outPath)).size;
}
