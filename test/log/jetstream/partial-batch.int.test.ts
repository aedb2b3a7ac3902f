/**
 * A batch over several partitions when JetStream takes it in some of them only: JetStream cannot commit
 * messages of several streams atomically. Made real, without mocks: another node appends to partition
 * 1 first, so this node's message for partition 1 is refused while its message for partition 0 lands.
 * The batch is answered `Fenced`, partition 0's events are in the log of record for good, and the cache
 * is re-synced before the answer: it holds them, with their command id, and the other node's events of
 * partition 1, exactly what a cache rebuilt from JetStream holds. The batch's view writes and snapshot
 * are not applied (derived data).
 */
import { expect, it } from 'vitest';
import { rejectionOf } from '../../support/errors.js';
import { deposits, ownerWriter } from '../contract/contract-support.js';
import { describeOnNats, partitionsOf } from './jetstream-support.js';

describeOnNats('JetStreamLog: a batch that lands in some partitions only', 1, (fx) => {
  it('answers the failure, keeps what landed, and re-syncs the cache so that it equals the log of record', async () => {
    const name = fx.newName();
    const log = await fx.open(name, { partitions: 3 });
    const other = await fx.open(name);
    const { writer } = ownerWriter(log, 'this-node');
    await writer.commit([writer.stageAppend(deposits('a', 0, 0)), writer.stageAppend(deposits('b', 0, 1))]);
    await other.catchUp();
    const { writer: intruder } = ownerWriter(other, 'other-node');
    await intruder.commit([intruder.stageAppend(deposits('c', 0, 1))]);

    const staged = [
      writer.stageAppend(deposits('a', 1, 0, 2, { commandId: 'lands' })),
      writer.stageAppend(deposits('b', 1, 1, 1, { commandId: 'refused' })),
      writer.stageSnapshot('account', 'a', { version: 3, snapshotVersion: 1, state: { balance: 60 }, ts: 9 }),
    ];
    const err = await rejectionOf(writer.commit(staged, () => void log.views.putCheckpoint('balances', 1, 0, 3)));
    expect(err.code).toBe('Fenced');
    expect(err.details).toMatchObject({ partition: 1 });

    const expected = [['a#1@0', 'a#2@1', 'a#3@2'], ['b#1@0', 'c#1@1'], []];
    expect(partitionsOf(log)).toEqual(expected);
    expect(log.findCommand('account', 'a', 'lands')).toEqual({ first: 2, last: 3 });
    expect(log.findCommand('account', 'b', 'refused')).toBeUndefined();
    expect(log.snapshotAtOrBelow('account', 'a')).toBeUndefined();
    expect(log.views.checkpoint('balances', 1, 0)).toBe(0);
    expect([log.tip(0).seq, log.tip(1).seq]).toEqual([2, 2]);

    // What a cache rebuilt from the log of record holds, and what the other node reads after a re-sync.
    const rebuilt = await fx.open(name);
    expect(partitionsOf(rebuilt)).toEqual(expected);
    expect(rebuilt.findCommand('account', 'a', 'lands')).toEqual({ first: 2, last: 3 });
    await other.catchUp();
    expect(partitionsOf(other)).toEqual(expected);

    // The write-chain rule: refused until probeWrite; then on from the log of record's heads.
    expect(log.failure?.code).toBe('Fenced');
    await log.probeWrite();
    const { writer: next } = ownerWriter(log, 'after');
    expect([next.head(0), next.head(1)]).toEqual([3, 2]);
    await next.commit([next.stageAppend(deposits('b', 1, 1, 1, { commandId: 'refused' }))]);
    expect(partitionsOf(log)[1]).toEqual(['b#1@0', 'c#1@1', 'b#2@2']);
  });
});
