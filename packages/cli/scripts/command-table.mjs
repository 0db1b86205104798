// After `tsc`: write dist/commands/table.json, the command table the built CLI dispatches on
// without loading every command (src/commands/table.ts). Read from the built commands
// themselves: which module exports each command of builtinCommands(), and its words and summary.
import { readdir, writeFile } from 'node:fs/promises';

const dir = new URL('../dist/commands/', import.meta.url);
const { builtinCommands } = await import(new URL('index.js', dir).href);
const owners = new Map();
const files = (await readdir(dir)).filter((f) => f.endsWith('.js') && f !== 'index.js' && f !== 'table.js');
for (const file of files) {
  const mod = await import(new URL(file, dir).href);
  for (const [name, value] of Object.entries(mod)) {
    if (value && typeof value === 'object' && Array.isArray(value.path) && typeof value.define === 'function')
      owners.set(value, { module: file, export: name });
  }
}
const table = builtinCommands().map((def) => {
  const owner = owners.get(def);
  if (!owner) throw new Error(`command-table: no module exports the command "${def.path.join(' ')}"`);
  return { path: def.path, summary: def.summary, ...owner };
});
await writeFile(new URL('table.json', dir), `${JSON.stringify(table, null, 1)}\n`);
console.log(`command-table: ${table.length} commands`);
