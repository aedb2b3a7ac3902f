/**
 * Forwarded `execute` calls (src/cluster/forwarding.ts) through one private nats-server on loopback,
 * with a trivial handler (answers a fixed command result of two events): what forwarding itself costs,
 *
 *   node --import tsx bench/tools/forwarding-rtt.ts [calls=5000] [concurrency=64]
 *
 * Two runs: one call at a time (the round trip: p50 and p99), and `concurrency` calls in flight (the
 * requests/s one forwarder gets through one serving node). Sender and server are two connections in
 * this one process, so both ends share its event loop: a real pair of servers has a core each.
 */
import { connect } from '@nats-io/transport-node';
import { forwardTo, serveNode, type CommandResultJson, type ExecuteRequest } from '../../src/cluster/index.js';
import { startNats } from '../../test/support/nats-servers.js';

const CALLS = Number(process.argv[2] ?? 5000);
const CONCURRENCY = Number(process.argv[3] ?? 64);

const event = (seq: number) => ({ aggregateType: 'account', stream: 'acc-1', type: 'Deposited', seq, data: { amount: 10, currency: 'EUR' }, ts: '2026-12-01T10:00:00.000Z', partition: 3, offset: seq, meta: { commandId: `cmd-${seq}` } });
const result: CommandResultJson = { id: 'acc-1', type: 'account', version: 2, events: [event(1), event(2)], state: { balance: 20, currency: 'EUR' } };
const request = (i: number): ExecuteRequest => ({ op: 'execute', aggregateType: 'account', id: `acc-${i % 1000}`, command: { type: 'Deposit', data: { amount: 10, currency: 'EUR' } }, options: { commandId: `cmd-${i}` } });

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const nats = await startNats(1);
const sender = await connect({ servers: nats.urls, name: 'bench-sender' });
const owner = await connect({ servers: nats.urls, name: 'bench-owner' });
try {
  const service = await serveNode({
    connection: owner,
    group: 'bench',
    nodeId: 'owner',
    maxInFlight: Math.max(1024, CONCURRENCY),
    handler: { execute: async () => result, load: async () => ({ id: 'acc-1', type: 'account', version: 2, state: {} }), history: async () => ({ events: [] }) },
  });
  const call = (i: number) => forwardTo({ connection: sender, group: 'bench', nodeId: 'owner', request: request(i), timeoutMs: 10_000, origin: 'sender' });
  for (let i = 0; i < 500; i++) await call(i); // warm-up (JIT, connections)

  const latencies: number[] = [];
  let t0 = performance.now();
  for (let i = 0; i < CALLS; i++) {
    const c0 = performance.now();
    await call(i);
    latencies.push(performance.now() - c0);
  }
  const sequential = performance.now() - t0;
  latencies.sort((x, y) => x - y);

  let next = 0;
  t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CALLS) await call(next++);
    }),
  );
  const concurrent = performance.now() - t0;

  console.log(`nats-server ${owner.info?.version ?? '?'}, node ${process.version}, ${CALLS} forwarded execute calls`);
  console.log(`one at a time: p50 ${(quantile(latencies, 0.5) * 1000).toFixed(0)} µs, p99 ${(quantile(latencies, 0.99) * 1000).toFixed(0)} µs, ${Math.round(CALLS / (sequential / 1000))} calls/s`);
  console.log(`${CONCURRENCY} in flight: ${Math.round(CALLS / (concurrent / 1000))} calls/s`);
  await service.close();
} finally {
  await sender.close();
  await owner.close();
  await nats.stop();
}
