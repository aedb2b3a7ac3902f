/**
 * How soon a node's subscribers see what another node wrote (docs/cluster.md, "Following"): two
 * cluster-mode runtimes in this process on one private nats-server, node b executes commands one at a
 * time on the partitions it serves, and a subscriber on node a notes when each event reaches it. The
 * figure is from node b's acknowledgement to node a's subscriber (0 when node a saw it first: node b
 * acknowledges after its own local commit, node a's follower applies as soon as JetStream delivers).
 * Then node b leaves, and the time until node a serves every partition (its takeovers: catch-up and
 * marker each) is printed.
 *
 *   node --import tsx bench/tools/follow-latency.ts [commands=300]
 *
 * Both nodes share this process (one event loop, two worker threads): real nodes have a machine each.
 */
import { startNats } from '../../test/support/nats-servers.js';
import { eachServedOnce, idPerPartition, served, startNode, waitFor } from '../../test/support/cluster-runtime.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

const P = 8;
const commands = Number(process.argv[2] ?? 300);
const nats = await startNats(1);
const dirs = [makeTempDir('follow-a'), makeTempDir('follow-b')];
try {
  const [a, b] = await Promise.all(['a', 'b'].map((nodeId, i) => startNode({ servers: nats.urls, group: 'follow-latency', nodeId, dataDir: dirs[i]!, partitions: P })));
  await waitFor('both nodes serving', () => eachServedOnce([a!, b!], P) && served(a!).length > 0 && served(b!).length > 0);
  const ids = idPerPartition(P);
  const ofB = served(b!);
  const seenAt = new Map<string, number>();
  a!.subscribe((events) => {
    const t = performance.now();
    for (const e of events) seenAt.set(`${e.stream}#${e.seq}`, t);
  });
  for (const p of ofB) await b!.execute('account', ids[p]!, { type: 'Open', data: { owner: 'x' } });
  const lat: number[] = [];
  for (let i = 0; i < commands; i++) {
    const id = ids[ofB[i % ofB.length]!]!;
    const r = await b!.execute('account', id, { type: 'Deposit', data: { amount: 1 } });
    const acked = performance.now();
    const key = `${id}#${r.version}`;
    while (!seenAt.has(key)) await new Promise((res) => setTimeout(res, 0));
    lat.push(Math.max(0, seenAt.get(key)! - acked));
  }
  lat.sort((x, y) => x - y);
  const q = (f: number): string => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]!.toFixed(2);
  console.log(`ack on node b -> subscriber on node a, ${lat.length} commands one at a time: p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${lat.at(-1)!.toFixed(2)} ms`);
  const t0 = performance.now();
  await b!.close();
  await waitFor('node a serving every partition', () => served(a!).length === P);
  console.log(`node b closed -> node a serving all ${P} partitions: ${(performance.now() - t0).toFixed(0)} ms (${ofB.length} taken over)`);
  await a!.close();
} finally {
  await nats.stop();
  for (const d of dirs) removeTempDir(d);
}
