/**
 * The compose file: parse the YAML (`yaml`), validate the part ocidelta needs with zod
 * (`services.<name>.image`), and report errors that name the file and the service.
 */
import {
  assertSafeFileName,
  MAX_METADATA_FILE_SIZE,
  OciDeltaError,
  parseYaml,
  readFileLimited,
} from '@ocidelta/core';
import { z } from 'zod';

/** One service of the compose file, as ocidelta sees it. */
export interface ComposeService {
  name: string;
  /** The image reference exactly as written in the compose file. */
  image: string;
}

export interface ComposeFile {
  /** Where it was read from (for messages), or a label such as `git:<rev>:<path>`. */
  path: string;
  /** Services sorted by name. */
  services: ComposeService[];
  /** The raw bytes, shipped unchanged in manifests.tar.gz. */
  bytes: Buffer;
}

const Service = z.looseObject({ image: z.string().min(1) });
const Compose = z.looseObject({
  services: z.record(z.string(), z.unknown()),
});

/** Parse compose YAML bytes; `path` only labels errors. Pure: no I/O. */
export function parseCompose(bytes: Buffer | string, path: string): ComposeFile {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
  const { value } = parseYaml(text, path, 'compose file');
  const top = Compose.safeParse(value);
  if (!top.success) {
    throw new OciDeltaError(
      'ERR_INPUT',
      `compose file ${path} has no "services" mapping (expected services.<name>.image)`,
      { path },
    );
  }
  const services: ComposeService[] = [];
  for (const [name, raw] of Object.entries(top.data.services)) {
    const parsed = Service.safeParse(raw);
    if (!parsed.success) {
      throw new OciDeltaError(
        'ERR_INPUT',
        `service "${name}" in compose file ${path} has no "image" (a non-empty string is required; ocidelta does not build images)`,
        { path, service: name },
      );
    }
    assertSafeFileName(name, `service name in compose file ${path}`, { path, service: name });
    services.push({ name, image: parsed.data.image.trim() });
  }
  if (services.length === 0) {
    throw new OciDeltaError('ERR_INPUT', `compose file ${path} defines no services`, { path });
  }
  services.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { path, services, bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes };
}

/** Read and parse a compose file from disk. */
export async function readCompose(path: string): Promise<ComposeFile> {
  let bytes: Buffer;
  try {
    bytes = await readFileLimited(path, MAX_METADATA_FILE_SIZE, 'compose file');
  } catch (err) {
    if (err instanceof OciDeltaError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new OciDeltaError(
      'ERR_INPUT',
      code === 'ENOENT' ? `compose file not found: ${path}` : `cannot read compose file ${path}: ${code}`,
      { path },
      { cause: err },
    );
  }
  return parseCompose(bytes, path);
}

/**
 * The compose bytes with some services' `image` replaced (for `--service-image` /
 * `--service-file` overrides), keeping comments and layout; unchanged bytes when nothing differs.
 */
export function rewriteImages(compose: ComposeFile, images: ReadonlyMap<string, string>): Buffer {
  const changed = compose.services.filter((s) => images.has(s.name) && images.get(s.name) !== s.image);
  if (changed.length === 0) return compose.bytes;
  const { doc } = parseYaml(compose.bytes.toString('utf8'), compose.path, 'compose file');
  for (const s of changed) doc.setIn(['services', s.name, 'image'], images.get(s.name));
  return Buffer.from(doc.toString(), 'utf8');
}
