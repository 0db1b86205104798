/**
 * YAML input (compose files, build specs) parsed one way: merge keys (`<<: *common`) applied as
 * compose does, alias expansion capped (a "billion laughs" document is refused, not expanded),
 * and every parser error, including an unresolved alias, an ERR_INPUT naming file:line:col.
 * Pure: text in, value out. The `yaml` package is loaded on first use, so commands that read no
 * YAML do not pay for loading it.
 */
import type { Alias, Document, LineCounter } from 'yaml';
import { OciDeltaError } from './errors.js';
import { lazyModule } from './lazy-module.js';

/** The `yaml` package, loaded on first use. */
export const yamlModule = lazyModule<typeof import('yaml')>(import.meta.url, 'yaml');

/** Aliases one document may expand (each expansion counts its own aliases too). */
export const MAX_YAML_ALIASES = 100;

export interface ParsedYaml {
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** The document as plain JavaScript values. */
  value: unknown;
}

function yamlError(
  file: string,
  what: string,
  message: string,
  pos?: { line: number; col: number },
): OciDeltaError {
  const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
  return new OciDeltaError('ERR_INPUT', `${where}: invalid YAML in ${what}: ${message.split('\n')[0]}`, {
    path: file,
    ...(pos ? { line: pos.line, column: pos.col } : {}),
  });
}

/** Parse YAML `text`; `file` and `what` ("compose file", "build spec") name it in errors. */
export function parseYaml(text: string, file: string, what: string): ParsedYaml {
  const { LineCounter: Lines, parseDocument } = yamlModule();
  const lineCounter: LineCounter = new Lines();
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  } catch (err) {
    throw yamlError(file, what, (err as Error).message);
  }
  const first = doc.errors[0];
  if (first) throw yamlError(file, what, first.message, lineCounter.linePos(first.pos[0]));
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    // yaml throws ReferenceError for an unresolved or excessive alias, TypeError for bad merges.
    const message = (err as Error).message;
    const excessive = /excessive/i.test(message);
    const at = aliasBlamed(doc, excessive);
    throw yamlError(
      file,
      what,
      excessive ? `${message} (at most ${MAX_YAML_ALIASES} alias expansions)` : message,
      at?.range ? lineCounter.linePos(at.range[0]) : undefined,
    );
  }
  return { doc, lineCounter, value };
}

/** The alias to point at: the first unresolved one, else (for too many) the first one. */
function aliasBlamed(doc: Document.Parsed, excessive: boolean): Alias | undefined {
  let found: Alias | undefined;
  const { visit } = yamlModule();
  visit(doc, {
    Alias(_key, node) {
      if (excessive || node.resolve(doc) === undefined) {
        found = node;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}
