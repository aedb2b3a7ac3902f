/**
 * One process, one nats-server (replicas 1): the group's API and its edge cases that need no second
 * process. The multi-process scenarios (spread, join, kill -9, SIGSTOP, leave, a nats-server dying)
 * are in ownership.e2e.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { joinGroup, type GroupOptions, type PartitionGroup } from '../../src/cluster/index.js';
import { ErrorCodes, RuntimeError } from '../../src/kernel/index.js';
import { waitFor } from '../support/cluster-members.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';

const available = natsServerAvailable();
let nats: NatsCluster;
let groups: PartitionGroup[] = [];
let n = 0;

async function join(options: Partial<GroupOptions> & { group: string; nodeId: string }): Promise<PartitionGroup> {
  const g = await joinGroup({ servers: nats.urls, partitions: 4, replicas: 1, leaseMs: 1500, ...options });
  groups.push(g);
  return g;
}

function codeOf(err: unknown): string | undefined {
  return RuntimeError.is(err) ? err.code : undefined;
}

describe('joinGroup options', () => {
  it.each([
    [{ group: 'a.b', nodeId: 'n', partitions: 4, servers: 'nats://127.0.0.1:1' }, 'group'],
    [{ group: 'g', nodeId: '', partitions: 4, servers: 'nats://127.0.0.1:1' }, 'nodeId'],
    [{ group: 'g', nodeId: 'n', partitions: 0, servers: 'nats://127.0.0.1:1' }, 'partitions'],
    [{ group: 'g', nodeId: 'n', servers: 'nats://127.0.0.1:1' }, 'partitions'],
    [{ group: 'g', nodeId: 'n', partitions: 4 }, 'servers'],
    [{ group: 'g', nodeId: 'n', partitions: 4, servers: 'nats://127.0.0.1:1', leaseMs: 10 }, 'leaseMs'],
    [{ group: 'g', nodeId: 'n', partitions: 4, servers: 'nats://127.0.0.1:1', leaseMs: 3000, marginMs: 1001 }, 'marginMs'],
    [{ group: 'g', nodeId: 'n', partitions: 4, servers: 'nats://127.0.0.1:1', replicas: 2 }, 'replicas'],
  ])('refuses %j (InvalidOptions naming %s) before connecting', async (options, name) => {
    const err = await joinGroup(options as GroupOptions).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(ErrorCodes.InvalidOptions);
    expect((err as Error).message).toContain(name);
  });
});

describe.skipIf(!available)(available ? 'a partition group in one process (1 nats-server)' : `a partition group in one process (1 nats-server) (skipped: ${NATS_MISSING})`, () => {
  beforeAll(async () => {
    nats = await startNats(1);
  });
  afterEach(async () => {
    await Promise.all(groups.map((g) => g.close()));
    groups = [];
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('answers Unavailable when NATS cannot be reached', async () => {
    const err = await joinGroup({ servers: 'nats://127.0.0.1:1', group: 'g', nodeId: 'n', partitions: 4, joinTimeoutMs: 0 }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(ErrorCodes.Unavailable);
  });

  it('refuses a member started with another partition count than the group has', async () => {
    const group = `cfg${++n}`;
    await join({ group, nodeId: 'a' });
    const err = await joinGroup({ servers: nats.urls, group, nodeId: 'b', partitions: 8, replicas: 1 }).catch((e: unknown) => e);
    expect(codeOf(err)).toBe(ErrorCodes.InvalidOptions);
    expect((err as Error).message).toContain('4 partitions');
  });

  it('counts a partition as served only once onAcquired resolved (the catch-up)', async () => {
    const group = `catch${++n}`;
    const release: Array<() => void> = [];
    const acquired: Array<[number, number]> = [];
    const g = await join({
      group,
      nodeId: 'a',
      onAcquired: (p, epoch) => {
        acquired.push([p, epoch]);
        return new Promise<void>((resolve) => release.push(resolve));
      },
    });
    await waitFor('all four acquired', () => acquired.length === 4);
    expect(acquired.map(([, epoch]) => epoch)).toEqual([1, 1, 1, 1]);
    expect(g.owned()).toEqual([]);
    expect([0, 1, 2, 3].map((p) => g.epochOf(p))).toEqual([null, null, null, null]);
    // Meanwhile the lease is held (and renewed) in this node's name: others would forward here.
    expect(g.ownerOf(0)).toEqual({ nodeId: 'a', epoch: 1 });
    for (const r of release) r();
    await waitFor('all four served', () => g.owned().length === 4);
    expect([0, 1, 2, 3].map((p) => g.epochOf(p))).toEqual([1, 1, 1, 1]);
    expect(g.members()).toEqual([{ nodeId: 'a', meta: {} }]);
  });

  it('stops serving on the very next question after its event loop was stuck past the lease, before any timer ran', async () => {
    const group = `stuck${++n}`;
    const revoked: Array<[number, number, string]> = [];
    const g = await join({ group, nodeId: 'a', onRevoked: (p, epoch, reason) => void revoked.push([p, epoch, reason]) });
    await waitFor('all four served', () => g.owned().length === 4);
    const until = performance.now() + 1600; // > leaseMs: no renewal, no timer can run meanwhile
    while (performance.now() < until) {
      // busy: what a SIGSTOP, a long GC pause or a synchronous loop does to the process
    }
    expect(g.epochOf(0)).toBeNull();
    expect(revoked.map(([p, , reason]) => [p, reason])).toEqual([
      [0, 'expired'],
      [1, 'expired'],
      [2, 'expired'],
      [3, 'expired'],
    ]);
    // Nobody wrote the keys since: it takes them straight back, with the next epoch.
    await waitFor('served again', () => g.owned().length === 4);
    expect([0, 1, 2, 3].map((p) => g.epochOf(p))).toEqual([2, 2, 2, 2]);
  });

  it('leave() hands everything over at once: the other member takes the partitions with the next epoch', async () => {
    const group = `leave${++n}`;
    const a = await join({ group, nodeId: 'a', leaseMs: 60_000 });
    await waitFor('a serves all', () => a.owned().length === 4);
    const b = await join({ group, nodeId: 'b', leaseMs: 60_000 });
    await waitFor('2/2', () => a.owned().length === 2 && b.owned().length === 2);
    const aHeld = a.owned().map((p) => [p, a.epochOf(p)!] as const);
    await a.leave();
    // A lapse would take a minute: only the release explains b serving all four now.
    await waitFor('b serves all', () => b.owned().length === 4, 30_000);
    for (const [p, epoch] of aHeld) expect(b.epochOf(p)).toBe(epoch + 1);
    await waitFor('b sees only itself', () => b.members().map((m) => m.nodeId).join() === 'b');
    expect(a.owned()).toEqual([]);
  });
});

