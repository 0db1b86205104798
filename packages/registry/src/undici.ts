/**
 * undici, loaded on first use: a command defines its options and prints `--help` without
 * loading the HTTP stack; the first request loads it.
 */
import { createRequire } from 'node:module';

type Undici = typeof import('undici');
let loaded: Undici | undefined;

/** The undici module. */
export function undici(): Undici {
  loaded ??= createRequire(import.meta.url)('undici') as Undici;
  return loaded;
}
