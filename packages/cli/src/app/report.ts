/**
 * The release report (`ocidelta app --report FILE`): one self-contained HTML page (no scripts,
 * fonts or images fetched; bars are CSS) with the release's previous and next versions, and per
 * service and per layer the full size against what the artifact ships, and what the device
 * reads and rebuilds. The same numbers as `--json`, which the page also embeds. Pure: no I/O.
 */
import { formatIecBytes } from '../kit/size.js';
import type { BuildAppResult } from './build-app-artifact.js';
import type { LayerPlan } from './plan.js';
import { planNote, type ServiceResult } from './results.js';

const CSS = `
:root { --full: #c5cad3; --shipped: #2563eb; --delta: #16a34a; --ink: #1f2937; --mute: #6b7280; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); margin: 24px 32px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.sub, .note { color: var(--mute); }
.totals { display: flex; gap: 32px; margin: 16px 0; }
.totals div b { display: block; font-size: 20px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: middle; }
th { font-weight: 600; color: var(--mute); font-size: 12px; text-transform: uppercase; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.bars { width: 38%; }
.bar { height: 9px; border-radius: 2px; margin: 2px 0; min-width: 2px; }
.bar.full { background: var(--full); }
.bar.shipped { background: var(--shipped); }
.mode { font-weight: 600; }
.mode.delta, .mode.unchanged { color: var(--delta); }
.mode.full { color: var(--shipped); }
.warn { color: #b45309; }
code { font: 12px ui-monospace, monospace; }
.legend span { display: inline-block; width: 12px; height: 9px; border-radius: 2px; margin: 0 4px 0 12px; }
`;

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${Math.max(0, Math.min(100, (part / whole) * 100)).toFixed(2)}%` : '0%';
}

function bars(full: number, shipped: number | undefined, scale: number): string {
  return `<div class="bar full" style="width:${pct(full, scale)}"></div>${
    shipped !== undefined ? `<div class="bar shipped" style="width:${pct(shipped, scale)}"></div>` : ''
  }`;
}

/** What the device does with one layer. */
function deviceAction(s: ServiceResult, l: LayerPlan): string {
  if (s.mode === 'full') return 'loads the layer from the full image';
  if (l.deltaSize === undefined)
    return l.unchanged
      ? 'keeps its layer (self-reference)'
      : 'rebuilds it from a delta (cached: no breakdown)';
  const rebuild = `rebuilds ${formatIecBytes(l.uncompressedSize)}`;
  if (l.unchanged) return `keeps its layer: ${rebuild} by copying <code>${esc(l.source ?? '')}</code>`;
  return `reads ${formatIecBytes(l.sourceBytesRead)} of <code>${esc(l.source ?? '')}</code>, ${rebuild}`;
}

function serviceNote(s: ServiceResult): string {
  const note = planNote(s);
  return note.warning ? `<span class="warn">${esc(note.text)}</span>` : esc(note.text);
}

function layerTable(s: ServiceResult): string {
  const layers = s.layerPlans ?? [];
  const scale = Math.max(1, ...layers.map((l) => Math.max(l.size, l.deltaSize ?? 0)));
  const rows = layers.map((l) => {
    const shipped = s.mode === 'full' ? undefined : l.deltaSize;
    return `<tr data-layer="${l.index}" data-size="${l.size}"${
      l.deltaSize !== undefined ? ` data-delta="${l.deltaSize}"` : ''
    }><td class="num">${l.index}</td><td><code>${esc(l.diffId.slice(0, 19))}</code>${
      l.unchanged ? ' <span class="note">unchanged</span>' : ''
    }</td><td class="bars">${bars(l.size, shipped, scale)}</td><td class="num">${formatIecBytes(l.size)}</td><td class="num">${
      shipped !== undefined ? formatIecBytes(shipped) : '-'
    }</td><td>${deviceAction(s, l)}</td></tr>`;
  });
  return `<h3 id="svc-${esc(s.service)}">${esc(s.service)} <span class="sub">${esc(s.ref)}${
    s.currentRef ? ` (device has ${esc(s.currentRef)})` : ''
  }</span></h3>
<table class="layers"><thead><tr><th>#</th><th>layer (diff_id)</th><th>full vs shipped</th><th>full</th><th>delta</th><th>device</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`;
}

/** The report page of a finished (or dry) run. */
export function renderReport(result: BuildAppResult, options: { generatedAt?: Date } = {}): string {
  const services = result.services;
  const full = services.reduce((n, s) => n + s.fullSize, 0);
  const shipped = services.reduce((n, s) => n + (s.imageSize ?? 0), 0);
  const scale = Math.max(1, ...services.map((s) => Math.max(s.fullSize, s.imageSize ?? 0)));
  const prev = result.previous;
  const versions = prev
    ? `${esc(prev.version ?? '(version unknown)')} &rarr; ${esc(result.version)}`
    : `${esc(result.version)} (first release: every image ships full)`;
  const rows = services.map(
    (s) =>
      `<tr data-service="${esc(s.service)}" data-full="${s.fullSize}"${
        s.imageSize !== undefined ? ` data-shipped="${s.imageSize}"` : ''
      }><td><a href="#svc-${esc(s.service)}">${esc(s.service)}</a></td><td class="mode ${s.mode}">${s.mode}</td><td class="num">${
        s.mode === 'full' ? '-' : `${s.changedLayers ?? '?'}/${s.layers}`
      }</td><td class="bars">${bars(s.fullSize, s.imageSize, scale)}</td><td class="num">${formatIecBytes(s.fullSize)}</td><td class="num">${
        s.imageSize !== undefined ? formatIecBytes(s.imageSize) : '-'
      }</td><td class="num">${s.imageSize !== undefined ? pct(s.imageSize, s.fullSize) : '-'}</td><td>${serviceNote(s)}</td></tr>`,
  );
  const data = JSON.stringify({ ...result, metadata: undefined }).replace(/</g, '\\u003c');
  const generated = (options.generatedAt ?? new Date()).toISOString();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(result.softwareName)} ${esc(result.version)}: ocidelta release report</title>
<style>${CSS}</style></head>
<body>
<h1>${esc(result.softwareName)} ${versions}</h1>
<p class="sub">artifact <b>${esc(result.artifactName)}</b>${
    result.artifactSize !== undefined
      ? ` (${formatIecBytes(result.artifactSize)})`
      : result.dryRun
        ? ' (dry run: not written)'
        : ''
  }${result.dependsOnVersion ? ` &middot; installs only on devices at ${esc(result.dependsOnVersion)}` : ''}${
    prev ? ` &middot; previous release from ${esc(prev.label)}` : ''
  } &middot; device store ${esc(result.metadata.deviceStore)} &middot; ${esc(result.metadata.platform)}</p>
<div class="totals">
<div id="total-full">full images<b>${formatIecBytes(full)}</b></div>
<div id="total-shipped">shipped (image.img)<b>${formatIecBytes(shipped)}</b></div>
<div id="total-ratio">of full<b>${pct(shipped, full)}</b></div>
${result.artifactSize !== undefined ? `<div id="artifact-size">artifact<b>${formatIecBytes(result.artifactSize)}</b></div>` : ''}
</div>
<p class="legend">bars:<span style="background:var(--full)"></span>full image (pulled, compressed)<span style="background:var(--shipped)"></span>shipped in the artifact (before its compression)</p>
<h2>Services</h2>
<table class="services"><thead><tr><th>service</th><th>mode</th><th>changed</th><th>full vs shipped</th><th>full</th><th>shipped</th><th>ratio</th><th>note</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>
${result.warnings.length ? `<h2>Warnings</h2><ul>${result.warnings.map((w) => `<li class="warn">${esc(w)}</li>`).join('')}</ul>` : ''}
<h2>Layers: what the device reads and rebuilds</h2>
${services.map(layerTable).join('\n')}
<p class="note">Generated by ocidelta at ${generated}.</p>
<script type="application/json" id="ocidelta-report">${data}</script>
</body></html>
`;
}
