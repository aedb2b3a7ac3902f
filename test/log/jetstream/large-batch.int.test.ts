/**
 * Batches larger than one JetStream message may be (the server's max_payload, 1 MiB by default): a
 * partition's part of the batch is cut into several messages at command boundaries, published one after
 * the other, each conditional on the one before, and read back whole; a single command larger than a
 * message is refused when it is staged (PayloadTooLarge), consuming no position.
 */
import { expect, it } from 'vitest';
import { rejectionOf } from '../../support/errors.js';
import { deposits, ownerWriter } from '../contract/contract-support.js';
import { describeOnNats, partitionsOf } from './jetstream-support.js';

describeOnNats('JetStreamLog: batches larger than a message', 1, (fx) => {
  it('cuts a partition\'s part of a batch into several messages at command boundaries, and reads it back whole', async () => {
    const name = fx.newName();
    const log = await fx.open(name, { partitions: 2 });
    const { writer } = ownerWriter(log);
    const blob = 'x'.repeat(100_000);
    // 25 commands of ~100 kB in partition 0 (about 2.5 MB: three messages), one small one in partition 1.
    const staged = Array.from({ length: 25 }, (_, i) => writer.stageAppend(deposits(`big-${i}`, 0, 0, 1, { events: [{ type: 'Deposited', data: { amount: i, blob } }], commandId: `c-${i}` })));
    staged.push(writer.stageAppend(deposits('small', 0, 1)));
    const committed = await writer.commit(staged);
    expect(committed.heads).toEqual(new Map([[0, 25], [1, 1]]));
    expect(log.tip(0).seq).toBe(3);
    expect(log.tip(1).seq).toBe(1);
    const rebuilt = await fx.open(name);
    expect(partitionsOf(rebuilt)).toEqual(partitionsOf(log));
    expect(rebuilt.readEvent('account', 'big-24', 1)?.data).toEqual({ amount: 24, blob });
    expect(rebuilt.findCommand('account', 'big-13', 'c-13')).toEqual({ first: 1, last: 1 });
  });

  it('refuses a command larger than one message when staging it (PayloadTooLarge), consuming no position', async () => {
    const log = await fx.open(fx.newName(), { partitions: 1 });
    const { writer } = ownerWriter(log);
    const err = await rejectionOf(() => writer.stageAppend(deposits('huge', 0, 0, 1, { events: [{ type: 'Deposited', data: { blob: 'x'.repeat(2 * 1024 * 1024) } }] })));
    expect(err.code).toBe('PayloadTooLarge');
    expect(writer.head(0)).toBe(0);
    await writer.commit([writer.stageAppend(deposits('fine', 0, 0))]);
    expect(partitionsOf(log)).toEqual([['fine#1@0']]);
  });
});
