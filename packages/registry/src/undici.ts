/**
 * undici, loaded on first use: a command defines its options and prints `--help` without
 * loading the HTTP stack; the first request loads it.
 */
import { lazyModule } from '@ocidelta/core';

/** The undici module. */
export const undici = lazyModule<typeof import('undici')>(import.meta.url, 'undici');
