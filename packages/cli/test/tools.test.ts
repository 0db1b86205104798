// Where `image build --output docker://REPO` pushes each tag.
import { parseReference } from '@ocidelta/core';
import { describe, expect, it } from 'vitest';
import { pushTarget } from '../src/kit/build-push.js';

describe('pushTarget', () => {
  const repo = parseReference('registry.example.com:5000/team');
  it('joins a bare tag to the repository', () => {
    expect(pushTarget(repo, 'v1').toString()).toBe('registry.example.com:5000/team:v1');
  });
  it('puts a name:tag under the repository', () => {
    expect(pushTarget(repo, 'base:12').toString()).toBe('registry.example.com:5000/team/base:12');
    expect(pushTarget(repo, 'tools/base:12').toString()).toBe('registry.example.com:5000/team/tools/base:12');
  });
  it('keeps a reference with a registry host', () => {
    expect(pushTarget(repo, 'localhost:5000/other:1').toString()).toBe('localhost:5000/other:1');
    expect(pushTarget(repo, 'quay.io/x/y:2').toString()).toBe('quay.io/x/y:2');
  });
});
