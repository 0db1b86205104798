// Shared Vitest settings: resolve @ocidelta/* packages to their TypeScript sources so tests
// never depend on a stale dist/.
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export const alias = {
  // Subpaths first: an alias also matches `<find>/...`.
  '@ocidelta/core/errors': `${root}packages/core/src/errors.ts`,
  '@ocidelta/core/mender': `${root}packages/core/src/mender/index.ts`,
  '@ocidelta/core': `${root}packages/core/src/index.ts`,
  '@ocidelta/registry': `${root}packages/registry/src/index.ts`,
  '@ocidelta/delta': `${root}packages/delta/src/index.ts`,
};
