// The release report in a real browser: `ocidelta app --report` on the demo's release 1.1.0
// (deep delta of web, db unchanged), rendered by headless Chromium (Debian package). The
// screenshot must show the bars (both colours, plenty of them), and the rendered DOM must carry
// the same numbers as `--json` for every service and layer.
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findBinary, haveBinaries } from '../../../test-support/binaries.js';
import { countColour, decodePng } from '../../../test-support/png.js';
import type { BuildAppResult } from '../src/app/build-app-artifact.js';
import { runCli } from '../src/cli.js';
import { appCommand } from '../src/commands/app.js';
import { demoCommand } from '../src/commands/demo.js';
import { formatIecBytes } from '../src/kit/size.js';
import { captureIO } from './support.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function chromium(args: string[]): string {
  const bin = findBinary('chromium') ?? 'chromium';
  const r = spawnSync(
    bin,
    ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', ...args],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (r.status !== 0) throw new Error(`chromium failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!haveBinaries('chromium'))('the HTML release report in headless Chromium', () => {
  it('shows bars and the numbers of --json for each service and layer', { timeout: 180_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidelta-report-'));
    dirs.push(dir);
    expect(await runCli(['demo', '--dir', 'work'], captureIO({ cwd: dir }), [demoCommand])).toBe(0);
    const work = join(dir, 'work');
    // The demo's cache has the previous images; without its deltas this run computes the deep
    // delta, so the report has the full layer breakdown.
    await rm(join(work, 'cache', 'deltas'), { recursive: true, force: true });
    const io = captureIO({ cwd: work, env: {} });
    const code = await runCli(
      [
        'app',
        'shop/compose.yaml',
        '-t',
        'demo-device',
        '-p',
        'linux/arm64',
        '-m',
        'shop',
        '--release',
        '-f',
        'web',
        'web-1.1.tar',
        '-f',
        'db',
        'db-1.0.tar',
        '--previous-manifest',
        'previous_artifact.json',
        '--cache-dir',
        'cache',
        '--artifact-filename',
        'report.mender',
        '--json',
        '--report',
        'report.html',
      ],
      io,
      [appCommand],
    );
    expect(io.err()).not.toMatch(/internal error/);
    expect(code).toBe(0);
    const result = JSON.parse(io.out()) as BuildAppResult;
    const page = join(work, 'report.html');
    const html = await readFile(page, 'utf8');
    // Self-contained: nothing to fetch.
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/@import|url\(/);

    const shot = join(dir, 'report.png');
    chromium(['--window-size=1200,1100', `--screenshot=${shot}`, `file://${page}`]);
    const img = decodePng(await readFile(shot));
    expect(img.width).toBe(1200);
    // Bars: the full colour and the shipped colour, each a visible area; the page is not blank.
    expect(countColour(img, '#c5cad3')).toBeGreaterThan(1000);
    // Shipped bars are tiny here (deltas of a few KiB), each at least 2 x 9 px; the legend swatch is
    // 12 x 9 = 108 px: more than that means bars were drawn.
    expect(countColour(img, '#2563eb')).toBeGreaterThan(150);
    const white = countColour(img, '#ffffff', 4);
    expect(white / (img.width * img.height)).toBeLessThan(0.97);

    const dom = chromium(['--dump-dom', `file://${page}`]);
    const web = result.services.find((s) => s.service === 'web');
    const db = result.services.find((s) => s.service === 'db');
    expect(web?.mode).toBe('delta');
    expect(db?.mode).toBe('unchanged');
    for (const s of result.services) {
      const row = new RegExp(
        `<tr data-service="${s.service}" data-full="(\\d+)" data-shipped="(\\d+)">(.*?)</tr>`,
      ).exec(dom);
      expect(row, s.service).not.toBeNull();
      expect(Number(row?.[1])).toBe(s.fullSize);
      expect(Number(row?.[2])).toBe(s.imageSize);
      expect(row?.[3]).toContain(`>${formatIecBytes(s.fullSize)}<`);
      expect(row?.[3]).toContain(`>${formatIecBytes(s.imageSize)}<`);
      // Each layer's row, in this service's section, with its sizes.
      const section = dom.slice(dom.indexOf(`id="svc-${s.service}"`));
      for (const l of s.layerPlans ?? []) {
        const m = new RegExp(
          `<tr data-layer="${l.index}" data-size="(\\d+)"(?: data-delta="(\\d+)")?>(.*?)</tr>`,
        ).exec(section);
        expect(m, `${s.service} layer ${l.index}`).not.toBeNull();
        expect(Number(m?.[1])).toBe(l.size);
        expect(m?.[2] === undefined ? undefined : Number(m[2])).toBe(l.deltaSize);
      }
    }
    // The web delta: the changed app layer reads its current layer and rebuilds the new one.
    const app = web?.layerPlans?.find((l) => !l.unchanged);
    expect(app?.deltaSize).toBeGreaterThan(0);
    expect(dom).toContain(`reads ${formatIecBytes(app?.sourceBytesRead)} of <code>${app?.source}</code>`);
    expect(dom).toContain(`rebuilds ${formatIecBytes(app?.uncompressedSize)}`);
    // Previous and next versions, and the totals.
    expect(dom).toMatch(/<h1>shop 1\.0\.0 → 1\.1\.0<\/h1>/);
    const shipped = result.services.reduce((n, s) => n + (s.imageSize ?? 0), 0);
    expect(dom).toContain(`shipped (image.img)<b>${formatIecBytes(shipped)}</b>`);
    expect(dom).toContain(`artifact<b>${formatIecBytes(result.artifactSize)}</b>`);
  });
});
