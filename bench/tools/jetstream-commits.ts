/**
 * Commits on the JetStream log (src/log/jetstream/), on a 1-node and a 3-node JetStream cluster on
 * loopback (private nats-servers, test/support/nats-servers.ts): deposits in batches over partitions,
 *
 *   node --import tsx bench/tools/jetstream-commits.ts [deposits=10000] [batch=64] [partitions=8]
 *
 * Two ways of handing batches over: one at a time (each commit awaited: the per-batch latency, p50 and
 * p99) and all at once (the actor host's pipelining: the log serializes publishes per log, so this is
 * the throughput of one writer). Beside them, JetStream's own rate for the same message count: one
 * conditional publish per message of the same size, awaited one by one, from the same client library.
 * The local cache is an LmdbLog in a temp dir, `sync` durability unless CACHE_DURABILITY=commit; the
 * same batches on that LmdbLog alone come first (what a commit pays locally).
 */
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { openJetStreamLog, type JetStreamLog, LmdbLog, type EventLog } from '../../src/log/index.js';
import { startNats } from '../../test/support/nats-servers.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

const DEPOSITS = Number(process.argv[2] ?? 10_000);
const BATCH = Number(process.argv[3] ?? 64);
const PARTITIONS = Number(process.argv[4] ?? 8);

function staged(log: EventLog, writer: ReturnType<EventLog['openWriter']>, versions: Map<string, number>, first: number) {
  const out = [];
  for (let i = first; i < Math.min(first + BATCH, DEPOSITS); i++) {
    const id = `acc-${i % 1000}`;
    const v = versions.get(id) ?? 0;
    out.push(writer.stageAppend({ aggregateType: 'account', stream: id, partition: (i % 1000) % log.partitions, expectedVersion: v, events: [{ type: 'Deposited', data: { amount: 10, currency: 'EUR' } }], ts: 1_700_000_000_000 + i, meta: { commandId: `cmd-${i}` }, commandId: `cmd-${i}` }));
    versions.set(id, v + 1);
  }
  return out;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Hands the deposits to `log` in batches, one at a time or all at once; prints events/s and per-batch latency. */
async function commits(label: string, log: EventLog, mode: 'awaited' | 'pipelined'): Promise<void> {
  const writer = log.openWriter('bench', log.claimOwnership('bench'), Array.from({ length: PARTITIONS }, (_, p) => p));
  const versions = new Map<string, number>();
  const latencies: number[] = [];
  const t0 = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < DEPOSITS; i += BATCH) {
    const s = staged(log, writer, versions, i);
    const b0 = performance.now();
    const done = writer.commit(s).then(() => latencies.push(performance.now() - b0));
    if (mode === 'awaited') await done;
    else pending.push(done);
  }
  await Promise.all(pending);
  const ms = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  console.log(`${label.padEnd(8)} ${mode.padEnd(9)}  ${DEPOSITS} deposits, batches of ${BATCH} over ${PARTITIONS} partitions: ${Math.round((DEPOSITS / ms) * 1000)} events/s; per batch p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms`);
}

/** The cache alone: the embedded LmdbLog with the same batches (what a JetStream commit pays locally). */
async function embedded(): Promise<void> {
  for (const mode of ['awaited', 'pipelined'] as const) {
    const dir = makeTempDir('jetstream-bench');
    const log = LmdbLog.open(dir, { partitions: PARTITIONS, durability: (process.env.CACHE_DURABILITY ?? 'sync') as 'sync' | 'commit' });
    await commits('LMDB', log, mode);
    await log.close();
    removeTempDir(dir);
  }
}

async function run(size: 1 | 3): Promise<void> {
  const nats = await startNats(size);
  const dirs: string[] = [];
  try {
    for (const mode of ['awaited', 'pipelined'] as const) {
      const dir = makeTempDir("jetstream-bench");
      dirs.push(dir);
      const log = await openJetStreamLog({ servers: nats.urls, name: `bench_${mode}`, partitions: PARTITIONS, replicas: size, localDir: dir, durability: (process.env.CACHE_DURABILITY ?? 'sync') as 'sync' | 'commit' });
      await commits(`${size}-node`, log, mode);
      await log.close();
    }
    // JetStream alone: as many conditional publishes of the same size, one stream, awaited one by one.
    const nc = await connect({ servers: nats.urls });
    await (await jetstreamManager(nc)).streams.add({ name: 'RAW', subjects: ['raw'], storage: StorageType.File, num_replicas: size });
    const js = jetstream(nc);
    const count = Math.ceil(DEPOSITS / BATCH) * Math.min(PARTITIONS, BATCH);
    const payload = new Uint8Array(Math.ceil((BATCH / Math.min(PARTITIONS, BATCH)) * 80));
    const t0 = performance.now();
    for (let i = 0; i < count; i++) await js.publish('raw', payload, { expect: { lastSequence: i } });
    const ms = performance.now() - t0;
    console.log(`${size}-node  raw        ${count} conditional publishes of ${payload.length} bytes awaited one by one: ${Math.round((count / ms) * 1000)} msgs/s, ${((ms / count) * 1000).toFixed(0)} µs each`);
    await nc.close();
  } finally {
    await nats.stop();
    for (const d of dirs) removeTempDir(d);
  }
}

await embedded();
await run(1);
await run(3);
