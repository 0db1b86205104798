/**
 * Reading back what the code under test produced: every byte of a stream, and the error a
 * promise rejects with (undefined when it resolves), so a test can assert on its code and text.
 */
import type { Readable } from 'node:stream';

/** All the bytes of `stream`, concatenated. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The error `promise` rejects with, or undefined when it resolves. */
export async function errorOf(promise: Promise<unknown>): Promise<Error | undefined> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  return undefined;
}
