// Start-up of the built CLI: `--version`, `--help` and a group's help come from the command table
// (dist/commands/table.json) and load no registry, schema, YAML or tar code; a command loads
// its own modules when it runs. Every module the process loads is recorded by a Node loader
// hook; the same help text comes out as from the sources. The CPU time against `node -e 0` is
// measured by `pnpm bench startup`, not here.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { captureIO } from './support.js';

const bin = join(__dirname, '../dist/bin.js');
const built = existsSync(bin) && existsSync(join(__dirname, '../dist/commands/table.json'));
const HEAVY = ['undici', 'zod', 'yaml'];
/** Core's tar stack, recorded as a pseudo-package. */
const TAR_CODE = /\/core\/dist\/tar\//;

describe('start-up of the built CLI', () => {
  let dir: string;
  let register: string;
  beforeAll(async () => {
    if (!built) {
      if (process.env.CI)
        throw new Error(`${bin} or its command table missing: the test command builds first`);
      console.warn(`SKIP start-up tests: ${bin} not built (pnpm build)`);
    }
    dir = await mkdtemp(join(tmpdir(), 'ocidelta-startup-'));
    // The load hook runs in Node's loader thread: it appends every module URL to RECORD_FILE.
    await writeFile(
      join(dir, 'hooks.mjs'),
      "import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  appendFileSync(process.env.RECORD_FILE, url + '\\n');\n  return next(url, context);\n}\n",
    );
    register = join(dir, 'register.mjs');
    await writeFile(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
    );
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Run the built CLI; returns its stdout and the packages whose modules it loaded. */
  async function loaded(args: string[]): Promise<{ out: string; packages: Set<string> }> {
    const record = join(dir, `record-${args.join('_').replace(/\W/g, '')}.txt`);
    await writeFile(record, '');
    const out = execFileSync(process.execPath, ['--import', pathToFileURL(register).href, bin, ...args], {
      env: { ...process.env, RECORD_FILE: record },
      encoding: 'utf8',
    });
    const urls = (await readFile(record, 'utf8')).split('\n').filter(Boolean);
    const packages = new Set(
      urls.flatMap((u) => {
        const m = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)\//.exec(u);
        return m?.[1] ? [m[1]] : [];
      }),
    );
    if (urls.some((u) => TAR_CODE.test(u))) packages.add('core tar stack');
    return { out, packages };
  }

  it.skipIf(!built)(
    '--version, --help and group help load none of undici, zod, yaml and the tar code',
    async () => {
      for (const args of [['--version'], ['--help'], ['delta'], ['help', 'artifact']]) {
        const { packages } = await loaded(args.concat(args[0] === 'delta' ? ['--help'] : []));
        expect(
          [...HEAVY, 'core tar stack'].filter((p) => packages.has(p)),
          args.join(' '),
        ).toEqual([]);
      }
      // The recorder sees them when a command needs them: `pull --help` loads core (zod), but
      // not undici, which loads with the first request.
      const pull = await loaded(['pull', '--help']);
      expect(pull.packages.has('zod')).toBe(true);
      expect(pull.packages.has('undici')).toBe(false);
    },
  );

  it.skipIf(!built)('the table gives the same help as the sources, and its commands run', async () => {
    const fromSources = captureIO();
    expect(await runCli(['--help'], fromSources)).toBe(0);
    expect((await loaded(['--help'])).out).toBe(fromSources.out());
    const tags = spawnSync(process.execPath, [bin, 'tags', 'localhost:1/x:1'], { encoding: 'utf8' });
    expect(tags.status).toBe(1);
    expect(tags.stderr).toContain('tags lists a repository');
    const completion = spawnSync(process.execPath, [bin, 'completion', 'bash'], { encoding: 'utf8' });
    expect(completion.status).toBe(0);
    expect(completion.stdout).toContain("'mender-artifact write module-image'");
  });
});
