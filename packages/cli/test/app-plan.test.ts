import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fullImageSize, type PlanInput, planMode, planRelease, planService } from '../src/app/plan.js';
import { dependsOnVersionOf, type ServiceResult, serviceResult, summaryTable } from '../src/app/results.js';
import { joinPairArgs } from '../src/commands/app.js';
import { sampleImage } from '../src/commands/demo.js';

const bin = randomBytes(4096);

describe('planMode', async () => {
  const a = await sampleImage([{ base: bin }, { app: '1' }], 'a');
  const aAgain = await sampleImage([{ base: bin }, { app: '1' }], 'a');
  const b = await sampleImage([{ base: bin }, { app: '2' }], 'b');
  const three = await sampleImage([{ base: bin }, { app: '1' }, { extra: 'x' }], 'c');

  it('full without a previous image or with --no-delta', () => {
    expect(planMode(b, undefined, { delta: true })).toMatchObject({
      mode: 'full',
      reason: 'no previous image',
    });
    expect(planMode(b, a, { delta: false }).mode).toBe('full');
  });

  it('unchanged for the same manifest digest, delta otherwise, counting changed layers', () => {
    expect(aAgain.digest).toBe(a.digest);
    expect(planMode(aAgain, a, { delta: true })).toMatchObject({ mode: 'unchanged', changedLayers: 0 });
    const d = planMode(b, a, { delta: true });
    expect(d.mode).toBe('delta');
    expect(d.changedLayers).toBe(1);
    expect(d.changedSize).toBe(b.manifest.layers[1]!.size);
  });

  it('full when the current image has more layers', () => {
    expect(planMode(b, three, { delta: true })).toMatchObject({
      mode: 'full',
      reason: expect.stringMatching(/more layers \(3\)/),
    });
    expect(planMode(three, a, { delta: true }).mode).toBe('delta');
  });

  it('full size counts config and stored layers', () => {
    expect(fullImageSize(a)).toBe(
      a.manifest.config.size + a.manifest.layers[0]!.size + a.manifest.layers[1]!.size,
    );
  });
});

/** Freeze `v` and every plain object or array reachable from it (a plan must never be mutated). */
function deepFreeze<T>(v: T): T {
  const plain = Array.isArray(v) || (v && Object.getPrototypeOf(v) === Object.prototype);
  if (plain && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v as object)) deepFreeze(x);
  }
  return v;
}

describe('planService, planRelease, serviceResult', async () => {
  const a = await sampleImage([{ base: bin }, { app: '1' }], 'a');
  const b = await sampleImage([{ base: bin }, { app: '2' }], 'b');
  const c = await sampleImage([{ base: bin }, { app: '3' }], 'c');
  const input = (service: string, next: typeof a, previous?: PlanInput['previous']): PlanInput => ({
    service,
    ref: `r/${service}:2`,
    hash: next.digest,
    origin: 'registry',
    next,
    delta: true,
    ...(previous ? { previous } : {}),
  });
  const prev = (image: typeof a) => ({
    ref: 'r/x:1',
    delivery: 'registry' as const,
    hash: image.digest,
    image,
  });

  it('plans a delta against the previous image, with changed layers and the current image', () => {
    const s = planService(input('app', b, prev(a)));
    expect(s.plan).toMatchObject({ mode: 'delta', currentHash: a.digest, changedLayers: 1 });
    expect('current' in s && s.current.digest).toBe(a.digest);
    expect(s.plan.layerPlans.map((l) => l.unchanged)).toEqual([true, false]);
  });

  it('an unavailable previous image is a fallback to full, naming why', () => {
    const s = planService(
      input('app', b, {
        ref: 'r/x:1',
        delivery: 'registry',
        unavailable: 'previous image r/x:1 unavailable',
      }),
    );
    expect(s.plan).toMatchObject({
      mode: 'full',
      reason: 'previous image r/x:1 unavailable',
      fallback: 'previous image r/x:1 unavailable',
    });
    expect('current' in s).toBe(false);
  });

  it('without a previous release a full image is no fallback', () => {
    const s = planService(input('app', b));
    expect(s.plan).toMatchObject({ mode: 'full', reason: 'no previous image' });
    expect(s.plan.mode === 'full' && s.plan.fallback).toBeUndefined();
  });

  it('services sharing an image with different previous images both ship it full; inputs stay untouched', () => {
    const one = deepFreeze(planService(input('one', b, prev(a))));
    const two = deepFreeze(planService(input('two', b, prev(c))));
    const alone = deepFreeze(planService(input('alone', c, prev(a))));
    const plan = planRelease([one, two, alone], new Map());
    expect(plan.services.map((s) => s.plan.mode)).toEqual(['full', 'full', 'delta']);
    expect(plan.services[0]!.plan).toMatchObject({
      fallback: expect.stringMatching(/shared with another service/),
    });
    expect(plan.services[2]).toBe(alone);
    expect(one.plan.mode).toBe('delta');
    expect([...plan.images.keys()]).toEqual([b.digest, c.digest]);
    expect(plan.images.get(b.digest)!.map((s) => s.plan.service)).toEqual(['one', 'two']);
  });

  it('services sharing an image with the same previous image keep their delta', () => {
    const plan = planRelease(
      [planService(input('one', b, prev(a))), planService(input('two', b, prev(a)))],
      new Map(),
    );
    expect(plan.services.map((s) => s.plan.mode)).toEqual(['delta', 'delta']);
  });

  it('a planned delta that shipped full reports full with its reason and drops the delta dependency', () => {
    const s = planService(input('app', b, prev(a)));
    const shippedFull = serviceResult(s.plan, {
      hash: b.digest,
      shipped: 'full',
      reason: 'delta larger than the full image',
      imageSize: 1234,
    });
    expect(shippedFull).toMatchObject({
      mode: 'full',
      reason: 'delta larger than the full image',
      imageSize: 1234,
    });
    expect(shippedFull.fallback).toBeUndefined();
    expect(dependsOnVersionOf([shippedFull], '1')).toBeUndefined();
    const delta = serviceResult(s.plan, {
      hash: b.digest,
      shipped: 'delta',
      imageSize: 99,
      deltaFrom: 'computed',
      layers: [
        {
          index: 1,
          deltaSize: 42,
          uncompressedSize: 5000,
          sourcePath: 'blobs/x',
          device: { sourceBytesRead: 7 },
        },
      ],
    });
    expect(delta).toMatchObject({ mode: 'delta', imageSize: 99, deltaFrom: 'computed' });
    expect(delta.layerPlans[1]).toMatchObject({ deltaSize: 42, source: 'blobs/x', sourceBytesRead: 7 });
    expect(delta.layerPlans[0]!.deltaSize).toBeUndefined();
    expect(dependsOnVersionOf([shippedFull, delta], '1')).toBe('1');
  });
});

describe('summary table', () => {
  it('aligns columns and shows ratios and reasons', () => {
    const plans: ServiceResult[] = [
      {
        service: 'web',
        mode: 'delta',
        ref: 'r/web:2',
        hash: `sha256:${'a'.repeat(64)}`,
        origin: 'registry',
        fullSize: 1000,
        layers: 3,
        changedLayers: 1,
        imageSize: 100,
        layerPlans: [],
        device: { sourceBytesRead: 3 * 1024 * 1024, decoderMemory: 80 * 1024 * 1024 },
      },
      {
        service: 'database',
        mode: 'full',
        ref: 'r/db:1',
        hash: `sha256:${'b'.repeat(64)}`,
        origin: 'file',
        fullSize: 2048,
        layers: 1,
        reason: 'no previous image',
        imageSize: 2048,
        layerPlans: [],
      },
    ];
    const lines = summaryTable(plans).split('\n');
    expect(lines[0]).toMatch(/^SERVICE\s+MODE\s+CHANGED\s+FULL\s+SHIPPED\s+RATIO\s+DEVICE READ\/MEM\s+NOTE$/);
    expect(lines[1]).toMatch(/^web\s+delta\s+1\/3\s+1000 B\s+100 B\s+10\.0%\s+3\.00 MiB \/ 80\.0 MiB$/);
    expect(lines[2]).toMatch(
      /^database\s+full\s+-\s+2\.00 KiB\s+2\.00 KiB\s+100\.0%\s+-\s+no previous image$/,
    );
    expect(lines[1]!.indexOf('delta')).toBe(lines[2]!.indexOf('full'));
  });
});

describe('CLI argument pairs', () => {
  it('joins NAME VALUE after -f/-i into NAME=VALUE', () => {
    expect(
      joinPairArgs(['c.yml', '-f', 'web', 'web.tar', '--service-image', 'db', 'r/db:2', '-t', 'x']),
    ).toEqual(['c.yml', '-f', 'web=web.tar', '--service-image', 'db=r/db:2', '-t', 'x']);
    expect(joinPairArgs(['-f', 'web=a.tar'])).toEqual(['-f', 'web=a.tar']);
    expect(joinPairArgs(['-f', 'web', '-t', 'x'])).toEqual(['-f', 'web', '-t', 'x']);
  });

  it('reads -h URL as the helper does (--mender-host); a bare -h still asks for help', () => {
    expect(joinPairArgs(['c.yml', '-h', 'https://eu.hosted.mender.io', '-t', 'x'])).toEqual([
      'c.yml',
      '--mender-host',
      'https://eu.hosted.mender.io',
      '-t',
      'x',
    ]);
    expect(joinPairArgs(['c.yml', '-h'])).toEqual(['c.yml', '-h']);
    expect(joinPairArgs(['-h', '-t', 'x'])).toEqual(['-h', '-t', 'x']);
  });
});

describe("the helper's invocation", () => {
  it('-l INFO, WARNING, CRITICAL are accepted in any case; -h URL builds (no help printed)', async () => {
    const { runCli } = await import('../src/cli.js');
    const { appCommand } = await import('../src/commands/app.js');
    const { captureIO } = await import('./support.js');
    for (const level of ['INFO', 'warning', 'Critical', 'DEBUG', 'error']) {
      const io = captureIO();
      // No compose file here: the run gets past option parsing and fails on the input (exit 2).
      const code = await runCli(
        ['app', 'missing.yml', '-t', 'x', '-p', 'linux/arm64', '-l', level, '-h', 'http://127.0.0.1:9'],
        io,
        [appCommand],
      );
      expect(code, io.err()).toBe(2);
      expect(io.err()).toMatch(/compose file not found/);
      expect(io.out()).not.toMatch(/Usage:/);
    }
    const bad = captureIO();
    expect(
      await runCli(['app', 'c.yml', '-t', 'x', '-p', 'linux/arm64', '-l', 'LOUD'], bad, [appCommand]),
    ).toBe(1);
    expect(bad.err()).toMatch(/--log-level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL/);
    const help = captureIO();
    expect(await runCli(['app', '-h'], help, [appCommand])).toBe(0);
    expect(help.out()).toMatch(/Usage:/);
  });

  it("the cache defaults to OCIDELTA_CACHE_DIR, then the helper's MENDER_HELPER_CACHE_DIR", async () => {
    const { defaultCacheDir } = await import('../src/app/options.js');
    expect(defaultCacheDir({ OCIDELTA_CACHE_DIR: '/a', MENDER_HELPER_CACHE_DIR: '/b', HOME: '/h' })).toBe(
      '/a',
    );
    expect(defaultCacheDir({ MENDER_HELPER_CACHE_DIR: '/b', HOME: '/h' })).toBe('/b');
    expect(defaultCacheDir({ HOME: '/h' })).toBe('/h/.cache/ocidelta');
  });
});

describe('image names for docker load', () => {
  it('keeps name:tag, drops a digest, adds :latest to a bare name, refuses digest-only refs', async () => {
    const { tagOf } = await import('../src/app/image-sources.js');
    const d = `sha256:${'a'.repeat(64)}`;
    expect(tagOf('registry:5000/shop/web:1.2')).toBe('registry:5000/shop/web:1.2');
    expect(tagOf(`registry:5000/shop/web:1.2@${d}`)).toBe('registry:5000/shop/web:1.2');
    expect(tagOf('nginx')).toBe('nginx:latest');
    expect(tagOf('registry:5000/nginx')).toBe('registry:5000/nginx:latest');
    expect(tagOf(`nginx@${d}`)).toBeUndefined();
    expect(tagOf('Not A Ref')).toBeUndefined();
  });
});

describe('--insecure', () => {
  it('a bare --insecure covers every registry the release names; a value names one', async () => {
    const { expandInsecure } = await import('../src/kit/registry-client.js');
    expect(expandInsecure({ insecure: ['a:5000'] }, ['b.example/x:1'])).toEqual({ insecure: ['a:5000'] });
    expect(
      expandInsecure({ insecure: ['a:5000'], insecureAll: true }, [
        'b.example/x:1',
        'b.example/y:2',
        'c.local:443/z',
        'nginx',
      ]),
    ).toEqual({ insecure: ['a:5000', 'b.example', 'c.local:443', 'docker.io'], insecureAll: true });
  });

  it('parses both forms on the command line', async () => {
    const { appCommand } = await import('../src/commands/app.js');
    const { cac } = await import('cac');
    const parse = (argv: string[]) => {
      const cli = cac('ocidelta app');
      let seen: Record<string, unknown> = {};
      appCommand.define(cli, { stdout: new PassThrough(), stderr: new PassThrough(), env: {}, cwd: '/' });
      cli.commands[0]!.action((_c: unknown, o: Record<string, unknown>) => {
        seen = o;
      });
      cli.parse(['node', 'ocidelta', ...argv], { run: true });
      return seen.insecure;
    };
    expect(parse(['c.yml', '--insecure'])).toBe(true);
    expect(parse(['c.yml', '--insecure', 'reg:5000'])).toBe('reg:5000');
  });
});
