/**
 * JetStream's own publish rate, the cluster figures' baseline: a `nats bench`-like publisher with the
 * npm client (`@nats-io/jetstream`), in a process of its own (spawned by suites/cluster.ts), on the
 * nats-servers the eventide servers then use, in the same run.
 *
 *   node --import tsx bench/suites/cluster-publish-child.ts '<json PublishConfig>'
 *
 * Per target (the servers and a replica count), one stream (file storage, that many copies, created for the run and
 * deleted after), one subject;
 * every message is what the JetStream log publishes for one partition of one batch: the msgpack of
 * `commandsPerMessage` one-event Deposit commands (`encodeCommand`, the log's own encoder) with the
 * log's headers (offsets, epochs, writer, CRC) and a `Nats-Msg-Id`. Two ways, one after the other:
 * - **one at a time**: each publish conditional on the stream's last sequence (as the log publishes)
 *   and awaited before the next: the publish-ack latency, hence the most batches per second one
 *   partition's writer can commit;
 * - **in flight**: `inFlight` publishes outstanding at once (no condition: a pipeline of conditional
 *   publishes is what the log does not do): the rate JetStream takes from one client.
 * Prints one JSON line (an array of PublishReport, one per target). CPU of this process is reported so the client's share is known.
 */
import { connect, headers } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, DiscardPolicy, StorageType } from '@nats-io/jetstream';
import { encodeCommand, messageHeaders, payloadCrc } from '../../src/log/jetstream/partition-message.js';
import type { EventEnvelope } from '../../src/kernel/index.js';
import { summarise } from '../support/stats.js';

export interface PublishConfig {
  /** One measurement per target, in turn (one process start for all: tsx costs seconds on a busy box). */
  targets: Array<{ urls: string[]; replicas: 1 | 3 }>;
  seconds: number;
  inFlight: number;
  commandsPerMessage: number;
}

export interface PublishReport {
  replicas: number;
  messageBytes: number;
  sync: { rate: number; p50ms: number; p99ms: number; n: number };
  inFlight: { rate: number; window: number; n: number };
  clientCpuUsPerMessage: number;
}

/** A payload the log would publish for `n` Deposit commands of one partition (one event each). */
function batchPayload(n: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const e: EventEnvelope = {
      aggregateType: 'account',
      stream: `acct-${100 + i}`,
      type: 'Deposited',
      seq: 17 + i,
      data: { amount: 1 },
      ts: 1_764_000_000_000 + i,
      partition: 3,
      offset: 1000 + i,
      meta: { commandId: `bench-00000000-${String(i).padStart(6, '0')}` },
    };
    parts.push(encodeCommand([e], `bench-00000000-${String(i).padStart(6, '0')}`, 'd41d8cd98f00b204').bytes);
  }
  return Buffer.concat(parts);
}

const config = JSON.parse(process.argv[2] ?? '') as PublishConfig;
const payload = batchPayload(config.commandsPerMessage);
const fields = messageHeaders({ firstOffset: 1000, count: config.commandsPerMessage, epoch: 1, leaseEpoch: 1, writer: 'bench-writer', crc: payloadCrc(payload), msgId: '' });
const headersOf = (seq: number) => {
  const h = headers();
  for (const [k, v] of fields) h.set(k, v);
  return { h, msgID: `bench.${process.pid}.${seq}` };
};

async function measure(urls: string[], replicas: 1 | 3): Promise<PublishReport> {
  const nc = await connect({ servers: urls, timeout: 10_000 });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const stream = `BENCH_PUB_R${replicas}_${process.pid}`;
  const subject = `bench.pub.r${replicas}.${process.pid}`;
  await jsm.streams.add({ name: stream, subjects: [subject], storage: StorageType.File, num_replicas: replicas, discard: DiscardPolicy.New });
  let lastSeq = 0;
  const cpu0 = process.cpuUsage();
  try {
    // Warm-up: the stream's leader is elected and the connection's buffers are sized.
    for (let i = 0; i < 20; i++) {
      const { h, msgID } = headersOf(lastSeq + 1);
      lastSeq = (await js.publish(subject, payload, { headers: h, msgID, expect: { lastSequence: lastSeq } })).seq;
    }
    const latencies: number[] = [];
    let until = performance.now() + config.seconds * 1000;
    let t0 = performance.now();
    while (performance.now() < until) {
      const { h, msgID } = headersOf(lastSeq + 1);
      const s = performance.now();
      lastSeq = (await js.publish(subject, payload, { headers: h, msgID, expect: { lastSequence: lastSeq } })).seq;
      latencies.push(performance.now() - s);
    }
    const syncMs = performance.now() - t0;
    const sum = summarise(latencies);

    let sent = 0;
    let acked = 0;
    let failure: unknown = null;
    until = performance.now() + config.seconds * 1000;
    t0 = performance.now();
    await new Promise<void>((resolve) => {
      const next = (): void => {
        if (failure !== null || performance.now() >= until) {
          if (acked === sent) resolve();
          return;
        }
        const { h, msgID } = headersOf(1_000_000_000 + sent);
        sent++;
        js.publish(subject, payload, { headers: h, msgID }).then(
          () => {
            acked++;
            next();
          },
          (err: unknown) => {
            failure ??= err;
            acked++;
            next();
          },
        );
      };
      for (let i = 0; i < config.inFlight; i++) next();
    });
    if (failure !== null) throw failure;
    const inFlightMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return {
      replicas,
      messageBytes: payload.length,
      sync: { rate: (latencies.length / syncMs) * 1000, p50ms: sum.p50, p99ms: sum.p99, n: latencies.length },
      inFlight: { rate: (acked / inFlightMs) * 1000, window: config.inFlight, n: acked },
      clientCpuUsPerMessage: (cpu.user + cpu.system) / Math.max(1, latencies.length + acked + 20),
    };
  } finally {
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  }
}

const reports: PublishReport[] = [];
for (const t of config.targets) reports.push(await measure(t.urls, t.replicas));
process.stdout.write(`${JSON.stringify(reports)}\n`);
