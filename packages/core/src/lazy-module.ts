/**
 * A CommonJS package loaded on first use instead of at import: commands that never need it
 * (`--help`, `--version`, a command that reads no YAML or makes no request) do not pay for
 * loading it.
 */
import { createRequire } from 'node:module';

/**
 * `specifier`, resolved from `base` (the caller's `import.meta.url`, so its own dependencies),
 * required the first time the returned function is called and the same module after.
 */
export function lazyModule<T>(base: string, specifier: string): () => T {
  let loaded: T | undefined;
  return () => {
    loaded ??= createRequire(base)(specifier) as T;
    return loaded;
  };
}
