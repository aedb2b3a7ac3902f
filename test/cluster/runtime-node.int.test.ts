/**
 * The runtime as a node of the cluster (docs/cluster.md, "A node of the cluster"): two runtimes in this
 * process, each with its own local dir, in one group of 8 partitions on one nats-server. A node serves
 * exactly the partitions it holds leases for and refuses the others with `NotOwner` naming the owner;
 * closing a node hands its partitions to the other, which continues every stream where it was; a lease
 * that lapses while the main thread is stalled makes the worker refuse appends by itself.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { joinGroup } from '../../src/cluster/index.js';
import { ErrorCodes } from '../../src/kernel/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { createRuntime, type Runtime } from '../../src/runtime/index.js';
import { blockEventLoop, eachServedOnce, idPerPartition, rejection, served, startNode, waitFor } from '../support/cluster-runtime.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';
import { useTempDirs } from '../support/temp-dirs.js';

const P = 8;
const available = natsServerAvailable();
const tempDir = useTempDirs('cluster-runtime');

describe('cluster options', () => {
  it.each([
    [{ workers: 2 }, 'workers must be 1'],
    [{ log: 'memory' as const }, 'lmdb log'],
    [{ cluster: { servers: [], group: 'g', nodeId: 'n' } }, 'cluster.servers'],
    [{ cluster: { servers: 'nats://127.0.0.1:1', group: 'a.b', nodeId: 'n' } }, 'cluster.group'],
    [{ cluster: { servers: 'nats://127.0.0.1:1', group: 'g', nodeId: '' } }, 'cluster.nodeId'],
    [{ cluster: { servers: 'nats://127.0.0.1:1', group: 'g', nodeId: 'n', replicas: 2 as 1 } }, 'cluster.replicas'],
    [{ cluster: { servers: 'nats://127.0.0.1:1', group: 'g', nodeId: 'n', leaseMs: 5 } }, 'cluster.leaseMs'],
    [{ cluster: { servers: 'nats://127.0.0.1:1', group: 'g', nodeId: 'n', forwardTimeoutMs: 5 } }, 'cluster.forwardTimeoutMs'],
    [{ cluster: { servers: 'nats://127.0.0.1:1', group: 'g', nodeId: 'n', meta: 'url' as unknown as Record<string, string> } }, 'cluster.meta'],
  ])('refuses %j with InvalidOptions (%s) before anything opens', async (extra, what) => {
    const cluster = { servers: 'nats://127.0.0.1:1', group: 'g', nodeId: 'n' };
    const err = await rejection(createRuntime({ dataDir: await tempDir(), cluster, ...extra }));
    expect(err.code).toBe(ErrorCodes.InvalidOptions);
    expect(err.message).toContain(what);
  });
});

describe.skipIf(!available)(available ? 'two runtimes of one group (1 nats-server)' : `two runtimes of one group (skipped: ${NATS_MISSING})`, () => {
  let nats: NatsCluster;
  let nodes: Runtime[] = [];
  let n = 0;

  beforeAll(async () => {
    nats = await startNats(1);
  });
  afterEach(async () => {
    await Promise.allSettled(nodes.map((r) => r.close()));
    nodes = [];
  });
  afterAll(async () => {
    await nats?.stop();
  });

  async function twoNodes(leaseMs?: number): Promise<[Runtime, Runtime]> {
    const group = `rt${++n}`;
    const started = await Promise.all(['a', 'b'].map(async (nodeId) => startNode({ servers: nats.urls, group, nodeId, dataDir: await tempDir(), partitions: P, ...(leaseMs ? { leaseMs } : {}) })));
    nodes.push(...started);
    await waitFor('every partition served by exactly one node, both nodes serving', () => eachServedOnce(started, P) && started.every((r) => served(r).length > 0));
    return started as [Runtime, Runtime];
  }

  const ownerOf = (pair: readonly Runtime[], partition: number): Runtime => pair.find((r) => served(r).includes(partition))!;
  const nodeIdOf = (pair: readonly Runtime[], r: Runtime): string => (r === pair[0] ? 'a' : 'b');

  it('the group tells the holder each renewal\'s deadline (onRenewed, validUntil), which the runtime passes to its worker', async () => {
    const leaseMs = 600;
    const renewals: Array<{ p: number; epoch: number; validUntil: number; at: number }> = [];
    const group = await joinGroup({ servers: nats.urls, group: `hook${++n}`, nodeId: 'solo', partitions: 2, replicas: 1, leaseMs, onRenewed: (p, epoch, validUntil) => renewals.push({ p, epoch, validUntil, at: performance.now() }) });
    try {
      await waitFor('two renewals of each partition', () => [0, 1].every((p) => renewals.filter((r) => r.p === p).length >= 2));
      for (const p of [0, 1]) {
        const mine = renewals.filter((r) => r.p === p);
        // Each deadline is later than the one before, within a lease of when it was announced, and in the future then.
        expect(mine.every((r, i) => i === 0 || r.validUntil > mine[i - 1]!.validUntil)).toBe(true);
        expect(mine.every((r) => r.validUntil > r.at && r.validUntil <= r.at + leaseMs)).toBe(true);
        expect(mine.every((r) => r.epoch === group.epochOf(p))).toBe(true);
        expect(group.validUntil(p)).toBeGreaterThanOrEqual(mine[mine.length - 1]!.validUntil);
      }
    } finally {
      await group.close();
    }
    expect(group.validUntil(0)).toBeNull();
  });

  it('serves each partition on exactly one node, and the other refuses it with NotOwner naming the owner', async () => {
    const pair = await twoNodes();
    const ids = idPerPartition(P);
    for (const [p, id] of ids.entries()) {
      const owner = ownerOf(pair, p);
      const other = pair.find((r) => r !== owner)!;
      const opened = await owner.execute('account', id, { type: 'Open', data: { owner: 'ann' } }, { commandId: `open-${id}` });
      expect(opened.version).toBe(1);
      // The other node learns of the lease from the bucket's watcher: wait until it can name the owner.
      await waitFor(`node ${nodeIdOf(pair, other)} to name the owner of partition ${p}`, () => other.partitions()[p]!.owner === nodeIdOf(pair, owner));
      const refused = await rejection(other.execute('account', id, { type: 'Deposit', data: { amount: 1 } }));
      expect(refused.code).toBe(ErrorCodes.NotOwner);
      expect(refused.details).toMatchObject({ partition: p, owner: nodeIdOf(pair, owner) });
      expect(refused.details.retryAfterMs).toBeGreaterThan(0);
      // Reads too: never a stale answer from the other node's cache.
      for (const read of [other.load('account', id), other.load('account', id, { version: 1 }), other.history('account', id)]) {
        expect((await rejection(read)).code).toBe(ErrorCodes.NotOwner);
      }
      expect((await owner.load('account', id)).version).toBe(1);
    }
    const a = pair[0].partitions();
    expect(a.every((p) => typeof p.epoch === 'number' && p.epoch > 0)).toBe(true);
    expect(a.filter((p) => p.served).every((p) => p.owner === 'a')).toBe(true);
  });

  it('hands a closed node\'s partitions to the other, which continues every stream (no event lost, seqs contiguous, command ids kept)', async () => {
    const [a, b] = await twoNodes();
    const pair = [a, b];
    const ids = idPerPartition(P);
    const acknowledged = new Map<string, number>();
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        ids.map(async (id, p) => {
          const owner = ownerOf(pair, p);
          const r = round === 0 ? await owner.execute('account', id, { type: 'Open', data: { owner: 'ann' } }, { commandId: `open-${id}` }) : await owner.execute('account', id, { type: 'Deposit', data: { amount: round } }, { commandId: `dep-${id}-${round}` });
          acknowledged.set(id, r.version);
        }),
      );
    }
    const fromA = ids.filter((id) => served(a).includes(partitionOf(id, P)));
    expect(fromA.length).toBeGreaterThan(0);

    await a.close();
    nodes = [b];
    await waitFor('node b to serve every partition', () => served(b).length === P);

    for (const id of ids) {
      const history = await b.history('account', id);
      expect(history.map((e) => e.seq)).toEqual(Array.from({ length: acknowledged.get(id)! }, (_, i) => i + 1));
      // Idempotency survives the move: the retry of a command acknowledged by node a is a duplicate on b.
      const retry = await b.execute('account', id, { type: 'Deposit', data: { amount: 2 } }, { commandId: `dep-${id}-2` });
      expect(retry.duplicate).toBe(true);
      expect(retry.version).toBe(3);
      const next = await b.execute('account', id, { type: 'Deposit', data: { amount: 10 } });
      expect(next.version).toBe(acknowledged.get(id)! + 1);
      expect((await b.load('account', id)).version).toBe(acknowledged.get(id)! + 1);
    }
  });

  it('a node joining under load takes its share without fencing the other: each deposit applied once, no worker restart', async () => {
    const group = `rt${++n}`;
    const restarts: string[] = [];
    const a = await startNode({ servers: nats.urls, group, nodeId: 'a', dataDir: await tempDir(), partitions: P, runtime: { onWorkerRestart: (_w, reason) => restarts.push(reason) } });
    nodes.push(a);
    await waitFor('node a to serve every partition', () => served(a).length === P);
    const ids = idPerPartition(P);
    for (const id of ids) await a.execute('account', id, { type: 'Open', data: { owner: 'ann' } });

    // Clients send deposits to whichever node serves the account, retrying each with its command id
    // while the partitions move; b joins meanwhile.
    let b: Runtime | undefined;
    let stop = false;
    const refusals = new Map<string, number>();
    const applied = new Map<string, number>(ids.map((id) => [id, 0]));
    const client = async (id: string): Promise<void> => {
      for (let i = 0; !stop; i++) {
        for (;;) {
          const target = [a, b].find((r) => r !== undefined && served(r).includes(partitionOf(id, P)));
          const outcome = target ? await target.execute('account', id, { type: 'Deposit', data: { amount: 1 } }, { commandId: `${id}-${i}` }).then(() => 'ok', (e: { code?: string }) => e.code ?? 'error') : 'none';
          if (outcome === 'ok') break;
          refusals.set(outcome, (refusals.get(outcome) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 20));
        }
        applied.set(id, i + 1);
      }
    };
    const load = Promise.all(ids.map(client));
    b = await startNode({ servers: nats.urls, group, nodeId: 'b', dataDir: await tempDir(), partitions: P });
    nodes.push(b);
    await waitFor('every partition served by exactly one node, both serving', () => eachServedOnce([a, b!], P) && served(b!).length > 0);
    // A few more deposits per account after the move, then the clients stop.
    const settled = new Map(applied);
    await waitFor('three more deposits on every account', () => ids.every((id) => applied.get(id)! >= settled.get(id)! + 3));
    stop = true;
    await load;

    // Only "not here (yet)" refusals while partitions moved: nothing fenced, no worker replaced.
    expect([...refusals.keys()].filter((code) => code !== ErrorCodes.NotOwner && code !== 'none')).toEqual([]);
    expect(restarts).toEqual([]);
    for (const [p, id] of ids.entries()) {
      const owner = ownerOf([a, b], p);
      expect((await owner.history('account', id)).map((e) => e.seq)).toEqual(Array.from({ length: applied.get(id)! + 1 }, (_, i) => i + 1));
    }
  });

  it('a worker refuses appends once its lease lapsed, even while the main thread is stalled and cannot tell it', async () => {
    const leaseMs = 900;
    const pair = await twoNodes(leaseMs);
    const [a] = pair;
    const id = idPerPartition(P).find((x) => served(a).includes(partitionOf(x, P)))!;
    const p = partitionOf(id, P);
    expect((await a.execute('account', id, { type: 'Open', data: { owner: 'ann' } })).version).toBe(1);

    // The main thread admits the command (it still serves p), then stalls for three leases before the
    // command reaches the worker: no renewal can reach the worker meanwhile.
    const late = a.execute('account', id, { type: 'Deposit', data: { amount: 5 } });
    blockEventLoop(3 * leaseMs);
    // Sends what is queued to the worker now (stats has no partition to check), and stays stalled a while
    // longer, so the worker decides it before this thread can send the revoke.
    void a.stats();
    blockEventLoop(leaseMs);
    const err = await rejection(late);
    // Refused by the worker itself (the main thread had admitted it): its copy of the deadline had passed
    // (or, on a box too busy to run the worker in time, the revoke sent after the stall came first).
    expect(err.code).toBe(ErrorCodes.NotOwner);
    expect(err.message).toMatch(/lease was not renewed in time|no lease on it/);

    // Afterwards the group settles again (node a takes its partitions back, or b takes them) and the
    // stream shows the refused deposit nowhere: one event, and the next command is version 2.
    await waitFor('every partition served by exactly one node again', () => eachServedOnce(pair, P));
    const owner = ownerOf(pair, p);
    expect((await owner.history('account', id)).map((e) => e.seq)).toEqual([1]);
    expect((await owner.execute('account', id, { type: 'Deposit', data: { amount: 1 } })).version).toBe(2);
  });

  it('a batch refused for want of a lease (Fenced) restarts the worker, which is given its partitions again', async () => {
    const leaseMs = 900;
    const group = `rt${++n}`;
    const restarts: string[] = [];
    const a = await startNode({ servers: nats.urls, group, nodeId: 'a', dataDir: await tempDir(), partitions: P, leaseMs, runtime: { onWorkerRestart: (_w, reason) => restarts.push(reason) } });
    nodes.push(a);
    await waitFor('node a to serve every partition', () => served(a).length === P);
    const id = idPerPartition(P)[0]!;
    expect((await a.execute('account', id, { type: 'Open', data: { owner: 'ann' } })).version).toBe(1);

    // NATS stops answering with one batch on its way to it and a second one queued behind it (publishes
    // are one at a time): the lease lapses meanwhile, so the second one finds no lease when its turn comes.
    nats.pause(0);
    const first = a.execute('account', id, { type: 'Deposit', data: { amount: 1 } }, { commandId: 'first' });
    await new Promise((r) => setTimeout(r, 50));
    const second = a.execute('account', id, { type: 'Deposit', data: { amount: 2 } }, { commandId: 'second' });
    await waitFor('node a to stop serving on its lapsed lease', () => served(a).length === 0);
    nats.resume(0);
    // The first may be answered with the log's failure too (answered after the log failed: its outcome is
    // unknown to the caller); the retries below find out.
    const outcomes = await Promise.allSettled([first, second]);
    const secondErr = outcomes[1].status === 'rejected' ? (outcomes[1].reason as { code?: string }).code : 'ok';
    expect([ErrorCodes.Fenced, ErrorCodes.NotOwner, ErrorCodes.WorkerCrashed]).toContain(secondErr);

    await waitFor('a fresh worker serving every partition again', () => restarts.length > 0 && served(a).length === P);
    expect(restarts[0]).toContain('fenced');
    // Whatever landed is in the log once, in order; retries with the same command ids apply at most once.
    for (const commandId of ['first', 'second']) await a.execute('account', id, { type: 'Deposit', data: { amount: commandId === 'first' ? 1 : 2 } }, { commandId });
    const seqs = (await a.history('account', id)).map((e) => e.seq);
    expect(seqs).toEqual([1, 2, 3]);
  });
});
