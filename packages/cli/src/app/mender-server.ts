/**
 * Mender server client (management API, personal access token): upload an artifact as
 * multipart/form-data with the `artifact` part last, streamed from disk, and create a
 * deployment to a device group. Status codes become clear ERR_MENDER_SERVER errors (exit 3);
 * 5xx and connection errors are retried with backoff.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { OciDeltaError } from '@ocidelta/core';
import { dispatcherFor, proxyForProtocol, proxySettings, requestVia } from '@ocidelta/registry';
import type { Dispatcher } from 'undici';

export interface MenderServerOptions {
  /** Base URL, e.g. `https://hosted.mender.io`. */
  host: string;
  /** Personal access token (sent as `Authorization: Bearer`). */
  token: string;
  /** Attempts for 5xx / connection errors (default 3). */
  attempts?: number;
  /** First backoff delay in ms (default 1000; doubled each retry). */
  backoffMs?: number;
  signal?: AbortSignal;
  /** Environment for HTTPS_PROXY / HTTP_PROXY / NO_PROXY (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface UploadResult {
  /** False when the server already had the artifact and `skipExisting` was set. */
  uploaded: boolean;
  /** The artifact id from the `Location` header, when given. */
  id?: string;
}

export interface DeploymentResult {
  /** Deployment id from the `Location` header, when given. */
  id?: string;
}

function serverError(message: string, details: Record<string, unknown>, cause?: unknown): OciDeltaError {
  return new OciDeltaError('ERR_MENDER_SERVER', message, details, cause ? { cause } : undefined);
}

async function readBodyText(body: { text(): Promise<string> }): Promise<string> {
  try {
    return await body.text();
  } catch {
    return '';
  }
}

/** The `error` field of a Mender error body, else the body text (truncated). */
export function menderErrorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 300);
}

function isRetryable(status: number): boolean {
  return status >= 500 && status <= 599;
}

/** A small client for the two management endpoints ocidelta uses. */
export class MenderServer {
  private readonly host: string;
  private readonly token: string;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly dispatcher: Dispatcher;

  constructor(options: MenderServerOptions) {
    this.dispatcher = dispatcherFor(
      {},
      proxyForProtocol(proxySettings(options.env ?? process.env), new URL(options.host).protocol),
    );
    this.host = options.host.replace(/\/+$/, '');
    this.token = options.token;
    this.attempts = options.attempts ?? 3;
    this.backoffMs = options.backoffMs ?? 1000;
    this.signal = options.signal;
  }

  /** Close the connections. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** Run `attempt` with retries on 5xx and connection errors. */
  private async withRetry<T>(
    what: string,
    url: string,
    attempt: () => Promise<{ status: number; text: string; value?: T }>,
    onStatus: (status: number, text: string, value?: T) => T | undefined,
  ): Promise<T> {
    let lastError: OciDeltaError | undefined;
    for (let i = 0; i < this.attempts; i++) {
      if (i > 0) await sleep(this.backoffMs * 2 ** (i - 1), undefined, { signal: this.signal });
      let res: { status: number; text: string; value?: T };
      try {
        res = await attempt();
      } catch (err) {
        if (err instanceof OciDeltaError) throw err;
        if (this.signal?.aborted) throw err;
        lastError = serverError(
          `${what}: cannot reach the Mender server at ${this.host}: ${(err as Error).message}`,
          { url },
          err,
        );
        continue;
      }
      const handled = onStatus(res.status, res.text, res.value);
      if (handled !== undefined) return handled;
      const detail = menderErrorMessage(res.text);
      const details = { url, status: res.status, serverMessage: detail };
      if (isRetryable(res.status)) {
        lastError = serverError(
          `${what}: the Mender server failed with HTTP ${res.status}${detail ? `: ${detail}` : ''} (tried ${i + 1} time${i ? 's' : ''})`,
          details,
        );
        continue;
      }
      switch (res.status) {
        case 401:
        case 403:
          throw serverError(
            `${what}: the Mender server refused the token (HTTP ${res.status}): check MENDER_PAT (a personal access token of ${this.host})${detail ? `: ${detail}` : ''}`,
            details,
          );
        case 413:
          throw serverError(
            `${what}: the artifact is too large for the Mender server (HTTP 413)${detail ? `: ${detail}` : ''}`,
            details,
          );
        case 422:
        case 400:
          throw serverError(
            `${what}: the Mender server rejected the request (HTTP ${res.status})${detail ? `: ${detail}` : ''}`,
            details,
          );
        default:
          throw serverError(
            `${what}: unexpected HTTP ${res.status} from the Mender server${detail ? `: ${detail}` : ''}`,
            details,
          );
      }
    }
    throw lastError ?? serverError(`${what}: failed`, { url });
  }

  /**
   * Upload `file` (`POST /api/management/v1/deployments/artifacts`). A 409 (the artifact
   * exists) is an error unless `skipExisting`, then `{uploaded: false}`.
   */
  async uploadArtifact(
    file: string,
    options: {
      description?: string;
      skipExisting?: boolean;
      onProgress?: (done: number, total: number) => void;
    } = {},
  ): Promise<UploadResult> {
    const url = `${this.host}/api/management/v1/deployments/artifacts`;
    const size = (await stat(file)).size;
    const boundary = `----ocidelta${randomBytes(12).toString('hex')}`;
    const field = (name: string, value: string) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const head = Buffer.from(
      [
        field('size', String(size)),
        options.description ? field('description', options.description) : '',
        `--${boundary}\r\nContent-Disposition: form-data; name="artifact"; filename="${basename(file).replace(/"/g, '')}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      ].join(''),
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const signal = this.signal;
    const onProgress = options.onProgress;
    async function* body(): AsyncGenerator<Buffer> {
      yield head;
      let done = 0;
      for await (const chunk of createReadStream(file, { signal })) {
        done += (chunk as Buffer).length;
        onProgress?.(done, size);
        yield chunk as Buffer;
      }
      yield tail;
    }
    return this.withRetry<UploadResult>(
      `upload of ${basename(file)}`,
      url,
      async () => {
        const res = await requestVia(this.dispatcher, new URL(url), {
          method: 'POST',
          headers: {
            authorization: `Bearer ${this.token}`,
            'content-type': `multipart/form-data; boundary=${boundary}`,
            'content-length': String(head.length + size + tail.length),
            accept: 'application/json',
          },
          body: Readable.from(body()),
          signal,
        });
        const text = await readBodyText(res.body);
        const location = res.headers.location;
        const id = typeof location === 'string' ? location.split('/').pop() : undefined;
        return { status: res.statusCode, text, value: { uploaded: true, id } };
      },
      (status, text, value) => {
        if (status === 201 || status === 200) return value ?? { uploaded: true };
        if (status === 409) {
          if (options.skipExisting) return { uploaded: false };
          throw serverError(
            `the Mender server already has this artifact (HTTP 409)${menderErrorMessage(text) ? `: ${menderErrorMessage(text)}` : ''}; bump the version or skip artifacts the server has`,
            { url, status, hint: 'skip-existing' },
          );
        }
        return undefined;
      },
    );
  }

  /**
   * Deploy `artifactName` to the devices of `group`
   * (`POST /api/management/v1/deployments/deployments/group/{group}`).
   */
  async deployToGroup(group: string, artifactName: string, name = artifactName): Promise<DeploymentResult> {
    const url = `${this.host}/api/management/v1/deployments/deployments/group/${encodeURIComponent(group)}`;
    let location: string | undefined;
    return this.withRetry<DeploymentResult>(
      `deployment of ${artifactName} to group ${group}`,
      url,
      async () => {
        const res = await requestVia(this.dispatcher, new URL(url), {
          method: 'POST',
          headers: {
            authorization: `Bearer ${this.token}`,
            'content-type': 'application/json',
            accept: 'application/json',
          },
          body: JSON.stringify({ name, artifact_name: artifactName }),
          signal: this.signal,
        });
        const text = await readBodyText(res.body);
        location = typeof res.headers.location === 'string' ? res.headers.location : undefined;
        return { status: res.statusCode, text };
      },
      (status) => {
        if (status === 201 || status === 200) return { id: location?.split('/').pop() };
        if (status === 404) {
          throw serverError(
            `no device group "${group}" (or no devices in it) on the Mender server (HTTP 404)`,
            {
              url,
              status,
            },
          );
        }
        return undefined;
      },
    );
  }
}
