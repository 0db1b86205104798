import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { appRenderer } from '../src/app/progress.js';
import { progressMode, progressView, TRANSFER_PHASES } from '../src/kit/progress.js';
import { formatIecBytes } from '../src/kit/size.js';

function collect(tty = false) {
  const out = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  out.isTTY = tty;
  out.columns = 160;
  let text = '';
  out.on('data', (c: Buffer) => {
    text += c.toString();
  });
  return { out, text: () => text };
}

/** A clock the test moves. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const MiB = 1024 * 1024;
const io = (env: NodeJS.ProcessEnv, tty: boolean) => ({
  stdout: new PassThrough(),
  stderr: Object.assign(new PassThrough(), { isTTY: tty }),
  env,
  cwd: '/',
});

describe('progress', () => {
  it('formats sizes', () => {
    expect(formatIecBytes(512)).toBe('512 B');
    expect(formatIecBytes(1536)).toBe('1.50 KiB');
    expect(formatIecBytes(5 * 1024 ** 3)).toBe('5.00 GiB');
  });

  it('picks bars only on a terminal outside CI and TERM=dumb; off for --quiet and --json', () => {
    expect(progressMode(io({}, true))).toBe('bars');
    expect(progressMode(io({}, false))).toBe('lines');
    expect(progressMode(io({ CI: 'true' }, true))).toBe('lines');
    expect(progressMode(io({ TERM: 'dumb' }, true))).toBe('lines');
    expect(progressMode(io({ CI: 'false' }, true))).toBe('bars');
    expect(progressMode(io({}, true), { quiet: true })).toBe('off');
    expect(progressMode(io({}, false), { json: true })).toBe('off');
  });

  it('lines: a status line with rate and ETA every interval, a line per finished item, a closing line', () => {
    const { out, text } = collect();
    const c = clock();
    const view = progressView(out, 'lines', {
      title: 'pull',
      phaseNames: TRANSFER_PHASES,
      intervalMs: 10_000,
      now: c.now,
    });
    const total = 100 * MiB;
    const overall = (done: number) => ({ done, total });
    view.update({ phase: 'blob', item: 'sha256:aaa', done: 0, total: 60 * MiB, overall: overall(0) });
    view.update({
      phase: 'skip',
      item: 'sha256:bbb',
      done: 40 * MiB,
      total: 40 * MiB,
      overall: overall(40 * MiB),
    });
    // 10 MiB/s for 3 s: no status line yet (interval 10 s).
    for (let s = 1; s <= 3; s++) {
      c.advance(1000);
      view.update({
        phase: 'blob',
        item: 'sha256:aaa',
        done: s * 10 * MiB,
        total: 60 * MiB,
        overall: overall(40 * MiB + s * 10 * MiB),
      });
    }
    expect(text()).toBe('blob: sha256:bbb already present\n');
    c.advance(7000);
    view.update({
      phase: 'blob',
      item: 'sha256:aaa',
      done: 40 * MiB,
      total: 60 * MiB,
      overall: overall(80 * MiB),
    });
    const status = text().split('\n')[1];
    // 80 of 100 MiB; the rate window keeps the last sample older than 5 s (t=3 s, 70 MiB):
    // 10 MiB in 7 s = 1.43 MiB/s, so 20 MiB to go takes 14 s.
    expect(status).toBe('pull: 80.0 MiB/100.0 MiB 80% 1.43 MiB/s ETA 14s; blob sha256:aaa');
    c.advance(2000);
    view.update({
      phase: 'blob',
      item: 'sha256:aaa',
      done: 60 * MiB,
      total: 60 * MiB,
      overall: overall(100 * MiB),
    });
    view.finish();
    expect(text().split('\n').slice(2)).toEqual([
      'blob: sha256:aaa 60.0 MiB',
      'pull: 100.0 MiB in 12s, 8.33 MiB/s',
      '',
    ]);
  });

  it('lines without an overall total: each active item on the status line', () => {
    const { out, text } = collect();
    const c = clock();
    const view = progressView(out, 'lines', {
      title: 'delta',
      intervalMs: 1000,
      now: c.now,
      phaseNames: { encode: 'encode' },
    });
    view.update({ phase: 'encode', item: 'layer 1', done: 0 });
    c.advance(1500);
    view.update({ phase: 'encode', item: 'layer 1', done: 3 * MiB });
    expect(text()).toBe('encode: layer 1 3.00 MiB 2.00 MiB/s\n');
  });

  it('bars: redrawn in place with rate and ETA, coloured unless told not to, cleared at the end', async () => {
    for (const color of [true, false]) {
      const { out, text } = collect(true);
      const c = clock();
      const view = progressView(out, 'bars', { title: 'push', now: c.now, color });
      view.update({
        phase: 'blob',
        item: 'sha256:ccc',
        done: 0,
        total: 100 * MiB,
        overall: { done: 0, total: 100 * MiB },
      });
      c.advance(2000);
      view.update({
        phase: 'blob',
        item: 'sha256:ccc',
        done: 50 * MiB,
        total: 100 * MiB,
        overall: { done: 50 * MiB, total: 100 * MiB },
      });
      for (let i = 0; i < 100 && !text().includes('ETA'); i++) await new Promise((r) => setTimeout(r, 20));
      const fill = color ? `\x1b[36m${'#'.repeat(12)}\x1b[39m` : '#'.repeat(12);
      expect(text()).toContain(
        `blob     [${fill}${'.'.repeat(12)}] sha256:ccc 50.0 MiB/100.0 MiB 50% 25.0 MiB/s ETA 2s\n`,
      );
      expect(text()).toContain(
        `push     [${fill}${'.'.repeat(12)}] 50.0 MiB/100.0 MiB 50% 25.0 MiB/s ETA 2s\n`,
      );
      expect(text().includes('\x1b[36m')).toBe(color);
      view.log('hello');
      expect(text()).toContain('\x1b[2A\x1b[Jhello\n');
      view.finish();
      expect(text().endsWith('push: 50.0 MiB in 2s, 25.0 MiB/s\n')).toBe(true);
    }
  });

  it('app events: logs at the level, progress to the view', () => {
    const { out, text } = collect();
    const c = clock();
    const view = progressView(out, 'lines', { title: 'app', now: c.now });
    const r = appRenderer(view, out, 'info');
    r.onEvent({ type: 'log', level: 'warn', message: 'careful', service: 'web' });
    r.onEvent({ type: 'log', level: 'debug', message: 'noise' });
    r.onEvent({ type: 'progress', phase: 'delta', item: 'web deep delta', done: 2, total: 2, unit: 'items' });
    r.finish();
    expect(text()).toBe('warning: [web] careful\ndelta: web deep delta done\n');
  });
});
