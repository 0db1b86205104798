/**
 * The `manifest` member of a Mender artifact: one `<sha256 hex>  <path>\n` line per payload file
 * (`data/0000/<name>`), then the stored header member, then `version`. Pure format functions.
 */
import { OciDeltaError } from '../errors.js';

export interface ArtifactManifestEntry {
  /** Path in the manifest: `data/0000/<name>`, `header.tar<ext>` or `version`. */
  path: string;
  /** Lowercase hex sha256. */
  sha256: string;
}

/** Format manifest lines in the given order. */
export function formatArtifactManifest(entries: readonly ArtifactManifestEntry[]): string {
  return entries.map((e) => `${e.sha256}  ${e.path}\n`).join('');
}

const LINE = /^([a-f0-9]{64}) {2}(\S+)$/;

/** Parse a manifest; ERR_INVALID_ARTIFACT on a malformed line or a duplicate path. */
export function parseArtifactManifest(text: string, where: string): ArtifactManifestEntry[] {
  const entries: ArtifactManifestEntry[] = [];
  const seen = new Set<string>();
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const [i, line] of lines.entries()) {
    const m = LINE.exec(line);
    if (!m) {
      throw new OciDeltaError(
        'ERR_INVALID_ARTIFACT',
        `${where}: malformed manifest line ${i + 1}: "${line}"`,
        {
          path: where,
          line: i + 1,
        },
      );
    }
    const path = m[2]!;
    if (seen.has(path)) {
      throw new OciDeltaError('ERR_INVALID_ARTIFACT', `${where}: manifest lists ${path} twice`, {
        path: where,
        member: path,
      });
    }
    seen.add(path);
    entries.push({ path, sha256: m[1]! });
  }
  return entries;
}
