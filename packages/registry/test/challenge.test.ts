// WWW-Authenticate parsing (RFC 7235) and scope helpers: vectors from the Distribution token
// spec, Docker Hub, and the RFC's grammar corner cases.
import { describe, expect, it } from 'vitest';
import {
  type Challenge,
  challengeScopes,
  findChallenge,
  mergeScopes,
  parseChallenges,
  parseScope,
} from '../src/challenge.js';

const vectors: Array<[string, string | string[] | undefined, Challenge[]]> = [
  [
    'Distribution token spec example',
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"',
    [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:samalba/my-app:pull,push',
        },
      },
    ],
  ],
  [
    'several scopes space-joined in one quoted value',
    'Bearer realm="http://127.0.0.1:5001/token",service="svc",scope="repository:a/b:pull repository:c:pull,push"',
    [
      {
        scheme: 'bearer',
        params: {
          realm: 'http://127.0.0.1:5001/token',
          service: 'svc',
          scope: 'repository:a/b:pull repository:c:pull,push',
        },
      },
    ],
  ],
  [
    'quoted value containing commas and equals signs',
    'Bearer realm="https://x.example/token?a=1,b=2",service="s,t"',
    [{ scheme: 'bearer', params: { realm: 'https://x.example/token?a=1,b=2', service: 's,t' } }],
  ],
  [
    'backslash escapes inside a quoted value',
    'Basic realm="say \\"hi\\" \\\\ bye"',
    [{ scheme: 'basic', params: { realm: 'say "hi" \\ bye' } }],
  ],
  [
    'two challenges in one header',
    'Basic realm="registry", Bearer realm="https://a/token",service="b"',
    [
      { scheme: 'basic', params: { realm: 'registry' } },
      { scheme: 'bearer', params: { realm: 'https://a/token', service: 'b' } },
    ],
  ],
  [
    'two header values',
    ['Basic realm="one"', 'Bearer realm="https://two/token"'],
    [
      { scheme: 'basic', params: { realm: 'one' } },
      { scheme: 'bearer', params: { realm: 'https://two/token' } },
    ],
  ],
  [
    'case-insensitive scheme and parameter names',
    'BEARER Realm="https://r/t",SERVICE="S"',
    [{ scheme: 'bearer', params: { realm: 'https://r/t', service: 'S' } }],
  ],
  [
    'insufficient_scope error from a 401',
    'Bearer realm="https://r/t",service="s",scope="repository:x:pull,push",error="insufficient_scope"',
    [
      {
        scheme: 'bearer',
        params: {
          realm: 'https://r/t',
          service: 's',
          scope: 'repository:x:pull,push',
          error: 'insufficient_scope',
        },
      },
    ],
  ],
  [
    'whitespace around "=" and commas, unquoted tokens',
    'Bearer realm = "https://r/t" ,  service=registry.example.com ,scope=x',
    [{ scheme: 'bearer', params: { realm: 'https://r/t', service: 'registry.example.com', scope: 'x' } }],
  ],
  [
    'token68 followed by another challenge',
    'Negotiate abc123==, Basic realm="r"',
    [
      { scheme: 'negotiate', params: {}, token68: 'abc123==' },
      { scheme: 'basic', params: { realm: 'r' } },
    ],
  ],
  ['scheme without parameters', 'Basic', [{ scheme: 'basic', params: {} }]],
  [
    'empty list elements are ignored',
    ', ,Basic realm="r",, ,',
    [{ scheme: 'basic', params: { realm: 'r' } }],
  ],
  [
    'garbage before a good challenge is skipped',
    '"junk", Basic realm="r"',
    [{ scheme: 'basic', params: { realm: 'r' } }],
  ],
  [
    'unterminated quoted value keeps what there is',
    'Bearer realm="https://r/t',
    [{ scheme: 'bearer', params: { realm: 'https://r/t' } }],
  ],
  [
    'duplicate parameter: the first wins',
    'Bearer realm="https://first",realm="https://second"',
    [{ scheme: 'bearer', params: { realm: 'https://first' } }],
  ],
  ['empty header', '', []],
  ['no header', undefined, []],
];

describe('parseChallenges', () => {
  for (const [name, header, expected] of vectors) {
    it(name, () => {
      expect(parseChallenges(header)).toEqual(expected);
    });
  }

  it('finds the challenge by scheme and splits its scopes', () => {
    const chs = parseChallenges(
      'Basic realm="r", Bearer realm="https://t",scope="repository:a:pull  repository:b:push"',
    );
    expect(findChallenge(chs, 'BEARER')?.params.realm).toBe('https://t');
    expect(challengeScopes(findChallenge(chs, 'bearer'))).toEqual(['repository:a:pull', 'repository:b:push']);
    expect(challengeScopes(findChallenge(chs, 'basic'))).toEqual([]);
    expect(findChallenge(chs, 'digest')).toBeUndefined();
  });
});

describe('scopes', () => {
  it('parses type, name and actions; names may contain colons', () => {
    expect(parseScope('repository:library/ubuntu:pull,push')).toEqual({
      type: 'repository',
      name: 'library/ubuntu',
      actions: ['pull', 'push'],
    });
    expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
    expect(parseScope('repository:host:5000/x:pull')?.name).toBe('host:5000/x');
    expect(parseScope('nonsense')).toBeUndefined();
    expect(parseScope('a:b')).toBeUndefined();
  });

  it('merges actions per resource, keeps unknown scopes, sorts', () => {
    expect(mergeScopes(['repository:a:pull'], ['repository:a:push', 'repository:b:pull'])).toEqual([
      'repository:a:pull,push',
      'repository:b:pull',
    ]);
    expect(mergeScopes(['repository:a:pull,push'], ['repository:a:pull'])).toEqual([
      'repository:a:pull,push',
    ]);
    expect(mergeScopes(['weird'], ['repository:z:pull'])).toEqual(['repository:z:pull', 'weird']);
    expect(mergeScopes([], [])).toEqual([]);
  });
});
