/**
 * The log contract, part 7: the scavenge (port.ts, "Scavenge"). A stream's prefix is removed in bounded
 * steps with its start mark; reads start at the marks (a stream read at its start, a partition read
 * skips what was removed, a fold that would need a removed event is Gone); the stream's last event is
 * never removed; a partition's front is dropped only behind `upTo` and only where every event is gone;
 * all of it kept across reopen.
 */
import { describe, expect } from 'vitest';
import { ErrorCodes } from '../../../src/kernel/index.js';
import { EVENT_PAGE } from '../../../src/log/event-page.js';
import type { EventLog, PrefixRemoval } from '../../../src/log/index.js';
import { commitAndRefresh, deposits, eventsOf, ownerWriter, sumAmounts, type Contract } from './contract-support.js';

/** The cases an adapter that cannot scavenge names in its `unsupported` list. */
export const SCAVENGE_STREAM_CASE = "removes a stream's prefix in bounded steps; reads start at the stream's start; the last event stays";
export const SCAVENGE_PARTITION_CASE = "drops a partition's front only behind upTo and where every event is gone; reads skip what was removed";

async function removeAll(log: EventLog, type: string, id: string, below: number, budget: number): Promise<{ steps: number; total: PrefixRemoval }> {
  const total: PrefixRemoval = { events: 0, pages: 0, snapshots: 0, commands: 0, start: 1, done: false };
  let steps = 0;
  while (!total.done) {
    const r = await log.removeStreamPrefix(type, id, below, budget);
    steps++;
    total.events += r.events;
    total.pages += r.pages;
    total.snapshots += r.snapshots;
    total.commands += r.commands;
    total.start = r.start;
    total.done = r.done;
    if (steps > 1000) throw new Error('the removal never finished');
  }
  log.refreshReads();
  return { steps, total };
}

export function scavengeContract({ openLog, it }: Contract): void {
  describe('scavenge', () => {
    it(SCAVENGE_STREAM_CASE, async () => {
      const adapter = await openLog(2);
      let log = adapter.log;
      const { writer } = ownerWriter(log);
      // 150 events of stream a in commands of 10 (each with a command id), snapshots at 50 and 100, and
      // the pages 1..64 and 65..128 (the second straddles the start the removal leaves: it stays).
      const staged = [];
      for (let v = 0; v < 150; v += 10) staged.push(writer.stageAppend(deposits('a', v, 1, 10, { commandId: `c${v}` })));
      await commitAndRefresh(log, writer, staged);
      const all = staged.flatMap((s) => eventsOf(s));
      await commitAndRefresh(log, writer, [
        writer.stagePage(all.slice(0, EVENT_PAGE)),
        writer.stagePage(all.slice(EVENT_PAGE, 2 * EVENT_PAGE)),
        writer.stageSnapshot('account', 'a', { version: 50, snapshotVersion: 1, state: 'at 50', ts: 1 }),
        writer.stageSnapshot('account', 'a', { version: 100, snapshotVersion: 1, state: 'at 100', ts: 2 }),
      ]);
      expect(log.streamStart('account', 'a')).toBe(1);

      // Never the last event.
      await expect(log.removeStreamPrefix('account', 'a', 151)).rejects.toMatchObject({ code: ErrorCodes.InvalidQuery });

      const { steps, total } = await removeAll(log, 'account', 'a', 101, 32);
      expect(steps).toBeGreaterThan(3);
      expect(total).toMatchObject({ events: 100, pages: 1, snapshots: 1, commands: 10, start: 101, done: true });
      const check = (l: EventLog) => {
        expect(l.streamStart('account', 'a')).toBe(101);
        expect(l.streamHead('account', 'a').version).toBe(150);
        expect(l.readEvent('account', 'a', 100)).toBeUndefined();
        expect(l.readEvent('account', 'a', 101)?.seq).toBe(101);
        expect(l.readStream('account', 'a').map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 101 + i));
        expect([...l.iterateStream('account', 'a', 1, 105)].map((e) => e.seq)).toEqual([101, 102, 103, 104, 105]);
        // The snapshot where hydration starts stays; the fold after it needs nothing removed.
        expect(l.snapshotVersions('account', 'a')).toEqual([100]);
        expect(l.foldStream('account', 'a', 101, 150, 0, sumAmounts)).toMatchObject({ version: 150, folded: 50, state: Array.from({ length: 50 }, (_, i) => (101 + i) * 10).reduce((a, b) => a + b) });
        expect(() => l.foldStream('account', 'a', 1, 150, 0, sumAmounts)).toThrow(expect.objectContaining({ code: ErrorCodes.Gone }));
        // Also when the fold would reach a kept page first (no event before it is left).
        expect(() => l.foldStream('account', 'a', 1, 128, 0, sumAmounts)).toThrow(expect.objectContaining({ code: ErrorCodes.Gone }));
        expect(() => l.foldStream('account', 'a', 60, 150, 0, sumAmounts)).toThrow(expect.objectContaining({ code: ErrorCodes.Gone }));
        // The time index answers within what is stored.
        expect(l.versionAt('account', 'a', 1_000 + 120)).toBe(120);
        expect(l.versionAt('account', 'a', 0)).toBe(100);
        // Command ids of removed events are forgotten; the kept ones stay.
        expect(l.findCommand('account', 'a', 'c90')).toBeUndefined();
        expect(l.findCommand('account', 'a', 'c100')).toMatchObject({ first: 101, last: 110 });
        // A partition read skips the removed events.
        expect(l.readPartition(1, 0, 1000).map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 101 + i));
      };
      check(log);
      // A step with nothing left to remove changes nothing.
      expect(await log.removeStreamPrefix('account', 'a', 101)).toMatchObject({ events: 0, commands: 0, start: 101, done: true });
      if (adapter.reopen) {
        log = await adapter.reopen();
        check(log);
      }
      // Appends go on after the head as before.
      const { writer: w2 } = ownerWriter(log, 'writer-2');
      await commitAndRefresh(log, w2, [w2.stageAppend(deposits('a', 150, 1, 1))]);
      expect(log.streamHead('account', 'a').version).toBe(151);
    });

    it(SCAVENGE_PARTITION_CASE, async () => {
      const adapter = await openLog(2);
      let log = adapter.log;
      const { writer } = ownerWriter(log);
      // Partition 1: a#1..50 (offsets 0..49, five commits), b#1..5 (50..54), a#51..100 (55..104).
      for (let v = 0; v < 50; v += 10) await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', v, 1, 10))]);
      await commitAndRefresh(log, writer, [writer.stageAppend(deposits('b', 0, 1, 5))]);
      await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', 50, 1, 50))]);
      await commitAndRefresh(log, writer, [writer.stageSnapshot('account', 'a', { version: 60, snapshotVersion: 1, state: 0, ts: 1 })]);
      await removeAll(log, 'account', 'a', 61, 512);
      expect(log.partitionStart(1)).toBe(0);

      // Reads skip the removed events: offsets have a gap, a limit bounds offsets.
      const offsets = (l: EventLog, from: number, limit: number) => l.readPartition(1, from, limit).map((e) => e.offset);
      expect(offsets(log, 0, 60)).toEqual([50, 51, 52, 53, 54]);
      expect(offsets(log, 60, 7)).toEqual([65, 66]);
      expect(log.readPartition(1, 0, 1000).map((e) => `${e.stream}#${e.seq}`).slice(0, 7)).toEqual(['b#1', 'b#2', 'b#3', 'b#4', 'b#5', 'a#61', 'a#62']);

      // Not past upTo: only what lies wholly below offset 30.
      let trim = await log.trimPartition(1, 30);
      log.refreshReads();
      expect(trim).toMatchObject({ start: 30, offsets: 30, done: true });
      expect(log.partitionStart(1)).toBe(30);
      // Then up to b's first event, which stays: nothing after it goes.
      trim = await log.trimPartition(1, 1000);
      log.refreshReads();
      expect(trim).toMatchObject({ start: 50, offsets: 20, done: true });
      expect(await log.trimPartition(1, 1000)).toMatchObject({ start: 50, offsets: 0 });
      expect(log.partitionHead(1)).toBe(105);
      expect(log.readPartition(1, 0, 1000).map((e) => e.offset)).toEqual([50, 51, 52, 53, 54, ...Array.from({ length: 40 }, (_, i) => 65 + i)]);
      // Other partitions: untouched.
      expect(log.partitionStart(0)).toBe(0);

      if (adapter.reopen) {
        log = await adapter.reopen();
        expect(log.partitionStart(1)).toBe(50);
        expect(log.readPartition(1, 40, 20).map((e) => e.offset)).toEqual([50, 51, 52, 53, 54]);
        expect(log.partitionHead(1)).toBe(105);
      }
      // Appends go on at the head.
      const { writer: w2 } = ownerWriter(log, 'writer-2');
      const [e] = eventsOf(await (async () => {
        const s = w2.stageAppend(deposits('b', 5, 1, 1));
        await commitAndRefresh(log, w2, [s]);
        return s;
      })());
      expect(e!.offset).toBe(105);
    });

    it('lists the streams of a type that have retention settings of their own', async () => {
      const adapter = await openLog(2);
      const log = adapter.log;
      if (!(await settable(log))) return;
      await log.setRetention('account', 'b', { maxCount: 3 });
      await log.setRetention('account', 'a', { maxCount: 3 });
      await log.setRetention('account', undefined, { maxCount: 9 });
      await log.setRetention('video', 'v', { maxCount: 3 });
      log.refreshReads();
      expect([...log.streamsWithRetention('account')]).toEqual(['a', 'b']);
      expect([...log.streamsWithRetention('video')]).toEqual(['v']);
      expect([...log.streamsWithRetention('other')]).toEqual([]);
    });
  });
}

/** False for an adapter that refuses retention settings (NotImplemented): nothing to list then. */
async function settable(log: EventLog): Promise<boolean> {
  try {
    await log.setRetention('probe', 'p', {});
    await log.setRetention('probe', 'p', null);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === ErrorCodes.NotImplemented) return false;
    throw err;
  }
}
