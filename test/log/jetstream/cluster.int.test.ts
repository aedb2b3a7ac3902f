/**
 * The log on a 3-node JetStream cluster, partition streams with 3 replicas: one nats-server is killed
 * with SIGKILL between batches (the leader of partition 0's stream, so that stream must elect a new
 * one) and appends go on. The adapter retries only transient failures (the client reconnecting, no
 * leader yet); nothing is written twice, nothing is lost: the log of record read back through a fresh
 * cache equals what the writer acknowledged. And a stream leader stopped with SIGSTOP while a batch is
 * in flight, with the log's client connected to it: the batch is retried elsewhere and stored once.
 */
import { expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { BatchWriter } from '../../../src/log/index.js';
import { deposits, ownerWriter } from '../contract/contract-support.js';
import { describeOnNats, partitionsOf } from './jetstream-support.js';

describeOnNats('JetStreamLog on a 3-node cluster (replicas 3)', 3, (fx) => {
  it('goes on appending after a nats-server is killed with SIGKILL between batches; the log of record holds every acknowledged batch once', { timeout: 120_000 }, async () => {
    const name = fx.newName();
    const log = await fx.open(name, { partitions: 4, replicas: 3 });
    const { writer } = ownerWriter(log);
    const versions = new Map<string, number>();
    let n = 0;
    const batch = (w: BatchWriter) => {
      const staged = [];
      for (let i = 0; i < 16; i++, n++) {
        const id = `acc-${n % 12}`;
        const v = versions.get(id) ?? 0;
        staged.push(w.stageAppend(deposits(id, v, n % 12 % 4, 1, { commandId: `cmd-${n}` })));
        versions.set(id, v + 1);
      }
      return w.commit(staged);
    };
    for (let i = 0; i < 5; i++) await batch(writer);

    const nc = await connect({ servers: fx.nats.urls });
    const leader = (await (await jetstreamManager(nc)).streams.info(`EVT_${name}_P0`)).cluster?.leader;
    await nc.close();
    const victim = fx.nats.nodes.findIndex((node) => node.name === leader);
    expect(victim).toBeGreaterThanOrEqual(0);
    await fx.nats.kill(victim);

    for (let i = 0; i < 5; i++) await batch(writer);
    expect(log.failure).toBeNull();
    const acknowledged = partitionsOf(log);
    expect(acknowledged.flat()).toHaveLength(160);
    expect(Array.from({ length: 4 }, (_, p) => log.tip(p).seq)).toEqual([10, 10, 10, 10]);

    // Read back from the two servers left, through a cache built from nothing.
    const rebuilt = await fx.open(name);
    expect(partitionsOf(rebuilt)).toEqual(acknowledged);
    expect(rebuilt.findCommand('account', 'acc-5', 'cmd-149')).toBeDefined();

    // The node comes back and catches up; appends go on with all three.
    await fx.nats.restart(victim);
    for (let i = 0; i < 2; i++) await batch(writer);
    await rebuilt.catchUp();
    expect(partitionsOf(rebuilt)).toEqual(partitionsOf(log));
  });

  it('stores a batch once when its stream\'s leader is stopped (SIGSTOP) while the batch is in flight, the client connected to it: retried with its message id', { timeout: 120_000 }, async () => {
    const name = fx.newName();
    const setup = await fx.open(name, { partitions: 2, replicas: 3 });
    const admin = await connect({ servers: fx.nats.urls });
    const leader = (await (await jetstreamManager(admin)).streams.info(`EVT_${name}_P0`)).cluster?.leader;
    await admin.close();
    await setup.close();
    const victim = fx.nats.nodes.findIndex((node) => node.name === leader);
    // The worst case: the log's connection is to the server that stops (the options JetStreamLog.open uses).
    const first = fx.nats.nodes[victim]!.url;
    const nc = await connect({ servers: [first, ...fx.nats.urls.filter((u) => u !== first)], noRandomize: true, maxReconnectAttempts: -1, pingInterval: 2_000, maxPingOut: 3, timeout: 2_000 });
    try {
      const log = await fx.open(name, { connection: nc });
      const { writer } = ownerWriter(log);
      await writer.commit([writer.stageAppend(deposits('a', 0, 0)), writer.stageAppend(deposits('b', 0, 1))]);
      const pending = writer.commit([writer.stageAppend(deposits('a', 1, 0, 2, { commandId: 'in-flight' })), writer.stageAppend(deposits('b', 1, 1))]);
      fx.nats.pause(victim);
      try {
        await pending;
      } finally {
        fx.nats.resume(victim);
      }
      await writer.commit([writer.stageAppend(deposits('a', 3, 0))]);
      const expected = [['a#1@0', 'a#2@1', 'a#3@2', 'a#4@3'], ['b#1@0', 'b#2@1']];
      expect(partitionsOf(log)).toEqual(expected);
      expect([log.tip(0).seq, log.tip(1).seq]).toEqual([3, 2]);
      // A cache rebuilt from JetStream holds the same. Polled: right after SIGCONT the stopped server may
      // still answer a stream-info request as the leader it was, with a stale last sequence, until it
      // steps down (seen in a clean-clone run: a rebuild then ended one message short). A stale tip only
      // delays a catch-up; an append on it is refused by the expected-last-sequence condition.
      // The poll outlasts one catch-up's own retry period (30 s) so that a first attempt that meets the
      // stale leader is not the only one.
      await expect
        .poll(
          async () => {
            const rebuilt = await fx.open(name);
            try {
              return partitionsOf(rebuilt);
            } finally {
              await rebuilt.close();
            }
          },
          { timeout: 75_000, interval: 500 },
        )
        .toEqual(expected);
      await log.close();
    } finally {
      await nc.close();
    }
  });
});
