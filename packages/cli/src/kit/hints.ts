/**
 * How the CLI renders the libraries' hint codes: as the options that make the change. Library
 * messages say what to change in words; the CLI appends the options (`(--cache-dir DIR or
 * --no-cache)`). The table is total over every package's codes, so a new code needs a rendering.
 */
import { type HintCode, hintOf } from '@ocidelta/core/errors';
import type {} from '../errors.js';

const HINTS: { readonly [K in HintCode]: string } = {
  'extended-attributes': 'leave out --xattrs',
  credentials: '--creds USER:PASSWORD, --authfile FILE, or `ocidelta login`',
  'insecure-registry': '--insecure',
  'layer-index': '--layer N',
  'service-file': '--service-file',
  'service-image': '--service-image',
  'previous-version': '--previous-version',
  'cache-dir': '--cache-dir DIR or --no-cache',
  'skip-existing': '--skip-existing',
  'device-group': '--device-group',
  'current-archive': '--current',
  'require-delta': '--require-delta',
  store: '--store',
};

/** The options a hint code stands for (undefined for a code this CLI does not know). */
export function renderHint(code: string | undefined): string | undefined {
  return code !== undefined && Object.hasOwn(HINTS, code) ? HINTS[code as HintCode] : undefined;
}

/** `message` with the options of `code` appended in parentheses. */
export function withHint(message: string, code: string | undefined): string {
  const options = renderHint(code);
  return options ? `${message} (${options})` : message;
}

/** An error's message with its hint rendered. */
export function errorMessage(err: Error): string {
  return withHint(err.message, hintOf(err));
}
