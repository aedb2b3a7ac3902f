/**
 * Two writers on one partition, as two nodes would be (two JetStreamLog instances on the same log,
 * each with its own cache): the log of record takes exactly one of two racing batches, the other is
 * refused with `Fenced` before anything of it is stored, and the loser's cache shows the winner's
 * events once the refusal is answered. And the leases hook: no lease, no publish; a message carries its
 * lease epoch; a catch-up meeting a lower lease epoch after a higher one reports a foreign write.
 */
import { expect, it } from 'vitest';
import { connect, headers } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { rejectionOf, outcomeOf } from '../../support/errors.js';
import { deposits, ownerWriter } from '../contract/contract-support.js';
import { describeOnNats, partitionsOf } from './jetstream-support.js';

describeOnNats('JetStreamLog: two writers on one partition', 1, (fx) => {
  it('takes exactly one of two racing batches; the loser is Fenced, and its cache then shows the winner\'s events', async () => {
    const name = fx.newName();
    const a = await fx.open(name, { partitions: 2 });
    const b = await fx.open(name);
    const { writer: wa } = ownerWriter(a, 'node-a');
    const { writer: wb } = ownerWriter(b, 'node-b');
    const results = await Promise.allSettled([
      wa.commit([wa.stageAppend(deposits('from-a', 0, 0, 2, { commandId: 'a-1' }))]),
      wb.commit([wb.stageAppend(deposits('from-b', 0, 0, 1, { commandId: 'b-1' }))]),
    ]);
    const outcomes = results.map(outcomeOf);
    expect(outcomes.sort()).toEqual(['Fenced', 'ok']);
    const [winner, loser] = results[0]!.status === 'fulfilled' ? [a, b] : [b, a];
    const won = winner === a ? ['from-a#1@0', 'from-a#2@1'] : ['from-b#1@0'];
    expect(partitionsOf(winner)).toEqual([won, []]);
    // Re-synced before the refusal was answered: the loser reads what the log of record holds.
    expect(partitionsOf(loser)).toEqual([won, []]);
    expect(loser.failure?.code).toBe('Fenced');
    expect((await rejectionOf(() => (loser === a ? wa : wb).commit([]))).code).toBe('Fenced');
    expect(winner.tip(0).seq).toBe(1);
    expect(loser.tip(0)).toEqual(winner.tip(0));
  });

  it('keeps taking exactly one batch per race, round after round, every node ending with the same log', async () => {
    const name = fx.newName();
    const nodes = [await fx.open(name, { partitions: 1 }), await fx.open(name), await fx.open(name)];
    const wins: number[] = [];
    for (let round = 0; round < 6; round++) {
      for (const node of nodes) await node.probeWrite(); // clears the last round's Fenced and catches up
      const writers = nodes.map((node, i) => ownerWriter(node, `node-${i}-round-${round}`).writer);
      const results = await Promise.allSettled(writers.map((w, i) => w.commit([w.stageAppend(deposits(`n${i}`, wins.filter((x) => x === i).length * (1 + i), 0, 1 + i))])));
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      expect(results.map(outcomeOf).filter((o) => o !== 'ok')).toEqual(['Fenced', 'Fenced']);
      wins.push(winners[0]!);
    }
    const logs = nodes.map(partitionsOf);
    expect(logs[1]).toEqual(logs[0]);
    expect(logs[2]).toEqual(logs[0]);
    expect(partitionsOf(await fx.open(name))).toEqual(logs[0]);
    expect(nodes[0]!.tip(0).seq).toBe(6);
    expect(logs[0]![0]).toHaveLength(wins.reduce((n, i) => n + 1 + i, 0));
  });

  it('sends nothing of the batches handed over after a refused one, even for other partitions (the write-chain rule)', async () => {
    const name = fx.newName();
    const a = await fx.open(name, { partitions: 2 });
    const b = await fx.open(name);
    const { writer: wb } = ownerWriter(b, 'node-b');
    await wb.commit([wb.stageAppend(deposits('b', 0, 0))]);
    const { writer: wa } = ownerWriter(a, 'node-a');
    // Handed over back to back: the first is refused (node b took partition 0), the second touches only partition 1.
    const first = wa.commit([wa.stageAppend(deposits('a', 0, 0))]);
    const second = wa.commit([wa.stageAppend(deposits('c', 0, 1))]);
    expect((await rejectionOf(first)).code).toBe('Fenced');
    expect((await rejectionOf(second)).code).toBe('Fenced');
    expect(a.tip(1).seq).toBe(0);
    expect(partitionsOf(await fx.open(name))).toEqual([['b#1@0'], []]);
  });

  it('refuses a writer whose cache fell behind another node\'s appends (Fenced), and writes again after probeWrite from the new heads', async () => {
    const name = fx.newName();
    const a = await fx.open(name, { partitions: 1 });
    const b = await fx.open(name);
    const { writer: wa } = ownerWriter(a, 'node-a');
    await wa.commit([wa.stageAppend(deposits('x', 0, 0))]);
    const { writer: stale } = ownerWriter(b, 'node-b');
    const err = await rejectionOf(stale.commit([stale.stageAppend(deposits('y', 0, 0))]));
    expect(err.code).toBe('Fenced');
    expect(err.message).toContain('another writer appended');
    await b.probeWrite();
    expect(b.failure).toBeNull();
    const { writer: fresh } = ownerWriter(b, 'node-b-again');
    expect(fresh.head(0)).toBe(1);
    await fresh.commit([fresh.stageAppend(deposits('y', 0, 0))]);
    expect(partitionsOf(b)).toEqual([['x#1@0', 'y#1@1']]);
  });
});

describeOnNats('JetStreamLog: the leases hook', 1, (fx) => {
  it('sends nothing for a partition this node holds no lease on (Fenced), and stamps each message with its partition\'s lease epoch', async () => {
    const name = fx.newName();
    const epochs = new Map<number, number | null>([[0, 3], [1, null]]);
    const log = await fx.open(name, { partitions: 2, leases: { epochOf: (p) => epochs.get(p) ?? null } });
    const { writer } = ownerWriter(log);
    const refused = await rejectionOf(writer.commit([writer.stageAppend(deposits('a', 0, 0)), writer.stageAppend(deposits('b', 0, 1))]));
    expect(refused.code).toBe('Fenced');
    expect(refused.message).toContain('no lease');
    expect([log.tip(0).seq, log.tip(1).seq]).toEqual([0, 0]);
    await log.probeWrite();
    const { writer: next } = ownerWriter(log, 'after');
    await next.commit([next.stageAppend(deposits('a', 0, 0))]);
    expect(log.tip(0)).toEqual({ seq: 1, offset: 1, leaseEpoch: 3 });
    const nc = await connect({ servers: fx.nats.urls });
    const msg = await (await jetstreamManager(nc)).streams.getMessage(`EVT_${name}_P0`, { seq: 1 });
    await nc.close();
    expect(msg?.header.get('Eventide-Lease-Epoch')).toBe('3');
  });

  it('refuses to send with a lease epoch lower than the one the log of record already carries (a deposed owner)', async () => {
    const name = fx.newName();
    let epoch = 5;
    const current = await fx.open(name, { partitions: 1, leases: { epochOf: () => epoch } });
    const { writer } = ownerWriter(current, 'owner');
    await writer.commit([writer.stageAppend(deposits('a', 0, 0))]);
    // A deposed owner (its hook still says epoch 4) that had caught up before the new owner wrote.
    epoch = 4;
    const deposed = await fx.open(name, { leases: { epochOf: () => 4 } });
    const { writer: old } = ownerWriter(deposed, 'deposed');
    const err = await rejectionOf(old.commit([old.stageAppend(deposits('a', 1, 0))]));
    expect(err.code).toBe('Fenced');
    expect(err.message).toContain('lease epoch 4');
    // Nothing was sent: a fresh cache rebuilds only the new owner's event.
    const rebuilt = await fx.open(name);
    expect(partitionsOf(rebuilt)).toEqual([['a#1@0']]);
  });

  it('reports a message whose lease epoch is lower than an earlier one\'s as a foreign write when catching up, and applies nothing of it', async () => {
    const name = fx.newName();
    const log = await fx.open(name, { partitions: 1, leases: { epochOf: () => 5 } });
    const { writer } = ownerWriter(log, 'owner');
    await writer.commit([writer.stageAppend(deposits('a', 0, 0))]);
    // A write that went around the adapter's checks: the same events again, stamped with epoch 4.
    const nc = await connect({ servers: fx.nats.urls });
    const js = jetstream(nc);
    const first = (await (await jetstreamManager(nc)).streams.getMessage(`EVT_${name}_P0`, { seq: 1 }))!;
    const h = headers();
    for (const [k, v] of first.header) if (k !== 'Nats-Msg-Id') h.set(k, v[0]!);
    h.set('Eventide-First-Offset', '1');
    h.set('Eventide-Lease-Epoch', '4');
    await js.publish(`evt.${name}.p.0`, first.data, { headers: h, expect: { lastSequence: 1 } });
    await nc.close();
    const err = await rejectionOf(fx.open(name));
    expect(err.code).toBe('CorruptLog');
    expect(err.message).toContain(`EVT_${name}_P0#2`);
    expect(err.message).toContain('lease epoch 4 after a message of epoch 5');
  });
});
