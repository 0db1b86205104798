#!/usr/bin/env node
// npm/pnpm pack lifecycle for a workspace package (run in the package directory):
//   prepack:  copy the repository's LICENSE in, and pin `workspace:` dependencies to the
//             versions of the sibling packages (`^x.y.z`), so plain `npm pack` makes a tarball
//             `npm install` accepts; the original package.json is kept beside it.
//   postpack: put the original package.json back and remove the copied LICENSE.
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';

const mode = process.argv[2];
const pkgDir = process.cwd();
const root = resolve(pkgDir, '../..');
const manifest = join(pkgDir, 'package.json');
const backup = join(pkgDir, '.package.json.prepack');

/** name -> version of every workspace package. */
function workspaceVersions() {
  const out = new Map();
  for (const dir of readdirSync(join(root, 'packages'))) {
    const file = join(root, 'packages', dir, 'package.json');
    if (!existsSync(file)) continue;
    const { name, version } = JSON.parse(readFileSync(file, 'utf8'));
    out.set(name, version);
  }
  return out;
}

if (mode === 'prepack') {
  if (existsSync(backup))
    throw new Error(`${backup} exists: a previous pack did not finish; restore it first`);
  const text = readFileSync(manifest, 'utf8');
  const pkg = JSON.parse(text);
  const versions = workspaceVersions();
  for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
    for (const [dep, range] of Object.entries(pkg[field] ?? {})) {
      if (!String(range).startsWith('workspace:')) continue;
      const version = versions.get(dep);
      if (!version) throw new Error(`${dep}: not a package of this workspace`);
      const spec = String(range).slice('workspace:'.length);
      pkg[field][dep] = spec === '*' || spec === '^' ? `^${version}` : spec === '~' ? `~${version}` : spec;
    }
  }
  writeFileSync(backup, text);
  // Replaced atomically: tools (and tests) may read package.json while a pack runs.
  writeFileSync(`${manifest}.tmp`, `${JSON.stringify(pkg, null, 2)}\n`);
  renameSync(`${manifest}.tmp`, manifest);
  copyFileSync(join(root, 'LICENSE'), join(pkgDir, 'LICENSE'));
  // Source maps would point at sources the tarball does not ship (builds make none; old ones go).
  const dist = join(pkgDir, 'dist');
  if (!existsSync(join(dist, 'index.js'))) throw new Error(`${dist} is not built: run the build first`);
  for (const file of readdirSync(dist, { recursive: true })) {
    if (String(file).endsWith('.map')) rmSync(join(dist, String(file)));
  }
} else if (mode === 'postpack') {
  if (existsSync(backup)) renameSync(backup, manifest); // atomic, like the rewrite
  rmSync(join(pkgDir, 'LICENSE'), { force: true });
} else {
  throw new Error('usage: pack-manifest.mjs prepack|postpack');
}
