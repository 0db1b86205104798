/**
 * Progress of the app pipeline: the event type `buildAppArtifact` emits, and two renderers for
 * the CLI: redrawn bars on a TTY, plain log lines otherwise (CI logs).
 */

export type AppPhase = 'resolve' | 'pull' | 'delta' | 'image' | 'write' | 'artifact' | 'upload' | 'deploy';

/** One progress or log event of {@link buildAppArtifact}. */
export type AppEvent =
  | {
      type: 'progress';
      phase: AppPhase;
      label: string;
      done: number;
      total?: number;
      unit?: 'bytes' | 'layers';
    }
  | { type: 'log'; level: 'info' | 'warn' | 'debug'; message: string; service?: string };

export type AppEventListener = (event: AppEvent) => void;

export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

function formatAmount(n: number, unit: 'bytes' | 'layers' | undefined): string {
  return unit === 'layers' ? `${n} layer${n === 1 ? '' : 's'}` : formatBytes(n);
}

export interface Renderer {
  onEvent: AppEventListener;
  /** Clear bars (call before printing the summary). */
  finish(): void;
}

type Out = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;

function shouldLog(level: 'info' | 'warn' | 'debug', max: keyof typeof LEVELS): boolean {
  return LEVELS[level] <= LEVELS[max];
}

function logLine(event: Extract<AppEvent, { type: 'log' }>): string {
  const prefix = event.level === 'warn' ? 'warning: ' : '';
  const who = event.service ? `[${event.service}] ` : '';
  return `${prefix}${who}${event.message}`;
}

/**
 * Plain log lines: one line when a phase/label starts and when it completes (and at most every
 * 25% in between), suitable for CI logs.
 */
export function lineRenderer(out: Out, level: keyof typeof LEVELS = 'info'): Renderer {
  const last = new Map<string, number>();
  return {
    onEvent(event) {
      if (event.type === 'log') {
        if (shouldLog(event.level, level)) out.write(`${logLine(event)}\n`);
        return;
      }
      if (!shouldLog('info', level)) return;
      const key = `${event.phase}:${event.label}`;
      const pct = event.total ? Math.floor((event.done / event.total) * 4) : event.done > 0 ? 4 : 0;
      const prev = last.get(key);
      if (prev === pct) return;
      if (prev === undefined || pct === 4 || pct > prev) {
        last.set(key, pct);
        const size = event.total
          ? ` ${formatAmount(event.done, event.unit)}/${formatAmount(event.total, event.unit)}`
          : '';
        if (prev === undefined || pct === 4)
          out.write(`${event.phase}: ${event.label}${size}${pct === 4 ? ' done' : ''}\n`);
      }
    },
    finish() {},
  };
}

/** Redrawn progress bars (one per active phase/label) for an interactive terminal. */
export function ttyRenderer(out: Out, level: keyof typeof LEVELS = 'info'): Renderer {
  const bars = new Map<
    string,
    { phase: AppPhase; label: string; done: number; total?: number; unit?: 'bytes' | 'layers' }
  >();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const width = () => Math.max(40, Math.min(out.columns || 100, 160));
  const clear = () => {
    if (drawn > 0) out.write(`\x1b[${drawn}A\x1b[J`);
    drawn = 0;
  };
  const draw = () => {
    timer = undefined;
    clear();
    const lines: string[] = [];
    for (const b of bars.values()) {
      const w = 24;
      const frac = b.total ? Math.min(1, b.done / b.total) : 0;
      const fill = Math.round(frac * w);
      const bar = b.total ? `[${'#'.repeat(fill)}${'.'.repeat(w - fill)}]` : '[ ... ]';
      const size = b.total ? ` ${formatAmount(b.done, b.unit)}/${formatAmount(b.total, b.unit)}` : '';
      const text = `${b.phase.padEnd(8)} ${bar} ${b.label}${size}`;
      lines.push(text.slice(0, width() - 1));
    }
    if (lines.length) out.write(`${lines.join('\n')}\n`);
    drawn = lines.length;
  };
  const schedule = () => {
    timer ??= setTimeout(draw, 80);
  };
  return {
    onEvent(event) {
      if (event.type === 'log') {
        if (!shouldLog(event.level, level)) return;
        clear();
        out.write(`${logLine(event)}\n`);
        schedule();
        return;
      }
      const key = `${event.phase}:${event.label}`;
      if (event.total !== undefined && event.done >= event.total) bars.delete(key);
      else
        bars.set(key, {
          phase: event.phase,
          label: event.label,
          done: event.done,
          total: event.total,
          unit: event.unit,
        });
      schedule();
    },
    finish() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      bars.clear();
      clear();
    },
  };
}

/** Bars on a TTY, lines otherwise. */
export function rendererFor(out: Out, level: keyof typeof LEVELS = 'info'): Renderer {
  return out.isTTY ? ttyRenderer(out, level) : lineRenderer(out, level);
}
