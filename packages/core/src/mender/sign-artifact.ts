/**
 * Sign an existing artifact, as `mender-artifact sign` does: the artifact is read and checked
 * first (format, checksums; a signature already there is refused unless `force`), then copied
 * member by member with a `manifest.sig` over the exact manifest bytes right after the manifest
 * (replacing an old one). Payloads are streamed; the output is written to a temp name beside it
 * and renamed only when complete (signing in place is a rename over the input).
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { OciDeltaError } from '../errors.js';
import { tempPathFor } from '../fs/atomic.js';
import { DEFAULT_MAX_ARTIFACT_HEADER_SIZE } from '../limits.js';
import { memberHeader, padding, readTar, TAR_END } from '../tar/index.js';
import { readAll } from './header-tar.js';
import { readArtifact } from './reader.js';
import { signManifest } from './sign.js';

export interface SignArtifactOptions {
  /** Re-sign an artifact that already has a signature. */
  force?: boolean;
  signal?: AbortSignal;
}

/** Sign `input` with `privateKeyPem` into `output` (may be `input`). */
export async function signArtifact(
  input: string,
  output: string,
  privateKeyPem: string,
  options: SignArtifactOptions = {},
): Promise<{ path: string; replaced: boolean }> {
  const info = await readArtifact(input);
  if (info.signed && !options.force) {
    throw new OciDeltaError('ERR_ARTIFACT_SIGNATURE', `${input} is already signed (force to sign it again)`, {
      path: input,
    });
  }
  const tmp = tempPathFor(output);
  const fh = await open(tmp, 'wx');
  let position = 0;
  const write = async (buf: Uint8Array) => {
    let off = 0;
    while (off < buf.byteLength) {
      const { bytesWritten } = await fh.write(buf, off, buf.byteLength - off, position);
      off += bytesWritten;
      position += bytesWritten;
    }
  };
  try {
    let signedManifest = false;
    for await (const entry of readTar(createReadStream(input), input)) {
      if (options.signal?.aborted) throw new OciDeltaError('ERR_ABORTED', `signing ${input} was aborted`, {});
      const { name, size } = entry.header;
      if (name === 'manifest.sig') continue; // replaced below
      const meta = {
        mode: entry.header.mode,
        mtime: entry.header.mtime,
        uname: entry.header.uname,
        gname: entry.header.gname,
      };
      if (name === 'manifest') {
        const manifest = await readAll(entry.body, DEFAULT_MAX_ARTIFACT_HEADER_SIZE, input, name);
        const sig = Buffer.from(signManifest(manifest, privateKeyPem), 'utf8');
        for (const block of memberHeader({ name, size: manifest.length, ...meta })) await write(block);
        await write(manifest);
        await write(padding(manifest.length));
        for (const block of memberHeader({ name: 'manifest.sig', size: sig.length, ...meta }))
          await write(block);
        await write(sig);
        await write(padding(sig.length));
        signedManifest = true;
        continue;
      }
      for (const block of memberHeader({ name, size, ...meta })) await write(block);
      for await (const c of entry.body) await write(c);
      await write(padding(size));
    }
    if (!signedManifest) {
      throw new OciDeltaError('ERR_INVALID_ARTIFACT', `${input}: no manifest to sign`, { path: input });
    }
    await write(TAR_END);
    await fh.sync();
    await fh.close();
    await rename(tmp, output);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  return { path: output, replaced: info.signed };
}
