/**
 * The one progress renderer of the CLI, fed with the libraries' one event shape (`Progress`):
 * redrawn bars with rate and ETA on an interactive terminal; on a pipe, in CI or with
 * `TERM=dumb`, plain lines: one when an item finishes and a status line every interval
 * (`OCIDELTA_PROGRESS_INTERVAL` seconds, default 10). `NO_COLOR` turns colour off.
 */
import type { Progress } from '@ocidelta/core';
import type { CliIO } from '../command.js';
import { formatIecBytes } from './size.js';

export type ProgressMode = 'bars' | 'lines' | 'off';

type Out = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface ProgressView {
  /** Show an event (throttled; cheap to call per chunk). */
  update(event: Progress): void;
  /** Print a line (above the bars). */
  log(line: string): void;
  /** Clear the bars and print the closing line; call before printing results. */
  finish(): void;
}

export interface ProgressViewOptions {
  /** What the overall line is called (`pull`, `delta image`...). */
  title: string;
  /** Display names of phases (`blob` -> `pull`); others are shown as they are. */
  phaseNames?: Record<string, string>;
  /** Status line interval in lines mode, ms (default from OCIDELTA_PROGRESS_INTERVAL, else 10 s). */
  intervalMs?: number;
  /** Clock (tests). */
  now?: () => number;
  /** Colour on (default: bars mode and no NO_COLOR). */
  color?: boolean;
}

/** `off` for --quiet/--json, `bars` on a terminal (not CI, not TERM=dumb), else `lines`. */
export function progressMode(io: CliIO, opts: { quiet?: boolean; json?: boolean } = {}): ProgressMode {
  if (opts.quiet || opts.json) return 'off';
  const env = io.env;
  if (
    !io.stderr.isTTY ||
    env.TERM === 'dumb' ||
    (env.CI !== undefined && env.CI !== '' && env.CI !== 'false')
  )
    return 'lines';
  return 'bars';
}

/** Progress on `io.stderr` in the mode the terminal, `--quiet` and `--json` call for. */
export function progressFor(
  io: CliIO,
  opts: { quiet?: boolean; json?: boolean },
  options: ProgressViewOptions,
): ProgressView | undefined {
  const mode = progressMode(io, opts);
  if (mode === 'off') return undefined;
  const interval = Number(io.env.OCIDELTA_PROGRESS_INTERVAL);
  return progressView(io.stderr, mode, {
    ...(Number.isFinite(interval) && interval > 0 ? { intervalMs: interval * 1000 } : {}),
    color: mode === 'bars' && !io.env.NO_COLOR,
    ...options,
  });
}

/** Display names of the registry transfers' phases (`blob` is bytes moving). */
export const TRANSFER_PHASES: Record<string, string> = {
  blob: 'blob',
  skip: 'blob',
  mount: 'blob',
  manifest: 'manifest',
};

const RATE_WINDOW_MS = 5000;
const REDRAW_MS = 100;
const BAR = 24;

interface Track {
  phase: string;
  item: string;
  done: number;
  total: number | undefined;
  unit: 'bytes' | 'items';
  samples: [number, number][];
}

/** A digest as docker shows it on a progress bar: `sha256:` and 12 hex digits. */
function shortDigest(item: string): string {
  return /^sha256:[0-9a-f]{64}$/.test(item) ? item.slice(0, 19) : item;
}

function amount(n: number, unit: 'bytes' | 'items'): string {
  return unit === 'items' ? String(n) : formatIecBytes(n);
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Rate (units per second) over the samples' window, once it spans long enough to mean something. */
function rateOf(samples: [number, number][]): number | undefined {
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || last[0] - first[0] < 250) return undefined;
  return ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
}

function sample(t: Track, now: number): void {
  t.samples.push([now, t.done]);
  while (t.samples.length > 2 && now - (t.samples[0] as [number, number])[0] > RATE_WINDOW_MS)
    t.samples.shift();
}

/** `12.0 MiB/40.0 MiB 30% 5.10 MiB/s ETA 6s` (parts that are known). */
function figures(t: Track): string {
  const parts = [
    t.total !== undefined ? `${amount(t.done, t.unit)}/${amount(t.total, t.unit)}` : amount(t.done, t.unit),
  ];
  if (t.total) parts.push(`${Math.floor((Math.min(t.done, t.total) / t.total) * 100)}%`);
  const rate = rateOf(t.samples);
  if (rate !== undefined && t.unit === 'bytes') parts.push(`${formatIecBytes(Math.round(rate))}/s`);
  if (rate && t.total !== undefined && t.done < t.total)
    parts.push(`ETA ${duration(((t.total - t.done) / rate) * 1000)}`);
  return parts.join(' ');
}

/** Record `event` on its item's track (created on first sight unless already finished). */
function updateTrack(
  items: Map<string, Track>,
  key: string,
  event: Parameters<ProgressView['update']>[0],
  t: number,
  finished: boolean,
): void {
  let track = items.get(key);
  if (!track && !finished) {
    track = {
      phase: event.phase,
      item: event.item ?? '',
      done: 0,
      total: undefined,
      unit: event.unit ?? 'bytes',
      samples: [[t, 0]],
    };
    items.set(key, track);
  }
  if (!track) return;
  track.done = event.done;
  track.total = event.total;
  sample(track, t);
}

/** `NAME     [####....] LABEL FIGURES`, cut to `width` (colour codes not counted). */
function barLine(name: string, t: Track, label: string, width: number, color: boolean): string {
  const paint = (text: string) => (color ? `\x1b[36m${text}\x1b[39m` : text);
  const fill = t.total ? Math.round(Math.min(1, t.done / t.total) * BAR) : 0;
  const bar = t.total ? `[${paint('#'.repeat(fill))}${'.'.repeat(BAR - fill)}]` : `[${' '.repeat(BAR)}]`;
  const head = `${name.padEnd(8)} `;
  const tail = ` ${label ? `${label} ` : ''}${figures(t)}`;
  const room = width - head.length - (BAR + 2);
  return `${head}${bar}${tail.length > room ? `${tail.slice(0, Math.max(0, room - 1))}~` : tail}`;
}

/** What a finished item's line says: skipped, mounted, its size, or done. */
function finishedText(phase: string, unit: string, done: number): string {
  if (phase === 'skip') return 'already present';
  if (phase === 'mount') return 'mounted';
  return unit === 'bytes' ? formatIecBytes(done) : 'done';
}

/** A renderer writing to `out` in `mode` (see {@link progressFor} for choosing it). */
export function progressView(out: Out, mode: 'bars' | 'lines', options: ProgressViewOptions): ProgressView {
  const now = options.now ?? Date.now;
  const started = now();
  const interval = options.intervalMs ?? 10_000;
  const names = options.phaseNames ?? {};
  const items = new Map<string, Track>();
  const overall: Track = {
    phase: options.title,
    item: '',
    done: 0,
    total: undefined,
    unit: 'bytes',
    samples: [],
  };
  let hasOverall = false;
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  let lastStatus = started;
  const phaseName = (phase: string) => names[phase] ?? phase;
  const line = (name: string, t: Track, label: string) =>
    barLine(name, t, label, Math.max(40, Math.min(out.columns || 100, 200)) - 1, options.color === true);

  const clear = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A\x1b[J`);
    drawn = 0;
  };
  const draw = () => {
    timer = undefined;
    clear();
    const lines: string[] = [];
    for (const t of items.values()) lines.push(line(phaseName(t.phase), t, shortDigest(t.item)));
    if (hasOverall) lines.push(line(options.title, overall, ''));
    if (lines.length) out.write(`${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const schedule = () => {
    timer ??= setTimeout(draw, REDRAW_MS);
  };
  /** `; source current layer 0` (what is running), or `; 5 active` when that gets long. */
  const activeList = () => {
    if (items.size === 0) return '';
    if (items.size > 2) return `; ${items.size} active`;
    return `; ${[...items.values()].map((i) => `${phaseName(i.phase)} ${i.item}`.trim()).join(', ')}`;
  };
  const status = (t: number) => {
    lastStatus = t;
    if (hasOverall) {
      out.write(`${options.title}: ${figures(overall)}${activeList()}\n`);
      return;
    }
    for (const i of items.values()) out.write(`${phaseName(i.phase)}: ${i.item} ${figures(i)}\n`);
  };

  return {
    update(event) {
      const t = now();
      const unit = event.unit ?? 'bytes';
      if (event.overall) {
        hasOverall = true;
        Object.assign(overall, { done: event.overall.done, total: event.overall.total });
        overall.unit = event.overall.unit ?? 'bytes';
        sample(overall, t);
      }
      const key = `${event.phase}\0${event.item ?? ''}`;
      const finished = event.total !== undefined && event.done >= event.total;
      updateTrack(items, key, event, t, finished);
      if (finished) {
        items.delete(key);
        if (mode === 'lines' && event.item !== undefined)
          out.write(
            `${phaseName(event.phase)}: ${event.item} ${finishedText(event.phase, unit, event.done)}\n`,
          );
      }
      if (mode === 'bars') schedule();
      else if (t - lastStatus >= interval) status(t);
    },
    log(line) {
      if (mode === 'bars') {
        clear();
        out.write(`${line}\n`);
        schedule();
      } else out.write(`${line}\n`);
    },
    finish() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      clear();
      items.clear();
      if (hasOverall && overall.done > 0) {
        const ms = now() - started;
        const rate =
          ms > 0 && overall.unit === 'bytes'
            ? `, ${formatIecBytes(Math.round((overall.done * 1000) / ms))}/s`
            : '';
        out.write(`${options.title}: ${amount(overall.done, overall.unit)} in ${duration(ms)}${rate}\n`);
      }
    },
  };
}

/**
 * Run `work` with a progress listener on stderr (none with --quiet/--json), finishing the view
 * (bars cleared, closing line printed) before the caller prints its result.
 */
export async function withProgress<T>(
  io: CliIO,
  opts: { quiet?: boolean; json?: boolean },
  options: ProgressViewOptions,
  work: (onProgress: ((event: Progress) => void) | undefined) => Promise<T>,
): Promise<T> {
  const view = progressFor(io, opts, options);
  try {
    return await work(view ? (event) => view.update(event) : undefined);
  } finally {
    view?.finish();
  }
}
