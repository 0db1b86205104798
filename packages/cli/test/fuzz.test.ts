// Fuzz target of the CLI's input: compose files (see test-support/fuzz.ts). The corpus holds
// the YAML that once escaped as ReferenceError (aliases) or was wrongly refused (merge keys).
import { describe, expect, it } from 'vitest';
import { fuzz } from '../../../test-support/fuzz.js';
import { parseCompose } from '../src/app/compose.js';

describe('fuzz: compose files', () => {
  it('a result or ERR_INPUT for every input, in time and bounded memory', { timeout: 600_000 }, async () => {
    const figures = await fuzz({
      name: 'compose',
      seeds: [
        'x-common: &common\n  restart: always\n  image: reg.example.com/app:1\nservices:\n  web:\n    <<: *common\n    ports: ["80:80"]\n  db:\n    image: postgres:16\n    environment: {A: *common}\n',
        'services:\n  app:\n    image: "registry.local:5000/a/b@sha256:0123"\n',
      ].map((s) => Buffer.from(s)),
      runs: 5000,
      run: async (b) => parseCompose(b, 'compose.yml'),
    });
    expect(figures.corpus).toBeGreaterThan(0);
    expect(figures.failures).toEqual([]);
  });
});
