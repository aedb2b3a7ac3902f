/**
 * Cluster mode's environment variables (src/server/cluster-env.ts): without EVENTIDE_NATS the server
 * is the embedded one; with it, each variable is checked with a one-line InvalidOptions, and the
 * defaults are those the module header argues for.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, RuntimeError } from '../../src/kernel/index.js';
import { clusterEnvOf, clusterOptions, defaultNodeId } from '../../src/server/cluster-env.js';

function refusal(env: Record<string, string>): RuntimeError {
  try {
    clusterEnvOf(env);
  } catch (err) {
    if (RuntimeError.is(err)) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('cluster variables', () => {
  it('without EVENTIDE_NATS there is no cluster mode, and an empty one counts as unset', () => {
    expect(clusterEnvOf({})).toBeUndefined();
    expect(clusterEnvOf({ EVENTIDE_NATS: '' })).toBeUndefined();
  });

  it('a cluster-only variable without EVENTIDE_NATS is refused, naming both (a typo must not start an embedded server silently)', () => {
    const err = refusal({ EVENTIDE_NODE_ID: 'a' });
    expect(err.code).toBe(ErrorCodes.InvalidOptions);
    expect(err.message).toContain('EVENTIDE_NODE_ID is set but EVENTIDE_NATS is not');
  });

  it('one URL: replicas 1 (a single nats-server keeps one copy), group eventide, node id left to the default', () => {
    expect(clusterEnvOf({ EVENTIDE_NATS: 'nats://127.0.0.1:4222' })).toEqual({ servers: ['nats://127.0.0.1:4222'], group: 'eventide', nodeId: undefined, replicas: 1, leaseMs: undefined, forwardTimeoutMs: undefined });
  });

  it('three URLs: replicas 3; every variable set is taken as given', () => {
    const env = { EVENTIDE_NATS: 'nats://a:4222, nats://b:4222,tls://c:4222', EVENTIDE_NODE_ID: 'node_1', EVENTIDE_GROUP: 'bank', EVENTIDE_LEASE_MS: '2000', EVENTIDE_FORWARD_TIMEOUT_MS: '5000' };
    expect(clusterEnvOf(env)).toEqual({ servers: ['nats://a:4222', 'nats://b:4222', 'tls://c:4222'], group: 'bank', nodeId: 'node_1', replicas: 3, leaseMs: 2000, forwardTimeoutMs: 5000 });
    expect(clusterEnvOf({ ...env, EVENTIDE_REPLICAS: '5' })?.replicas).toBe(5);
    expect(clusterEnvOf({ EVENTIDE_NATS: 'nats://a:4222', EVENTIDE_REPLICAS: '3' })?.replicas).toBe(3);
  });

  it.each([
    [{ EVENTIDE_NATS: 'http://a:4222' }, 'EVENTIDE_NATS must be'],
    [{ EVENTIDE_NATS: 'nats://a:4222,,nats://b:4222' }, 'EVENTIDE_NATS must be'],
    [{ EVENTIDE_NATS: 'nats://a b' }, 'EVENTIDE_NATS must be'],
    [{ EVENTIDE_NATS: 'nats://a:4222', EVENTIDE_NODE_ID: 'a.b' }, 'EVENTIDE_NODE_ID must match'],
    [{ EVENTIDE_NATS: 'nats://a:4222', EVENTIDE_GROUP: 'x'.repeat(65) }, 'EVENTIDE_GROUP must match'],
    [{ EVENTIDE_NATS: 'nats://a:4222', EVENTIDE_REPLICAS: '2' }, 'EVENTIDE_REPLICAS must be 1, 3 or 5'],
    [{ EVENTIDE_NATS: 'nats://a:4222', EVENTIDE_REPLICAS: 'three' }, 'EVENTIDE_REPLICAS must be an integer'],
    [{ EVENTIDE_NATS: 'nats://a:4222', EVENTIDE_LEASE_MS: '100' }, 'EVENTIDE_LEASE_MS must be an integer in [300, 600000]'],
    [{ EVENTIDE_NATS: 'nats://a:4222', EVENTIDE_FORWARD_TIMEOUT_MS: '0' }, 'EVENTIDE_FORWARD_TIMEOUT_MS must be an integer in [100, 600000]'],
  ])('refuses %j with one line of InvalidOptions (%s)', (env, what) => {
    const err = refusal(env);
    expect(err.code).toBe(ErrorCodes.InvalidOptions);
    expect(err.message).toContain(what);
    expect(err.message).not.toContain('\n');
  });

  it('the default node id is <hostname>-<port> in the id alphabet, at most 64 characters', () => {
    expect(defaultNodeId('box', 3000)).toBe('box-3000');
    expect(defaultNodeId('db1.example.org', 3001)).toBe('db1-example-org-3001');
    const long = defaultNodeId('h'.repeat(200), 65535);
    expect(long).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(long.endsWith('-65535')).toBe(true);
    expect(defaultNodeId('', 1)).toBe('eventide-1');
  });

  it('the runtime option: the default node id filled in, the URL announced when there is one', () => {
    const env = clusterEnvOf({ EVENTIDE_NATS: 'nats://a:4222' })!;
    expect(clusterOptions(env, 'box', 3000, 'http://127.0.0.1:3000')).toEqual({ servers: ['nats://a:4222'], group: 'eventide', nodeId: 'box-3000', replicas: 1, meta: { url: 'http://127.0.0.1:3000' } });
    expect(clusterOptions({ ...env, nodeId: 'n1', leaseMs: 900, forwardTimeoutMs: 4000 }, 'box', 3000, undefined)).toEqual({ servers: ['nats://a:4222'], group: 'eventide', nodeId: 'n1', replicas: 1, leaseMs: 900, forwardTimeoutMs: 4000 });
  });
});
