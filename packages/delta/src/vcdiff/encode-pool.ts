/**
 * A pool of encode workers (worker_threads) sharing one source index through SharedArrayBuffers:
 * target windows are sent out as they fill (their bytes transferred, not copied) and their
 * encoded bytes come back in order. Memory: the shared source and index once, plus per worker
 * one target window, its encoded window and the matcher's tables (about 3 windows).
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
import type { MatcherSettings } from './matcher.js';
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
  private readonly busy: number[] = [];
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
      this.busy.push(0);
    }
  }

  /** Encode the window `window[0, length)`; its memory is handed over to a worker. */
  encode(window: Buffer, length: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    let w = 0;
    for (let k = 1; k < this.workers.length; k++) if (this.busy[k]! < this.busy[w]!) w = k;
    const id = this.nextId++;
    const ab = window.buffer as ArrayBuffer;
    if (window.byteOffset !== 0 || !(ab instanceof ArrayBuffer)) {
      throw new TypeError('EncodePool.encode needs a window that owns its ArrayBuffer');
    }
    const request: EncodeRequest = { id, window: ab, length };
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker: w });
      this.busy[w]!++;
      this.workers[w]!.postMessage(request, [ab]);
    });
  }

  private settle(reply: EncodeReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    this.busy[p.worker]!--;
    if ('error' in reply) p.reject(this.workerError(reply.error));
    else p.resolve(Buffer.from(reply.delta));
  }

  private workerError(message: string): OciDeltaError {
    return new OciDeltaError('ERR_VCDIFF', `an encode worker failed: ${message}`, {});
  }

  private fail(err: Error): void {
    this.failure ??= this.workerError(err.message);
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  /** Stop the workers (pending windows are rejected). */
  async close(): Promise<void> {
    this.failure ??= new OciDeltaError('ERR_ABORTED', 'the encode pool was closed', {});
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
