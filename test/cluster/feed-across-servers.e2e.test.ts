/**
 * The WebSocket feed in cluster mode (issue 14 item 3): every server follows every partition from
 * JetStream (docs/cluster.md, "Following"), so a feed client on any server gets every partition's
 * events, at the same offsets on every server, and a client may resume on another server from the
 * position it had: no gap, no duplicate. Two eventide servers started as `npm start` starts one, one
 * nats-server under them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idPerPartition } from '../support/cluster-runtime.js';
import { assertExactlyOnce, assertPositionsFollowEvents, FeedRecorder, type FeedEvent } from '../support/feed-recorder.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';
import { partitionsOf, sharing, startClusterServers, stopClusterServers, type ClusterServer } from '../support/cluster-servers.js';

const P = 4;
const available = natsServerAvailable();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


describe.skipIf(!available)(available ? 'the feed of a cluster' : `the feed of a cluster (skipped: ${NATS_MISSING})`, () => {
  let nats: NatsCluster;
  let servers: ClusterServer[] = [];
  const ids = idPerPartition(P, 'feedacct');

  /** A command through `url`, retried (same body, same commandId) while a partition changes hands. */
  const send = async (url: string, id: string, body: Record<string, unknown>): Promise<void> => {
    const until = performance.now() + 60_000;
    for (;;) {
      const res = await fetch(`${url}/aggregates/account/${id}/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status === 200) return;
      if (res.status !== 503 || performance.now() > until) throw new Error(`${id}: ${res.status} ${await res.text()}`);
      await sleep(500);
    }
  };
  /** Every partition's head, once both servers agree on it (the follower caught up). */
  const agreedHeads = async (): Promise<number[]> => {
    const until = performance.now() + 60_000;
    for (;;) {
      const [a, b] = await Promise.all(servers.map((s) => partitionsOf(s.url)));
      const ha = a!.partitions.map((p) => p.offset);
      if (JSON.stringify(ha) === JSON.stringify(b!.partitions.map((p) => p.offset))) return ha;
      if (performance.now() > until) throw new Error(`the servers never agreed on the heads: ${JSON.stringify([a, b])}`);
      await sleep(200);
    }
  };
  const positionOf = (heads: number[]): string => heads.join('.');
  /** (partition, offset) -> stream and seq: what the log says an offset holds. */
  const placeOf = (e: FeedEvent): string => `${e.partition}:${e.offset}=${e.stream}#${e.seq}:${e.type}`;

  beforeAll(async () => {
    nats = await startNats(1);
    servers = await startClusterServers(['f1', 'f2'], { natsUrl: nats.urls[0]!, partitions: P, group: `feed${process.pid}` });
    await sharing(servers);
  }, 180_000);

  afterAll(async () => {
    await stopClusterServers(servers);
    await nats?.stop();
  }, 60_000);

  it('a client on either server gets every partition\'s events once, at the same offsets, and resumes on the other server with no gap and no duplicate', async () => {
    const [f1, f2] = servers as [ClusterServer, ClusterServer];
    // Accounts on every partition, written through f1 (those f2 owns are forwarded): both servers write.
    for (const id of ids) {
      await send(f1.url, id, { type: 'Open', data: { owner: id }, commandId: `open-${id}` });
      for (let k = 0; k < 3; k++) await send(f1.url, id, { type: 'Deposit', data: { amount: 1 + k }, commandId: `dep-${k}-${id}` });
    }
    const heads = await agreedHeads();
    expect(heads.every((h) => h > 0)).toBe(true);

    const fromStart = servers.map((s) => new FeedRecorder(`${s.url.replace('http', 'ws')}/feed?from=start`));
    const total = heads.reduce((a, b) => a + b, 0);
    await Promise.all(fromStart.map((c) => c.until(() => c.events.length >= total)));
    for (const c of fromStart) {
      assertExactlyOnce(c.events, new Array(P).fill(0), heads);
      assertPositionsFollowEvents(c);
      expect(c.position).toBe(positionOf(heads));
    }
    // The same offsets hold the same events on both servers.
    expect(fromStart[0]!.events.map(placeOf).sort()).toEqual(fromStart[1]!.events.map(placeOf).sort());
    for (const c of fromStart) c.close();

    // A client of f2 leaves at its position; more events are written, now through f2; it comes back on f1.
    const left = fromStart[1]!.position;
    for (const id of ids) await send(f2.url, id, { type: 'Deposit', data: { amount: 10 }, commandId: `dep-late-${id}` });
    const later = await agreedHeads();
    const resumed = new FeedRecorder(`${f1.url.replace('http', 'ws')}/feed?from=${left}`);
    const more = later.reduce((a, b) => a + b, 0) - total;
    await resumed.until(() => resumed.events.length >= more);
    assertExactlyOnce(resumed.events, left.split('.').map(Number), later);
    expect(resumed.events.every((e) => e.type === 'Deposited' && (e.data as { amount: number }).amount === 10)).toBe(true);
    resumed.close();
  }, 180_000);
});
