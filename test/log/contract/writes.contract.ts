/**
 * The log contract, part 2: what a batch promises beyond positions. Command ids for idempotent retries,
 * several streams in one atomic batch, the owner epoch as a fence (DESIGN invariant 9), the write-chain
 * rule after a refused batch, `probeWrite`, and appends that never overwrite (invariant 10).
 */
import { describe, expect } from 'vitest';
import { rejectionOf } from '../../support/errors.js';
import { commitAndRefresh, deposits, eventsOf, ownerWriter, type Contract } from './contract-support.js';

export function writesContract({ openLog, it }: Contract): void {
  describe('batches, idempotency and ownership', () => {
    it('records what a command id produced on its stream, with the command\'s digest (idempotency)', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      await commitAndRefresh(log, writer, [
        writer.stageAppend(deposits('a', 0, 0, 1, { commandId: 'open-1', digest: 'sha-open' })),
        writer.stageAppend(deposits('a', 1, 0, 3, { commandId: 'multi-1' })),
        writer.stageAppend(deposits('a', 4, 0, 0, { commandId: 'decided-nothing' })),
      ]);
      expect(log.findCommand('account', 'a', 'open-1')).toEqual({ first: 1, last: 1, digest: 'sha-open' });
      expect(log.findCommand('account', 'a', 'multi-1')).toStrictEqual({ first: 2, last: 4 });
      expect(log.findCommand('account', 'a', 'other')).toBeUndefined();
      expect(log.findCommand('account', 'b', 'multi-1')).toBeUndefined();
      expect(log.findCommand('video', 'a', 'open-1')).toBeUndefined();
      // A command that decided no event writes nothing, not even its id.
      expect(log.findCommand('account', 'a', 'decided-nothing')).toBeUndefined();
    });

    it('commits events of several streams and partitions, command ids and snapshots as one batch', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const staged = [
        writer.stageAppend(deposits('a', 0, 0, 2, { commandId: 'c-a' })),
        writer.stageSnapshot('account', 'a', { version: 2, snapshotVersion: 1, state: { balance: 30 }, ts: 1_001 }),
        writer.stageAppend(deposits('b', 0, 3, 1, { commandId: 'c-b' })),
        writer.stageAppend(deposits('c', 0, 0)),
      ];
      const committed = await commitAndRefresh(log, writer, staged);
      expect(committed.heads).toEqual(new Map([[0, 3], [3, 1]]));
      expect(log.readStream('account', 'a')).toEqual(eventsOf(staged[0]!));
      expect(log.readStream('account', 'b')).toEqual(eventsOf(staged[2]!));
      expect(log.readPartition(0).map((e) => `${e.stream}#${e.seq}`)).toEqual(['a#1', 'a#2', 'c#1']);
      expect([log.findCommand('account', 'a', 'c-a'), log.findCommand('account', 'b', 'c-b')]).toEqual([{ first: 1, last: 2 }, { first: 1, last: 1 }]);
      expect(log.snapshotAtOrBelow('account', 'a')?.state).toEqual({ balance: 30 });
    });

    it('answers no heads for a batch that moved no partition (snapshots only)', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const committed = await commitAndRefresh(log, writer, [writer.stageSnapshot('account', 'a', { version: 3, snapshotVersion: 1, state: {}, ts: 1 })]);
      expect(committed.heads.size).toBe(0);
    });

    it('claims ownership with a higher epoch each time, and tells the current one', async () => {
      const { log } = await openLog();
      const first = log.claimOwnership('first owner');
      expect(log.ownerEpoch()).toBe(first);
      const second = log.claimOwnership('second owner');
      expect(second).toBeGreaterThan(first);
      expect(log.ownerEpoch()).toBe(second);
    });

    it('refuses, whole, every batch of a writer whose owner epoch was superseded (Fenced), and every later batch of it', async () => {
      const { log } = await openLog();
      const { writer: old } = ownerWriter(log, 'old-owner');
      await commitAndRefresh(log, old, [old.stageAppend(deposits('a', 0, 0))]);
      log.claimOwnership('new owner');
      // Handed over back to back: the second was staged after the first, and may not apply without it.
      const refused = old.commit([old.stageAppend(deposits('a', 1, 0, 2, { commandId: 'late' })), old.stageAppend(deposits('b', 0, 1))]);
      const after = old.commit([old.stageAppend(deposits('a', 3, 0))]);
      expect((await rejectionOf(refused)).code).toBe('Fenced');
      expect(['Fenced', 'StorageFailed']).toContain((await rejectionOf(after)).code);
      expect(['Fenced', 'StorageFailed']).toContain((await rejectionOf(() => old.commit([old.stageAppend(deposits('c', 0, 2))]))).code);
      expect(old.failure?.code).toBe('Fenced');
      expect(log.failure).not.toBeNull();
      log.refreshReads();
      expect(log.readStream('account', 'a').map((e) => e.seq)).toEqual([1]);
      expect([log.partitionHead(0), log.partitionHead(1), log.partitionHead(2)]).toEqual([1, 0, 0]);
      expect(log.findCommand('account', 'a', 'late')).toBeUndefined();
    });

    it('lets the new owner write on from the log\'s heads; probeWrite clears the failure; the deposed writer stays fenced', async () => {
      const { log } = await openLog();
      const { writer: old } = ownerWriter(log, 'old-owner');
      await commitAndRefresh(log, old, [old.stageAppend(deposits('a', 0, 0))]);
      const { writer: next } = ownerWriter(log, 'new-owner');
      expect(next.head(0)).toBe(1);
      await commitAndRefresh(log, next, [next.stageAppend(deposits('a', 1, 0))]);
      // At a position the new owner took, the deposed writer is told it was fenced (when staging or committing).
      expect((await rejectionOf(() => old.commit([old.stageAppend(deposits('b', 0, 0))]))).code).toBe('Fenced');
      expect((await rejectionOf(old.commit([old.stageAppend(deposits('b', 0, 2))]))).code).toBe('Fenced');
      await log.probeWrite();
      expect(log.failure).toBeNull();
      expect(next.failure).toBeNull();
      const committed = await commitAndRefresh(log, next, [next.stageAppend(deposits('a', 2, 0))]);
      expect(committed.heads).toEqual(new Map([[0, 3]]));
      expect((await rejectionOf(() => old.commit([old.stageAppend(deposits('c', 0, 1))]))).code).toBe('Fenced');
      log.refreshReads();
      expect(log.readPartition(0).map((e) => `${e.stream}#${e.seq}@${e.offset}`)).toEqual(['a#1@0', 'a#2@1', 'a#3@2']);
      expect(log.readStream('account', 'b')).toEqual([]);
    });

    it('never overwrites: a stream position already taken is refused with CorruptRecord, the event there kept', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const kept = writer.stageAppend(deposits('a', 0, 0));
      await commitAndRefresh(log, writer, [kept]);
      const head = writer.head(0);
      const err = await rejectionOf(() => writer.stageAppend(deposits('a', 0, 0, 1, { events: [{ type: 'Withdrawn', data: { amount: 5 } }] })));
      expect(err.code).toBe('CorruptRecord');
      expect(writer.head(0)).toBe(head);
      log.refreshReads();
      expect(log.readStream('account', 'a')).toEqual(eventsOf(kept));
    });

    it('never overwrites: a partition offset already taken (a writer with a stale head) is refused with CorruptRecord', async () => {
      const { log } = await openLog();
      const { writer: first, epoch } = ownerWriter(log, 'first');
      const stale = log.openWriter('second', epoch, [0]);
      const kept = first.stageAppend(deposits('a', 0, 0));
      await commitAndRefresh(log, first, [kept]);
      const err = await rejectionOf(() => stale.commit([stale.stageAppend(deposits('b', 0, 0))]));
      expect(err.code).toBe('CorruptRecord');
      log.refreshReads();
      expect(log.readPartition(0)).toEqual(eventsOf(kept));
      expect(log.readStream('account', 'b')).toEqual([]);
    });

    it('durable() resolves once every batch handed to commit so far is through', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const first = writer.commit([writer.stageAppend(deposits('a', 0, 0))]);
      const second = writer.commit([writer.stageAppend(deposits('a', 1, 0))]);
      await log.durable();
      await Promise.all([first, second]);
      log.refreshReads();
      expect(log.streamHead('account', 'a').version).toBe(2);
    });
  });
}
