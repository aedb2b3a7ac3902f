/**
 * The log contract, part 4: the view store (read models' rows, checkpoints, generations). Writes are
 * queued and applied in order; where the store says it `joinsLogBatch`, the writes a batch's
 * `alsoInBatch` makes commit with the batch or not at all (DESIGN invariant 5: rows and checkpoint with
 * the events, exactly once).
 */
import { describe, expect } from 'vitest';
import { rejectionOf } from '../../support/errors.js';
import { commitAndRefresh, deposits, ownerWriter, type Contract } from './contract-support.js';

export function viewsContract({ openLog, it }: Contract): void {
  describe('the view store', () => {
    it('starts a view at generation 1 with nothing building, no rows and checkpoints at 0', async () => {
      const { log } = await openLog();
      expect(log.views.meta('balances')).toEqual({ active: 1, building: null });
      expect(log.views.getRow('balances', 1, 'a')).toBeUndefined();
      expect([...log.views.rows('balances', 1)]).toEqual([]);
      expect(log.views.checkpoint('balances', 1, 0)).toBe(0);
    });

    it('applies writes made outside a batch in the order they were made; committed() resolves once they are applied', async () => {
      const { log } = await openLog();
      const views = log.views;
      void views.putRow('balances', 1, 'a', { balance: 1 });
      void views.putRow('balances', 1, 'b', { balance: 2 });
      void views.putRow('balances', 1, 'a', { balance: 3 });
      void views.putRow('balances', 1, 'b', undefined);
      void views.putCheckpoint('balances', 1, 2, 7);
      void views.putCheckpoint('balances', 1, 2, 9);
      await views.committed();
      log.refreshReads();
      expect(views.getRow('balances', 1, 'a')).toEqual({ balance: 3 });
      expect(views.getRow('balances', 1, 'b')).toBeUndefined();
      expect(views.checkpoint('balances', 1, 2)).toBe(9);
      expect(views.checkpoint('balances', 1, 1)).toBe(0);
    });

    it('lists rows in id order, after an id, with a limit, one generation at a time', async () => {
      const { log } = await openLog();
      const views = log.views;
      for (const id of ['b', 'a10', 'a', 'c']) void views.putRow('balances', 2, id, { id });
      void views.putRow('balances', 1, 'old', { id: 'old' });
      void views.putRow('balances', 3, 'next', { id: 'next' });
      void views.putRow('other', 2, 'x', { id: 'x' });
      await views.committed();
      log.refreshReads();
      const ids = (rows: Iterable<{ id: string; row: unknown }>) => [...rows].map((r) => r.id);
      expect([...views.rows('balances', 2)]).toEqual(['a', 'a10', 'b', 'c'].map((id) => ({ id, row: { id } })));
      expect(ids(views.rows('balances', 2, 'a10'))).toEqual(['b', 'c']);
      expect(ids(views.rows('balances', 2, 'a0'))).toEqual(['a10', 'b', 'c']);
      expect(ids(views.rows('balances', 2, undefined, 2))).toEqual(['a', 'a10']);
      expect(ids(views.rows('balances', 2, 'a', 2))).toEqual(['a10', 'b']);
      expect(ids(views.rows('balances', 1))).toEqual(['old']);
    });

    it('switches generations with setMeta and drops a retired generation\'s rows and checkpoints only', async () => {
      const { log } = await openLog();
      const views = log.views;
      void views.putRow('balances', 1, 'a', { v: 1 });
      void views.putCheckpoint('balances', 1, 0, 5);
      void views.putRow('balances', 2, 'a', { v: 2 });
      void views.putCheckpoint('balances', 2, 0, 6);
      await views.setMeta('balances', { active: 1, building: 2 });
      log.refreshReads();
      expect(views.meta('balances')).toEqual({ active: 1, building: 2 });
      await views.setMeta('balances', { active: 2, building: null });
      await views.dropGeneration('balances', 1);
      log.refreshReads();
      expect(views.meta('balances')).toEqual({ active: 2, building: null });
      expect(views.getRow('balances', 1, 'a')).toBeUndefined();
      expect(views.checkpoint('balances', 1, 0)).toBe(0);
      expect([...views.rows('balances', 1)]).toEqual([]);
      expect(views.getRow('balances', 2, 'a')).toEqual({ v: 2 });
      expect(views.checkpoint('balances', 2, 0)).toBe(6);
    });

    it('holds copies of rows: changing one after putRow, or one read back, changes nothing', async () => {
      const { log } = await openLog();
      const row = { balance: 1, history: [1] };
      void log.views.putRow('balances', 1, 'a', row);
      row.history.push(2);
      await log.views.committed();
      log.refreshReads();
      (log.views.getRow<typeof row>('balances', 1, 'a')!).balance = 0;
      [...log.views.rows<typeof row>('balances', 1)][0]!.row.history.push(3);
      expect(log.views.getRow('balances', 1, 'a')).toEqual({ balance: 1, history: [1] });
    });

    it('commits the rows and checkpoint written in a batch\'s alsoInBatch with the batch (joinsLogBatch)', async ({ skip }) => {
      const { log } = await openLog();
      if (!log.views.joinsLogBatch) skip('this view store commits on its own (joinsLogBatch is false)');
      const { writer } = ownerWriter(log);
      const staged = [writer.stageAppend(deposits('a', 0, 1))];
      const pending = writer.commit(staged, () => {
        void log.views.putRow('balances', 1, 'a', { balance: 10 });
        void log.views.putCheckpoint('balances', 1, 1, 1);
      });
      expect(log.views.getRow('balances', 1, 'a')).toBeUndefined();
      expect(log.views.checkpoint('balances', 1, 1)).toBe(0);
      await pending;
      await log.views.committed();
      log.refreshReads();
      expect(log.views.getRow('balances', 1, 'a')).toEqual({ balance: 10 });
      expect(log.views.checkpoint('balances', 1, 1)).toBe(1);
      expect(log.partitionHead(1)).toBe(1);
    });

    it('leaves neither the rows nor the checkpoint of a batch that was refused (joinsLogBatch)', async ({ skip }) => {
      const { log } = await openLog();
      if (!log.views.joinsLogBatch) skip('this view store commits on its own (joinsLogBatch is false)');
      const { writer: old } = ownerWriter(log, 'old-owner');
      await commitAndRefresh(log, old, [old.stageAppend(deposits('a', 0, 1))], () => void log.views.putCheckpoint('balances', 1, 1, 1));
      log.claimOwnership('new owner');
      const refused = old.commit([old.stageAppend(deposits('a', 1, 1))], () => {
        void log.views.putRow('balances', 1, 'a', { balance: 30 });
        void log.views.putCheckpoint('balances', 1, 1, 2);
      });
      expect((await rejectionOf(refused)).code).toBe('Fenced');
      // A write outside any batch, after the refused one, still applies on its own.
      void log.views.putRow('balances', 1, 'outside', { ok: true });
      await log.views.committed();
      log.refreshReads();
      expect(log.views.getRow('balances', 1, 'a')).toBeUndefined();
      expect(log.views.checkpoint('balances', 1, 1)).toBe(1);
      expect(log.views.getRow('balances', 1, 'outside')).toEqual({ ok: true });
    });
  });
}
