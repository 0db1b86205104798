/**
 * JSON exactly as Go's `encoding/json` Marshal writes it, so the header JSON we write is
 * byte-identical to what `mender-artifact` writes for the same inputs: minified, object keys of
 * maps sorted by their UTF-8 bytes, `<`, `>`, `&`, U+2028 and U+2029 escaped as `\u00XX`, control
 * characters other than `\n`, `\r`, `\t` escaped as `\u00XX`, and `-0` kept as `-0`.
 *
 * Structs (fixed field order) are expressed with {@link GoStruct}: a list of `[key, value]`
 * pairs written in order; plain objects are Go maps and get sorted keys.
 */
import { OciDeltaError } from '../errors.js';

/** An ordered object (a Go struct): fields are written in the given order. */
export class GoStruct {
  readonly fields: ReadonlyArray<readonly [string, unknown]>;
  constructor(fields: ReadonlyArray<readonly [string, unknown]>) {
    this.fields = fields;
  }
}

const HEX = '0123456789abcdef';

function escapeString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) {
      out += `\\u${HEX[(c >> 12) & 15]}${HEX[(c >> 8) & 15]}${HEX[(c >> 4) & 15]}${HEX[c & 15]}`;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      // Go replaces invalid UTF-8 (a lone surrogate cannot be encoded) with U+FFFD.
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        out += s[i]! + s[i + 1]!;
        i++;
      } else {
        out += '\ufffd';
      }
    } else out += s[i];
  }
  return `${out}"`;
}

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function formatNumber(n: number, where: string): string {
  if (!Number.isFinite(n)) {
    throw new OciDeltaError('ERR_INVALID_OPTIONS', `${where}: JSON cannot hold the number ${n}`, { where });
  }
  if (Object.is(n, -0)) return '-0';
  // JavaScript and Go switch to exponent form at the same thresholds (1e-6, 1e21) and write the
  // shortest round-tripping digits; both write `1e+21` and `1e-7`.
  return String(n);
}

/** Marshal `value` like Go's json.Marshal. `where` names the field in error messages. */
export function goMarshal(value: unknown, where = 'value'): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof GoStruct) {
    return `{${value.fields.map(([k, v]) => `${escapeString(k)}:${goMarshal(v, `${where}.${k}`)}`).join(',')}}`;
  }
  switch (typeof value) {
    case 'string':
      return escapeString(value);
    case 'number':
      return formatNumber(value, where);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((v, i) => goMarshal(v, `${where}[${i}]`)).join(',')}]`;
      }
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => compareUtf8(a, b));
      return `{${entries.map(([k, v]) => `${escapeString(k)}:${goMarshal(v, `${where}.${k}`)}`).join(',')}}`;
    }
    default:
      throw new OciDeltaError(
        'ERR_INVALID_OPTIONS',
        `${where}: a ${typeof value} cannot be written as JSON`,
        {
          where,
        },
      );
  }
}
