/**
 * The log contract, part 3: derived data kept beside the events. Snapshots (several per stream, found at
 * or below a version, removed by retention) and pages (EVENT_PAGE events of a stream folded in one step;
 * a missing page only means its events are folded one by one), and `foldStream`, hydration's hot loop.
 */
import { describe, expect } from 'vitest';
import type { EventEnvelope } from '../../../src/kernel/index.js';
import { EVENT_PAGE, PAGE_PART_MIN, type EventLog } from '../../../src/log/index.js';
import { commitAndRefresh, deposits, ownerWriter, sumAmounts, type Contract } from './contract-support.js';

export function derivedContract({ openLog, it }: Contract): void {
  describe('snapshots', () => {
    it('keeps several per stream: the newest at or below a version, and their versions newest first', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      await commitAndRefresh(log, writer, [
        writer.stageSnapshot('account', 'a', { version: 3, snapshotVersion: 1, state: { balance: 3 }, ts: 10 }),
        writer.stageSnapshot('account', 'a', { version: 6, snapshotVersion: 1, state: { balance: 6 }, ts: 20 }),
        writer.stageSnapshot('account', 'ab', { version: 9, snapshotVersion: 1, state: { balance: 9 }, ts: 30 }),
      ]);
      await commitAndRefresh(log, writer, [writer.stageSnapshot('account', 'a', { version: 12, snapshotVersion: 2, state: { balance: 12, v2: true }, ts: 40 })]);
      expect(log.snapshotAtOrBelow('account', 'a')).toEqual({ version: 12, snapshotVersion: 2, state: { balance: 12, v2: true }, ts: 40 });
      expect(log.snapshotAtOrBelow('account', 'a', 11)).toEqual({ version: 6, snapshotVersion: 1, state: { balance: 6 }, ts: 20 });
      expect(log.snapshotAtOrBelow('account', 'a', 6)?.version).toBe(6);
      expect(log.snapshotAtOrBelow('account', 'a', 5)?.version).toBe(3);
      expect(log.snapshotAtOrBelow('account', 'a', 2)).toBeUndefined();
      expect(log.snapshotAtOrBelow('video', 'a')).toBeUndefined();
      expect(log.snapshotVersions('account', 'a')).toEqual([12, 6, 3]);
      expect(log.snapshotVersions('account', 'a', 2)).toEqual([12, 6]);
      expect(log.snapshotVersions('account', 'ab')).toEqual([9]);
    });

    it('removes one snapshot (retention): lookups then find the next one below it', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      await commitAndRefresh(log, writer, [3, 6, 9].map((version) => writer.stageSnapshot('account', 'a', { version, snapshotVersion: 1, state: { version }, ts: version })));
      await commitAndRefresh(log, writer, [writer.stageSnapshotRemoval('account', 'a', 6), writer.stageSnapshotRemoval('account', 'a', 9)]);
      expect(log.snapshotVersions('account', 'a')).toEqual([3]);
      expect(log.snapshotAtOrBelow('account', 'a')?.state).toEqual({ version: 3 });
    });

    it('holds a copy of the state: changing it after staging, or after reading it, changes nothing', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const state = { balance: 5, history: [1] };
      const staged = writer.stageSnapshot('account', 'a', { version: 1, snapshotVersion: 1, state, ts: 1 });
      state.history.push(2);
      await commitAndRefresh(log, writer, [staged]);
      const read = log.snapshotAtOrBelow<typeof state>('account', 'a')!;
      read.state.balance = 0;
      expect(log.snapshotAtOrBelow('account', 'a')?.state).toEqual({ balance: 5, history: [1] });
    });
  });

  describe('folds and pages', () => {
    /** A stream `p` of n events in partition 0 (amount 10 x seq), with pages written at the given first seqs. */
    async function pagedStream(log: EventLog, n: number, pagesAt: readonly number[]): Promise<EventEnvelope[]> {
      const { writer } = ownerWriter(log);
      await commitAndRefresh(log, writer, Array.from({ length: n }, (_, i) => writer.stageAppend(deposits('p', i, 0, 1, { ts: 1_000 + i }))));
      // As the runtime does: pages of events read back once durable.
      await commitAndRefresh(log, writer, pagesAt.map((first) => writer.stagePage(log.readStream('account', 'p', first, EVENT_PAGE))));
      return log.readStream('account', 'p');
    }

    it('folds only `{ type, data }` of the events from..to, event by event without pages: state, version, ts and counts', async () => {
      const { log } = await openLog();
      await pagedStream(log, 5, []);
      const seen: unknown[] = [];
      const r = log.foldStream('account', 'p', 2, 4, 0, (s: number, e) => {
        seen.push(e);
        return sumAmounts(s, e);
      });
      expect(r).toEqual({ state: 20 + 30 + 40, version: 4, ts: 1_003, folded: 3, paged: 0 });
      expect(seen).toEqual([2, 3, 4].map((seq) => ({ type: 'Deposited', data: { amount: seq * 10 } })));
      expect(log.foldStream('account', 'p', 4, 100, 1, sumAmounts)).toEqual({ state: 1 + 40 + 50, version: 5, ts: 1_004, folded: 2, paged: 0 });
      expect(log.foldStream('account', 'p', 6, 100, 1, sumAmounts)).toEqual({ state: 1, version: 0, ts: 0, folded: 0, paged: 0 });
    });

    it('folds to the same state, version and ts as event by event for any range, from the pages over it (parts of at least PAGE_PART_MIN events)', async () => {
      const { log } = await openLog();
      const n = EVENT_PAGE * 4 + 10;
      // Pages 1, 2 and 4 written; page 3 missing (never written, or lost in a crash).
      const events = await pagedStream(log, n, [1, EVENT_PAGE + 1, 3 * EVENT_PAGE + 1]);
      const truth = (from: number, to: number): number => events.filter((e) => e.seq >= from && e.seq <= to).reduce(sumAmounts, 0);
      const points = [1, 2, 7, 9, EVENT_PAGE - 8, EVENT_PAGE - 1, EVENT_PAGE, EVENT_PAGE + 1, EVENT_PAGE + 8, 2 * EVENT_PAGE, 2 * EVENT_PAGE + 5, 3 * EVENT_PAGE + 1, 3 * EVENT_PAGE + 9, 4 * EVENT_PAGE, n, n + 50];
      for (const from of points) {
        for (const to of points) {
          if (to < from) continue;
          const r = log.foldStream('account', 'p', from, to, 0, sumAmounts);
          const last = Math.min(to, n);
          const any = last >= from;
          expect({ from, to, state: r.state, version: r.version, ts: r.ts, folded: r.folded }).toEqual({ from, to, state: truth(from, to), version: any ? last : 0, ts: any ? events[last - 1]!.ts : 0, folded: any ? last - from + 1 : 0 });
        }
      }
      const paged = (from: number, to: number): number => log.foldStream('account', 'p', from, to, 0, sumAmounts).paged;
      expect(paged(1, Number.MAX_SAFE_INTEGER)).toBe(3 * EVENT_PAGE);
      // A snapshot's tail starting inside a page folds the rest of that page from it...
      expect(paged(2, Number.MAX_SAFE_INTEGER)).toBe(3 * EVENT_PAGE - 1);
      expect(paged(1, 2 * EVENT_PAGE - 1)).toBe(2 * EVENT_PAGE - 1);
      // ...unless that part is too short to be worth decoding the page for: those events come one by one.
      const short = EVENT_PAGE - PAGE_PART_MIN + 2;
      expect(paged(short, Number.MAX_SAFE_INTEGER)).toBe(2 * EVENT_PAGE);
      expect(paged(3 * EVENT_PAGE + 1, 3 * EVENT_PAGE + PAGE_PART_MIN)).toBe(PAGE_PART_MIN);
      expect(paged(3 * EVENT_PAGE + 1, 3 * EVENT_PAGE + PAGE_PART_MIN - 1)).toBe(0);
      expect(log.foldStream('account', 'p', 2 * EVENT_PAGE + 1, 3 * EVENT_PAGE, 0, sumAmounts)).toMatchObject({ folded: EVENT_PAGE, paged: 0 });
    });

    it('hands evolve each event\'s stored schema version as its third argument (undefined: 1), from single events and from pages', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const n = EVENT_PAGE + 4;
      // Even seqs at version 2, odd ones at version 1 given explicitly or not at all.
      const versionOf = (seq: number): number | undefined => (seq % 2 === 0 ? 2 : seq % 4 === 1 ? 1 : undefined);
      await commitAndRefresh(log, writer, Array.from({ length: n }, (_, i) => {
        const v = versionOf(i + 1);
        return writer.stageAppend(deposits('v', i, 0, 1, { events: [{ type: 'Deposited', data: { amount: i + 1 }, ...(v !== undefined ? { schemaVersion: v } : {}) }] }));
      }));
      const expected = Array.from({ length: n }, (_, i) => ((i + 1) % 2 === 0 ? 2 : undefined));
      const fold = () => {
        const seen: (number | undefined)[] = [];
        const r = log.foldStream('account', 'v', 1, n, 0, (s: number, e, schemaVersion) => {
          seen.push(schemaVersion);
          return sumAmounts(s, e);
        });
        return { seen, paged: r.paged };
      };
      expect(fold()).toEqual({ seen: expected, paged: 0 });
      // A page keeps the versions of its events (it is written from them, read back as stored).
      const page = log.readStream('account', 'v', 1, EVENT_PAGE);
      expect(page.map((e) => e.schemaVersion)).toEqual(expected.slice(0, EVENT_PAGE));
      await commitAndRefresh(log, writer, [writer.stagePage(page)]);
      expect(fold()).toEqual({ seen: expected, paged: EVENT_PAGE });
    });

    it('stages a page from the events as stored (stageStoredPage): it folds as the events do, schema versions included; null until the stream holds the whole page', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const n = 2 * EVENT_PAGE + 3;
      // Varied events: schema versions, meta on some, data of several sizes (one long enough to leave the usual size behind).
      await commitAndRefresh(log, writer, Array.from({ length: n }, (_, i) =>
        writer.stageAppend(deposits('s', i, 0, 1, {
          events: [{ type: 'Deposited', data: { amount: i + 1, note: i === 7 ? 'x'.repeat(2_000) : `n${i}` }, ...(i % 3 === 0 ? { schemaVersion: 2 } : {}) }],
          ...(i % 5 === 0 ? { commandId: `c-${i}` } : {}),
          ts: 5_000 + i,
        })),
      ));
      const byEvent: Array<[number, number | undefined]> = [];
      const plain = log.foldStream('account', 's', 1, n, 0, (s: number, e, v) => (byEvent.push([(e.data as { amount: number }).amount, v]), s + (e.data as { amount: number }).amount));
      expect(plain.paged).toBe(0);
      expect(writer.stageStoredPage('account', 's', 2 * EVENT_PAGE + 1)).toBeNull(); // 3 of its events so far
      expect(writer.stageStoredPage('account', 'nobody', 1)).toBeNull();
      expect(() => writer.stageStoredPage('account', 's', 2)).toThrow(/page starts at seq/);
      const pages = [1, EVENT_PAGE + 1].map((first) => writer.stageStoredPage('account', 's', first));
      expect(pages).not.toContain(null);
      await commitAndRefresh(log, writer, pages as NonNullable<(typeof pages)[number]>[]);
      const byPage: Array<[number, number | undefined]> = [];
      const paged = log.foldStream('account', 's', 1, n, 0, (s: number, e, v) => (byPage.push([(e.data as { amount: number }).amount, v]), s + (e.data as { amount: number }).amount));
      expect(paged).toEqual({ ...plain, paged: 2 * EVENT_PAGE });
      expect(byPage).toEqual(byEvent);
      // A page staged from the events read back holds the same: the fold cannot tell them apart.
      const { writer: other } = ownerWriter(log, 'pages-read-back');
      await commitAndRefresh(log, other, [other.stagePage(log.readStream('account', 's', 1, EVENT_PAGE))]);
      expect(log.foldStream('account', 's', 1, n, 0, sumAmounts)).toEqual({ ...plain, paged: 2 * EVENT_PAGE });
    });

    it('refuses a page that is not EVENT_PAGE consecutive events of one stream from a page boundary', async () => {
      const { log } = await openLog();
      const events = await pagedStream(log, EVENT_PAGE + 2, []);
      const { writer } = ownerWriter(log, 'pages');
      expect(() => writer.stagePage(events.slice(0, EVENT_PAGE - 1))).toThrow();
      expect(() => writer.stagePage(events.slice(1, EVENT_PAGE + 1))).toThrow();
      expect(() => writer.stagePage([])).toThrow();
      expect(() => writer.stagePage(events.slice(0, EVENT_PAGE).map((e, i) => (i === 5 ? { ...e, stream: 'other' } : e)))).toThrow();
      expect(() => writer.stagePage(events.slice(0, EVENT_PAGE).map((e, i) => (i === 5 ? { ...e, seq: 70 } : e)))).toThrow();
      await commitAndRefresh(log, writer, [writer.stagePage(events.slice(0, EVENT_PAGE))]);
      expect(log.foldStream('account', 'p', 1, EVENT_PAGE + 2, 0, sumAmounts)).toMatchObject({ version: EVENT_PAGE + 2, folded: EVENT_PAGE + 2, paged: EVENT_PAGE });
    });
  });
}
