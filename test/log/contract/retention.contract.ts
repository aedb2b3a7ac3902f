/**
 * The log contract, part 6: retention settings (port.ts, "Retention settings"). Stored per stream and
 * per aggregate type, each read back exactly as set, replaced as a whole, removed by `null`, kept across
 * reopen; the reads of events stay raw whatever the settings (the runtime applies the cut).
 */
import { describe, expect } from 'vitest';
import { commitAndRefresh, deposits, ownerWriter, type Contract } from './contract-support.js';

/** The case an adapter that refuses retention settings names in its `unsupported` list. */
export const RETENTION_CASE = 'stores retention settings per stream and per type, replaced whole, removed by null, kept across reopen';

export function retentionContract({ openLog, it }: Contract): void {
  describe('retention settings', () => {
    it(RETENTION_CASE, async () => {
      const adapter = await openLog(2);
      let log = adapter.log;
      const { writer } = ownerWriter(log);
      await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', 0, 1, 3))]);
      expect(log.retention('account', 'a')).toBeUndefined();
      expect(log.retention('account')).toBeUndefined();

      await log.setRetention('account', 'a', { maxCount: 2, truncateBefore: 2 });
      await log.setRetention('account', undefined, { maxAge: 60_000 });
      log.refreshReads();
      expect(log.retention('account', 'a')).toEqual({ maxCount: 2, truncateBefore: 2 });
      expect(log.retention('account')).toEqual({ maxAge: 60_000 });
      // Another stream, another type: nothing of theirs.
      expect(log.retention('account', 'b')).toBeUndefined();
      expect(log.retention('video')).toBeUndefined();
      // Reads stay raw: every stored event, whatever the settings.
      expect(log.readStream('account', 'a').map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(log.readPartition(1).length).toBe(3);

      await log.setRetention('account', 'a', { maxAge: 5 });
      log.refreshReads();
      expect(log.retention('account', 'a')).toEqual({ maxAge: 5 });
      await log.setRetention('account', 'a', {});
      log.refreshReads();
      expect(log.retention('account', 'a')).toEqual({});

      if (adapter.reopen) {
        log = await adapter.reopen();
        expect(log.retention('account', 'a')).toEqual({});
        expect(log.retention('account')).toEqual({ maxAge: 60_000 });
      }
      await log.setRetention('account', 'a', null);
      log.refreshReads();
      expect(log.retention('account', 'a')).toBeUndefined();
      expect(log.retention('account')).toEqual({ maxAge: 60_000 });
    });
  });
}
