/**
 * A pool of encode workers (worker_threads) sharing one source index through SharedArrayBuffers:
 * target windows are queued as they fill and each goes (its bytes transferred, not copied) to
 * the first worker that is free, so a worker never waits behind another's slow window (windows
 * of new content take 20x longer than windows of copies). Memory: the shared source and index
 * once, plus per worker the matcher's tables and the windows it is given with their deltas (the
 * encoder keeps at most 4 per worker in flight).
 *
 * The worker entry is the built `encode-worker.js` beside this module; run from the TypeScript
 * sources (tests), the built one under the package's `dist/` is used.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { OciDeltaError } from '@ocidelta/core';
import type { EncodeReply, EncodeRequest, EncodeWorkerData } from './encode-worker.js';
import type { MatcherSettings } from './matcher-settings.js';
import type { SourceIndex } from './source-index.js';

/** Default number of encode workers: the machine's available parallelism. */
export function defaultJobs(): number {
  return availableParallelism();
}

/** The worker entry: the built .js beside this module, or dist's when run from sources. */
export function encodeWorkerUrl(): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.js')) return new URL('./encode-worker.js', here);
  const built = fileURLToPath(new URL('./encode-worker.js', here)).replace(
    /([/\\])src([/\\])(?!.*[/\\]src[/\\])/,
    '$1dist$2',
  );
  if (!existsSync(built)) {
    throw new OciDeltaError(
      'ERR_INVALID_OPTIONS',
      `encode workers run the built worker ${built}, which is missing: build @ocidelta/delta first`,
      { path: built },
    );
  }
  return pathToFileURL(built);
}

interface Pending {
  resolve: (delta: Buffer) => void;
  reject: (err: Error) => void;
  worker: number;
}

export class EncodePool {
  private readonly workers: Worker[] = [];
  /** Workers with no window. */
  private readonly idle: number[] = [];
  /** Windows waiting for a free worker, oldest first. */
  private readonly queue: { request: EncodeRequest; pending: Omit<Pending, 'worker'> }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;

  /** Start `jobs` workers matching against `index` (whose source and table must be shared). */
  constructor(jobs: number, index: SourceIndex, settings: MatcherSettings) {
    const workerData: EncodeWorkerData = { index: index.parts(), settings };
    const url = encodeWorkerUrl();
    for (let w = 0; w < jobs; w++) {
      const worker = new Worker(url, { workerData });
      worker.on('message', (reply: EncodeReply) => this.settle(reply));
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`encode worker exited with code ${code}`));
      });
      this.workers.push(worker);
      this.idle.push(w);
    }
  }

  /** Encode the window `window[0, length)`; its memory is handed over to a worker. */
  encode(window: Buffer, length: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const ab = window.buffer as ArrayBuffer;
    if (window.byteOffset !== 0 || !(ab instanceof ArrayBuffer)) {
      throw new TypeError('EncodePool.encode needs a window that owns its ArrayBuffer');
    }
    const request: EncodeRequest = { id: this.nextId++, window: ab, length };
    return new Promise<Buffer>((resolve, reject) => {
      this.queue.push({ request, pending: { resolve, reject } });
      this.pump();
    });
  }

  /** Hand queued windows to free workers. */
  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.shift()!;
      const { request, pending } = this.queue.shift()!;
      this.pending.set(request.id, { ...pending, worker: w });
      this.workers[w]!.postMessage(request, [request.window]);
    }
  }

  private settle(reply: EncodeReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    this.idle.push(p.worker);
    if ('error' in reply) p.reject(this.workerError(reply.error));
    else p.resolve(Buffer.from(reply.delta));
    this.pump();
  }

  private workerError(message: string): OciDeltaError {
    return new OciDeltaError('ERR_VCDIFF', `an encode worker failed: ${message}`, {});
  }

  private fail(err: Error): void {
    this.failure ??= this.workerError(err.message);
    this.rejectAll(this.failure);
  }

  private rejectAll(reason: Error): void {
    for (const p of this.pending.values()) p.reject(reason);
    for (const q of this.queue) q.pending.reject(reason);
    this.pending.clear();
    this.queue.length = 0;
  }

  /** Stop the workers (pending windows are rejected). */
  async close(): Promise<void> {
    this.failure ??= new OciDeltaError('ERR_ABORTED', 'the encode pool was closed', {});
    this.rejectAll(this.failure);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
