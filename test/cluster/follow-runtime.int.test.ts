/**
 * Every node's cache follows every partition (docs/cluster.md, "Following"): two runtimes of one group in
 * this process on one nats-server. A subscriber on node a receives node b's events too, in offset order
 * per partition, at the offsets node b gave them; node a's `runtime.log` and `partitions()` show node b's
 * partitions as node b does (with `lag`), while loads and history of them stay `NotOwner`. When node b
 * leaves, node a takes its partitions from where it followed them, and the subscriber goes on with no
 * gap and no duplicate.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/kernel/index.js';
import { partitionOf } from '../../src/partition/index.js';
import type { Runtime } from '../../src/runtime/index.js';
import { eachServedOnce, idPerPartition, rejection, served, startNode, waitFor } from '../support/cluster-runtime.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';
import { useTempDirs } from '../support/temp-dirs.js';
import { withViews } from '../support/projections-runtime.js';
import { eventCountView, type EventCountRow } from '../support/projections-event-count-view.js';

const P = 6;
const available = natsServerAvailable();
const tempDir = useTempDirs('cluster-follow');

/** What identifies an event across nodes. */
const key = (e: EventEnvelope): string => `${e.partition}@${e.offset}:${e.aggregateType}/${e.stream}#${e.seq}:${e.type}`;

describe.skipIf(!available)(available ? 'every node follows every partition (1 nats-server)' : `every node follows every partition (skipped: ${NATS_MISSING})`, () => {
  let nats: NatsCluster;
  let nodes: Runtime[] = [];

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

  it('a subscriber on one node receives the other node\'s events in order at the same offsets; the partitions move with no gap and no duplicate', { timeout: 120_000 }, async () => {
    const [a, b] = await Promise.all(['a', 'b'].map(async (nodeId) => startNode({ servers: nats.urls, group: 'follow1', nodeId, dataDir: await tempDir(), partitions: P })));
    nodes.push(a!, b!);
    await waitFor('every partition served by exactly one node, both serving', () => eachServedOnce([a!, b!], P) && served(a!).length > 0 && served(b!).length > 0);
    const pair = [a!, b!] as const;
    const ownerOf = (p: number): Runtime => pair.find((r) => served(r).includes(p))!;
    const seen: EventEnvelope[] = [];
    a!.subscribe((events) => seen.push(...events));

    const ids = idPerPartition(P);
    const round = async (r: number) => {
      await Promise.all(ids.map((id, p) => ownerOf(p).execute('account', id, r === 0 ? { type: 'Open', data: { owner: 'ann' } } : { type: 'Deposit', data: { amount: r } }, { commandId: `${id}-${r}` })));
    };
    for (let r = 0; r < 4; r++) await round(r);

    const ofB = served(b!);
    const bHeads = () => ofB.map((p) => b!.partitions()[p]!.offset);
    await waitFor('node a to have announced every event of node b\'s partitions', () => ofB.every((p, i) => seen.filter((e) => e.partition === p).length === bHeads()[i]), 30_000);
    b!.log.refreshReads();
    for (const p of ofB) {
      const mine = b!.log.readPartition(p, 0, 1_000).map(key);
      // In offset order, each once, exactly what node b wrote at the offsets it gave them.
      expect(seen.filter((e) => e.partition === p).map(key)).toEqual(mine);
      a!.log.refreshReads();
      expect(a!.log.readPartition(p, 0, 1_000).map(key)).toEqual(mine);
      const info = a!.partitions()[p]!;
      expect(info).toMatchObject({ served: false, offset: b!.partitions()[p]!.offset, owner: 'b' });
      await waitFor(`partition ${p}'s lag on node a to be 0`, () => a!.partitions()[p]!.lag === 0, 10_000);
      // Reads of a partition another node serves are still refused (forwarded by the server), never answered from the cache.
      const id = ids[p]!;
      expect((await rejection(a!.load('account', id))).code).toBe('NotOwner');
      expect((await rejection(a!.history('account', id))).code).toBe('NotOwner');
    }

    // Node b leaves: node a serves everything, from where it followed, and the subscriber goes on.
    await b!.close();
    nodes = [a!];
    await waitFor('node a to serve every partition', () => served(a!).length === P);
    for (let r = 4; r < 6; r++) await Promise.all(ids.map((id) => a!.execute('account', id, { type: 'Deposit', data: { amount: r } }, { commandId: `${id}-${r}` })));
    for (let p = 0; p < P; p++) {
      const events = seen.filter((e) => e.partition === p);
      // Offsets 0..n-1, each once, in order, across the move; every stream's seqs contiguous.
      expect(events.map((e) => e.offset)).toEqual(events.map((_, i) => i));
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(a!.partitions()[p]).toMatchObject({ served: true, offset: events.length });
      expect(a!.partitions()[p]!.lag).toBeUndefined();
      expect(partitionOf(ids[p]!, P)).toBe(p);
      expect((await a!.load('account', ids[p]!)).version).toBe(6);
    }
  });

  it('the views of every node hold every partition: applied once each from the followed cache, and on from there once a node takes the partition over', { timeout: 120_000 }, async () => {
    const runtime = withViews([eventCountView]);
    const [a, b] = await Promise.all(['a', 'b'].map(async (nodeId) => startNode({ servers: nats.urls, group: 'follow2', nodeId, dataDir: await tempDir(), partitions: P, runtime })));
    nodes.push(a!, b!);
    await waitFor('every partition served by exactly one node, both serving', () => eachServedOnce([a!, b!], P) && served(a!).length > 0 && served(b!).length > 0);
    const pair = [a!, b!] as const;
    const ownerOf = (p: number): Runtime => pair.find((r) => served(r).includes(p))!;
    const ids = idPerPartition(P);
    for (let r = 0; r < 4; r++) await Promise.all(ids.map((id, p) => ownerOf(p).execute('account', id, r === 0 ? { type: 'Open', data: { owner: 'ann' } } : { type: 'Deposit', data: { amount: r } })));
    /** The event-count row of `id` in a node's active generation of the view. */
    const row = (node: Runtime, id: string): EventCountRow | undefined => {
      node.log.refreshReads();
      return node.log.views.getRow<EventCountRow>('event-counts', node.log.views.meta('event-counts').active, id);
    };
    // Each node's view counts every account's 4 events once, whichever node wrote them.
    for (const node of pair) await waitFor('every account counted 4 times on the node', () => ids.every((id) => row(node, id)?.events === 4), 30_000);
    for (const id of ids) expect(row(a!, id)).toEqual({ events: 4, lastSeq: 4 });

    await b!.close();
    nodes = [a!];
    await waitFor('node a to serve every partition', () => served(a!).length === P);
    for (const id of ids) await a!.execute('account', id, { type: 'Deposit', data: { amount: 9 } });
    await waitFor('node a\'s view to count the deposits made after the move', () => ids.every((id) => row(a!, id)?.events === 5), 30_000);
    for (const id of ids) expect(row(a!, id)).toEqual({ events: 5, lastSeq: 5 });
  });
});
