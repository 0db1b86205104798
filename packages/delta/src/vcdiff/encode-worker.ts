/**
 * Entry of an encode worker (see encode-pool.ts): matches and encodes the target windows it is
 * sent against the source index the pool shares with it, each window independent of the others.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MatcherSettings } from './matcher-settings.js';
import { SourceIndex, type SourceIndexParts } from './source-index.js';
import { WindowJob } from './window-job.js';

/** What the pool gives a worker at its start. */
export interface EncodeWorkerData {
  index: SourceIndexParts;
  settings: MatcherSettings;
}

/** A window to encode: `length` bytes at the start of `window` (transferred to the worker). */
export interface EncodeRequest {
  id: number;
  window: ArrayBuffer;
  length: number;
}

/** The encoded window, or why it could not be. */
export type EncodeReply = { id: number; delta: ArrayBuffer } | { id: number; error: string };

if (parentPort) {
  const port = parentPort;
  const init = workerData as EncodeWorkerData;
  const job = new WindowJob(SourceIndex.fromParts(init.index), init.settings);
  port.on('message', (req: EncodeRequest) => {
    let reply: EncodeReply;
    try {
      const bytes = job.encode(Buffer.from(req.window, 0, req.length), req.length, true);
      // WindowJob returns a buffer with an ArrayBuffer of its own: transferred, not copied.
      const delta = bytes.buffer as ArrayBuffer;
      reply = { id: req.id, delta };
      port.postMessage(reply, [delta]);
    } catch (err) {
      reply = { id: req.id, error: (err as Error).stack ?? String(err) };
      port.postMessage(reply);
    }
  });
}
