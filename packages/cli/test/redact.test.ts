// Secrets never reach stderr or --json: credential flag values, tokens from the environment,
// and credential shapes in text (URL user info, Authorization values, password fields).
import { describe, expect, it } from 'vitest';
import { writeJson } from '../src/kit/registry-options.js';
import { REDACTED, redactPatterns, Secrets } from '../src/redact.js';
import { captureIO, runCapture } from './support.js';

describe('redaction', () => {
  it('a mistyped command does not echo --creds (the user name stays)', async () => {
    const r = await runCapture([
      'pul',
      'registry.example.com/x',
      '--creds',
      'alice:s3cr3t',
      '--src-creds=bob:hunter22',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'unknown command "pul registry.example.com/x --creds alice:*** --src-creds=bob:***"',
    );
    expect(r.err).not.toMatch(/s3cr3t|hunter22/);
  });

  it('errors that quote a reference with user info, or the password itself, are redacted', async () => {
    const r = await runCapture(['pull', 'https://alice:s3cr3t@registry.example.com/x', '--oci', 'out']);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`alice:${REDACTED}@registry.example.com`);
    expect(r.err).not.toContain('s3cr3t');
    // a secret given on the command line is removed wherever it appears later
    const s = Secrets.fromRun(['--creds', 'alice:pa55word'], { MENDER_PAT: 'pat-0123456789' });
    expect(s.redact('401 for alice with pa55word; token pat-0123456789 rejected')).toBe(
      `401 for alice with ${REDACTED}; token ${REDACTED} rejected`,
    );
  });

  it('credential shapes in free text', () => {
    expect(redactPatterns('GET https://u:p4ss@h/v2/ Authorization: Bearer eyJabc.def')).toBe(
      `GET https://u:${REDACTED}@h/v2/ Authorization: Bearer ${REDACTED}`,
    );
    expect(redactPatterns('{"password": "x1", "identitytoken":"y2", "user":"z"}')).toBe(
      `{"password": "${REDACTED}", "identitytoken":"${REDACTED}", "user":"z"}`,
    );
    expect(redactPatterns('docker://registry:5000/app:1')).toBe('docker://registry:5000/app:1');
  });

  it('--json output goes through the same redaction', async () => {
    const io = captureIO();
    io.redact = (t) => Secrets.fromRun([], { MENDER_PAT: 'tok-abcdef' }).redact(t);
    writeJson(io, { server: 'https://me:pw123@mender.example.com', note: 'uses tok-abcdef' });
    expect(JSON.parse(io.out())).toEqual({
      server: `https://me:${REDACTED}@mender.example.com`,
      note: `uses ${REDACTED}`,
    });
  });
});
