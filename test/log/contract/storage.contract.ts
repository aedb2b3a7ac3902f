/**
 * The log contract, part 5: what only some adapters can show. A log that keeps its data past `close`
 * (`reopen`) keeps everything it acknowledged; a log whose stored bytes can be damaged from outside
 * (`damageEvent`) refuses the damaged record with `CorruptRecord` naming it (DESIGN invariant 8),
 * never a plain error and never a silent skip. Skipped for adapters without the capability.
 */
import { describe, expect } from 'vitest';
import { rejectionOf } from '../../support/errors.js';
import { commitAndRefresh, deposits, eventsOf, ownerWriter, type Contract } from './contract-support.js';

export function storageContract({ openLog, it }: Contract): void {
  describe('storage', () => {
    it('keeps everything it acknowledged across close and reopen, and a new writer goes on from there', async ({ skip }) => {
      const adapter = await openLog(2);
      if (!adapter.reopen) return skip('this adapter keeps nothing past close');
      const { writer, epoch } = ownerWriter(adapter.log);
      const staged = [writer.stageAppend(deposits('a', 0, 1, 2, { commandId: 'c-1', digest: 'd-1', meta: { commandId: 'c-1' } })), writer.stageSnapshot('account', 'a', { version: 2, snapshotVersion: 1, state: { balance: 30 }, ts: 5 })];
      await commitAndRefresh(adapter.log, writer, staged, () => {
        void adapter.log.views.putRow('balances', 1, 'a', { balance: 30 });
        void adapter.log.views.putCheckpoint('balances', 1, 1, 2);
      });
      await adapter.log.views.setMeta('balances', { active: 1, building: 2 });
      const log = await adapter.reopen();
      expect(log.partitions).toBe(2);
      expect(log.readStream('account', 'a')).toEqual(eventsOf(staged[0]!));
      expect(log.readPartition(1)).toEqual(eventsOf(staged[0]!));
      expect(log.findCommand('account', 'a', 'c-1')).toEqual({ first: 1, last: 2, digest: 'd-1' });
      expect(log.snapshotAtOrBelow('account', 'a')).toEqual({ version: 2, snapshotVersion: 1, state: { balance: 30 }, ts: 5 });
      expect(log.ownerEpoch()).toBe(epoch);
      expect(log.views.getRow('balances', 1, 'a')).toEqual({ balance: 30 });
      expect(log.views.checkpoint('balances', 1, 1)).toBe(2);
      expect(log.views.meta('balances')).toEqual({ active: 1, building: 2 });
      const { writer: next } = ownerWriter(log, 'after-reopen');
      expect(next.head(1)).toBe(2);
      expect(eventsOf(next.stageAppend(deposits('a', 2, 1)))[0]).toMatchObject({ seq: 3, offset: 2 });
    });

    it('refuses a damaged event with CorruptRecord naming the record; the events before it still read', async ({ skip }) => {
      const adapter = await openLog(2);
      if (!adapter.damageEvent) return skip('this adapter keeps no bytes that can be damaged from outside');
      const { writer } = ownerWriter(adapter.log);
      await commitAndRefresh(adapter.log, writer, [writer.stageAppend(deposits('a', 0, 0, 3))]);
      const log = await adapter.damageEvent('account', 'a', 2);
      expect(log.readEvent('account', 'a', 1)?.seq).toBe(1);
      const { writer: pages } = ownerWriter(log, 'pages');
      // Nor is it ever copied into a page under a fresh checksum (stageStoredPage verifies what it copies).
      for (const read of [() => log.readStream('account', 'a'), () => log.readEvent('account', 'a', 2), () => log.readPartition(0), () => log.foldStream('account', 'a', 1, 3, 0, (s: number) => s + 1), () => pages.stageStoredPage('account', 'a', 1)]) {
        const err = await rejectionOf(read);
        expect(err.code).toBe('CorruptRecord');
        expect(String(err.details.where)).toContain('"a"');
      }
    });
  });
}
