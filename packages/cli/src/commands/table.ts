/**
 * Which commands exist, without loading them. The build writes `table.json` beside this module
 * (scripts/command-table.mjs: each command's words, summary, module and export, read from the
 * commands themselves); the built CLI then imports a command's module only when it runs, so
 * `--help` and `--version` load no registry, YAML or tar code. From sources (tests) there is no
 * table and every command is loaded.
 */
import { readFile } from 'node:fs/promises';
import type { CommandDef, CommandSource } from '../command.js';

interface TableEntry {
  path: string[];
  summary: string;
  module: string;
  export: string;
}

export async function defaultCommands(): Promise<readonly CommandSource[]> {
  const text = await readFile(new URL('./table.json', import.meta.url), 'utf8').catch(() => undefined);
  if (text === undefined) return (await import('./index.js')).builtinCommands();
  return (JSON.parse(text) as TableEntry[]).map((e) => ({
    path: e.path,
    summary: e.summary,
    load: async () => {
      const mod = (await import(new URL(`./${e.module}`, import.meta.url).href)) as Record<
        string,
        CommandDef
      >;
      const def = mod[e.export];
      if (!def) throw new Error(`command table: ${e.module} has no export ${e.export} (rebuild the CLI)`);
      return def;
    },
  }));
}
