/**
 * Progress of the app pipeline: the event type `buildAppArtifact` emits (the libraries' one
 * `Progress` shape plus log lines), and its rendering through the CLI's one progress view.
 */
import type { HintCode, Progress } from '@ocidelta/core';
import { withHint } from '../kit/hints.js';
import type { ProgressView } from '../kit/progress.js';
import type { LogLevel } from './options.js';

export type AppPhase = 'resolve' | 'pull' | 'delta' | 'image' | 'write' | 'artifact' | 'upload' | 'deploy';

/** One progress or log event of {@link buildAppArtifact}. */
export type AppEvent =
  | ({ type: 'progress' } & Progress<AppPhase>)
  | {
      type: 'log';
      level: 'info' | 'warn' | 'debug';
      message: string;
      service?: string;
      /** What the user can change, as a hint code (the CLI renders it as its options). */
      hint?: HintCode;
    };

export type AppEventListener = (event: AppEvent) => void;

export interface Renderer {
  onEvent: AppEventListener;
  /** Clear bars (call before printing the summary). */
  finish(): void;
}

type Out = NodeJS.WritableStream;

const LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

function logLine(event: Extract<AppEvent, { type: 'log' }>): string {
  const prefix = event.level === 'warn' ? 'warning: ' : '';
  const who = event.service ? `[${event.service}] ` : '';
  return `${prefix}${who}${withHint(event.message, event.hint)}`;
}

/**
 * Log events at or above `level` and progress through `view` (none: logs go straight to `out`,
 * progress is dropped, as with --json or --quiet).
 */
export function appRenderer(view: ProgressView | undefined, out: Out, level: LogLevel = 'info'): Renderer {
  return {
    onEvent(event) {
      if (event.type === 'log') {
        if (LEVELS[event.level] > LEVELS[level]) return;
        if (view) view.log(logLine(event));
        else out.write(`${logLine(event)}\n`);
        return;
      }
      const { type: _type, ...progress } = event;
      view?.update(progress);
    },
    finish() {
      view?.finish();
    },
  };
}
