/**
 * Argument parsing for the `ocidelta artifact` commands, with mender-artifact's rules: values
 * stay strings (`-n 007`, `--software-version 1.0`; cac would turn them into numbers),
 * repeated flags collect into lists, `--no-default-*` are plain booleans, `--flag=value` works.
 * cac still declares the options for `--help`; the action re-parses the raw argv with this.
 */
import { OciDeltaError } from '@ocidelta/core';

export interface FlagSpec {
  long: string;
  short?: string;
  kind: 'string' | 'list' | 'bool';
}

export interface ParsedArgs {
  strings: Record<string, string>;
  lists: Record<string, string[]>;
  bools: Record<string, boolean>;
  positionals: string[];
}

function usage(message: string, flag?: string): OciDeltaError {
  return new OciDeltaError('ERR_INVALID_OPTIONS', message, flag ? { option: flag } : {});
}

/** Parse `argv` (without the command words) against `specs`. Unknown flags are usage errors. */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) {
    byName.set(`--${s.long}`, s);
    if (s.short) byName.set(`-${s.short}`, s);
  }
  const out: ParsedArgs = { strings: {}, lists: {}, bools: {}, positionals: [] };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith('-') || token === '-') {
      out.positionals.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const name = eq > 0 ? token.slice(0, eq) : token;
    const spec = byName.get(name);
    if (!spec) throw usage(`unknown option ${name}`, name);
    if (spec.kind === 'bool') {
      if (eq > 0) {
        const v = token.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw usage(`${name} takes no value (or true/false)`, name);
        out.bools[spec.long] = v === 'true';
      } else out.bools[spec.long] = true;
      continue;
    }
    let value: string;
    if (eq > 0) value = token.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw usage(`${name} needs a value`, name);
      value = next;
      i++;
    }
    if (spec.kind === 'string') {
      out.strings[spec.long] = value;
    } else {
      const list = out.lists[spec.long] ?? [];
      list.push(value);
      out.lists[spec.long] = list;
    }
  }
  return out;
}

/** `value` when it is one of `choices` (undefined when not given); else ERR_INVALID_OPTIONS naming `flag`. */
export function choiceOption<T extends string>(
  value: unknown,
  choices: readonly T[],
  flag: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
  throw usage(`${flag} must be one of ${choices.join(', ')} (got ${String(value)})`, flag);
}
