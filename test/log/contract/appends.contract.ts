/**
 * The log contract, part 1: appends and the reads of what they wrote. Positions come from the writer
 * (seqs after the expected version, offsets from its partition head), a commit answers with the heads
 * it moved, and every read (stream, event, partition, stream ids, time) sees a batch whole, once its
 * commit settled and `refreshReads` was called.
 */
import { describe, expect } from 'vitest';
import type { EventEnvelope } from '../../../src/kernel/index.js';
import { rejectionOf } from '../../support/errors.js';
import { commitAndRefresh, deposits, eventsOf, ownerWriter, sumAmounts, type Contract } from './contract-support.js';

export function appendsContract({ openLog, it }: Contract): void {
  describe('appends and reads', () => {
    it('starts empty: the partition count it was opened with, no events, no commands, no snapshots, no failure', async () => {
      const { log } = await openLog(4);
      expect(log.partitions).toBe(4);
      expect(['sync', 'commit']).toContain(log.durability);
      expect(log.failure).toBeNull();
      expect(log.streamHead('account', 'nobody')).toEqual({ version: 0, ts: 0 });
      expect(log.readStream('account', 'nobody')).toEqual([]);
      expect([...log.iterateStream('account', 'nobody')]).toEqual([]);
      expect(log.readEvent('account', 'nobody', 1)).toBeUndefined();
      expect(log.findCommand('account', 'nobody', 'c-1')).toBeUndefined();
      expect(log.snapshotAtOrBelow('account', 'nobody')).toBeUndefined();
      expect(log.snapshotVersions('account', 'nobody')).toEqual([]);
      expect(log.versionAt('account', 'nobody', 5_000)).toBe(0);
      expect(log.foldStream('account', 'nobody', 1, 100, 7, sumAmounts)).toEqual({ state: 7, version: 0, ts: 0, folded: 0, paged: 0 });
      expect([...log.iterateStreamIds('account')]).toEqual([]);
      for (let p = 0; p < 4; p++) {
        expect(log.partitionHead(p)).toBe(0);
        expect(log.readPartition(p)).toEqual([]);
      }
    });

    it('positions an append when it is staged: seqs after the expected version, offsets from the writer\'s head of the partition', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const a = writer.stageAppend(deposits('a', 0, 1, 2));
      const b = writer.stageAppend(deposits('b', 0, 1));
      const c = writer.stageAppend(deposits('c', 0, 3));
      expect(eventsOf(a).map((e) => [e.stream, e.seq, e.partition, e.offset])).toEqual([
        ['a', 1, 1, 0],
        ['a', 2, 1, 1],
      ]);
      expect(eventsOf(b).map((e) => [e.stream, e.seq, e.offset])).toEqual([['b', 1, 2]]);
      expect(eventsOf(c).map((e) => [e.stream, e.seq, e.offset])).toEqual([['c', 1, 0]]);
      // The writer counts what it staged; the log has nothing yet.
      expect([writer.head(1), writer.head(3), writer.head(0)]).toEqual([3, 1, 0]);
      expect(log.partitionHead(1)).toBe(0);
      const committed = await commitAndRefresh(log, writer, [a, b, c]);
      expect(committed.heads).toEqual(new Map([[1, 3], [3, 1]]));
      expect([log.partitionHead(1), log.partitionHead(3), log.partitionHead(0)]).toEqual([3, 1, 0]);
    });

    it('reads back exactly the envelopes the stage answered: by stream, by seq, by range, and the stream head', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const opened = writer.stageAppend(deposits('a1', 0, 2, 1, { events: [{ type: 'AccountOpened', data: { owner: 'ann', tags: ['x'], nested: { n: null } } }], meta: { commandId: 'c-1', correlationId: 'corr', causationId: 'cause' }, ts: 500 }));
      const more = writer.stageAppend(deposits('a1', 1, 2, 2, { ts: 600 }));
      await commitAndRefresh(log, writer, [opened, more]);
      const events = [...eventsOf(opened), ...eventsOf(more)];
      expect(events.map((e) => e.meta)).toEqual([{ commandId: 'c-1', correlationId: 'corr', causationId: 'cause' }, {}, {}]);
      expect(log.readStream('account', 'a1')).toEqual(events);
      expect([...log.iterateStream('account', 'a1')]).toEqual(events);
      expect([...log.iterateStream('account', 'a1', 2, 2)]).toEqual(events.slice(1, 2));
      expect([...log.iterateStream('account', 'a1', 2)]).toEqual(events.slice(1));
      expect(log.readEvent('account', 'a1', 1)).toEqual(events[0]);
      expect(log.readEvent('account', 'a1', 3)).toEqual(events[2]);
      expect(log.readEvent('account', 'a1', 4)).toBeUndefined();
      expect(log.streamHead('account', 'a1')).toEqual({ version: 3, ts: 600, offset: events[2]!.offset });
    });

    it('continues a stream from its expected version and a partition from the writer\'s head in later batches', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', 0, 0, 2))]);
      const next = writer.stageAppend(deposits('a', 2, 0, 1));
      expect(eventsOf(next).map((e) => [e.seq, e.offset])).toEqual([[3, 2]]);
      const committed = await commitAndRefresh(log, writer, [next]);
      expect(committed.heads).toEqual(new Map([[0, 3]]));
      expect(log.readStream('account', 'a').map((e) => [e.seq, e.offset])).toEqual([[1, 0], [2, 1], [3, 2]]);
    });

    it('shows nothing of a batch before its commit settles, and all of it after (refreshReads: read-your-writes)', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const staged = [writer.stageAppend(deposits('a', 0, 0, 2, { commandId: 'c-a' })), writer.stageAppend(deposits('b', 0, 2))];
      const pending = writer.commit(staged);
      expect(log.streamHead('account', 'a').version).toBe(0);
      expect(log.readStream('account', 'b')).toEqual([]);
      expect([log.partitionHead(0), log.partitionHead(2)]).toEqual([0, 0]);
      expect(log.findCommand('account', 'a', 'c-a')).toBeUndefined();
      await pending;
      log.refreshReads();
      expect(log.streamHead('account', 'a').version).toBe(2);
      expect(log.readStream('account', 'b')).toHaveLength(1);
      expect([log.partitionHead(0), log.partitionHead(2)]).toEqual([2, 1]);
      expect(log.findCommand('account', 'a', 'c-a')).toEqual({ first: 1, last: 2 });
    });

    it('commits batches handed over one after another without waiting (pipelined), in order, each answering its heads', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const first = writer.commit([writer.stageAppend(deposits('a', 0, 1, 2))]);
      const second = writer.commit([writer.stageAppend(deposits('a', 2, 1)), writer.stageAppend(deposits('b', 0, 1))]);
      const [one, two] = await Promise.all([first, second]);
      log.refreshReads();
      expect(one.heads).toEqual(new Map([[1, 2]]));
      expect(two.heads).toEqual(new Map([[1, 4]]));
      expect(log.readPartition(1).map((e) => `${e.stream}#${e.seq}@${e.offset}`)).toEqual(['a#1@0', 'a#2@1', 'a#3@2', 'b#1@3']);
    });

    it('reads a partition in offset order across streams, from an offset, with a limit', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', 0, 1)), writer.stageAppend(deposits('b', 0, 1)), writer.stageAppend(deposits('c', 0, 3))]);
      await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', 1, 1))]);
      const offsets = (events: EventEnvelope[]) => events.map((e) => [e.stream, e.seq, e.offset]);
      expect(offsets(log.readPartition(1))).toEqual([['a', 1, 0], ['b', 1, 1], ['a', 2, 2]]);
      expect(offsets([...log.iteratePartition(1, 1)])).toEqual([['b', 1, 1], ['a', 2, 2]]);
      expect(offsets(log.readPartition(1, 0, 2))).toEqual([['a', 1, 0], ['b', 1, 1]]);
      expect(offsets([...log.iteratePartition(1, 2, 10)])).toEqual([['a', 2, 2]]);
      expect(log.readPartition(1, 3)).toEqual([]);
      expect(log.readPartition(1, 0, 0)).toEqual([]);
      expect(log.readPartition(3)).toEqual(log.readStream('account', 'c'));
      expect(log.readPartition(1)).toEqual([log.readEvent('account', 'a', 1), log.readEvent('account', 'b', 1), log.readEvent('account', 'a', 2)]);
    });

    it('pages through a stream: from a seq, at most `limit` events, nothing past the end', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', 0, 0, 5))]);
      const seqs = (events: EventEnvelope[]) => events.map((e) => e.seq);
      expect(seqs(log.readStream('account', 'a', 1, 2))).toEqual([1, 2]);
      expect(seqs(log.readStream('account', 'a', 3, 2))).toEqual([3, 4]);
      expect(seqs(log.readStream('account', 'a', 5, 2))).toEqual([5]);
      expect(log.readStream('account', 'a', 6)).toEqual([]);
      expect(log.readStream('account', 'a', 1, 0)).toEqual([]);
      expect(seqs(log.readStream('account', 'a', 2))).toEqual([2, 3, 4, 5]);
    });

    it('keeps streams apart (the same id under another type, ids sharing a prefix) and lists the ids of a type in key order', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      await commitAndRefresh(log, writer, [
        writer.stageAppend(deposits('a10', 0, 0)),
        writer.stageAppend(deposits('a1', 0, 0)),
        writer.stageAppend(deposits('a1', 0, 0, 1, { aggregateType: 'video', events: [{ type: 'VideoUploaded', data: {} }] })),
        writer.stageAppend(deposits('B', 0, 0)),
        writer.stageAppend(deposits('z', 0, 0, 1, { aggregateType: 'accounts' })),
      ]);
      expect(log.readStream('account', 'a1').map((e) => [e.aggregateType, e.stream, e.type])).toEqual([['account', 'a1', 'Deposited']]);
      expect(log.readStream('video', 'a1').map((e) => e.type)).toEqual(['VideoUploaded']);
      expect([...log.iterateStreamIds('account')]).toEqual(['B', 'a1', 'a10']);
      expect([...log.iterateStreamIds('video')]).toEqual(['a1']);
      expect([...log.iterateStreamIds('accounts')]).toEqual(['z']);
      expect([...log.iterateStreamIds('acc')]).toEqual([]);
    });

    it('answers which version was current at a time, from the events\' timestamps (versionAt)', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const ts = [1_000, 1_000, 2_000, 3_000, 3_000];
      await commitAndRefresh(log, writer, ts.map((t, i) => writer.stageAppend(deposits('a', i, 0, 1, { ts: t }))));
      expect(log.versionAt('account', 'a', 999)).toBe(0);
      expect(log.versionAt('account', 'a', 1_000)).toBe(2);
      expect(log.versionAt('account', 'a', 2_500)).toBe(3);
      expect(log.versionAt('account', 'a', 3_000)).toBe(5);
      expect(log.versionAt('account', 'a', Number.MAX_SAFE_INTEGER)).toBe(5);
    });

    it('stores an event\'s schema version past 1 and returns it on every read; at version 1 or without one, none', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const staged = writer.stageAppend(deposits('a', 0, 1, 3, {
        events: [
          { type: 'Deposited', data: { amount: 10, currency: 'EUR' }, schemaVersion: 2 },
          { type: 'Deposited', data: { amount: 20 }, schemaVersion: 1 },
          { type: 'Deposited', data: { amount: 30 } },
        ],
      }));
      // What the stage answers is what reads return: the version only where it is past 1.
      expect(eventsOf(staged).map((e) => e.schemaVersion)).toEqual([2, undefined, undefined]);
      expect(eventsOf(staged)[1]).not.toHaveProperty('schemaVersion');
      await commitAndRefresh(log, writer, [staged]);
      const versions = (events: Iterable<EventEnvelope>) => [...events].map((e) => [e.seq, e.schemaVersion]);
      const expected = [[1, 2], [2, undefined], [3, undefined]];
      expect(versions(log.readStream('account', 'a'))).toEqual(expected);
      expect(versions(log.iterateStream('account', 'a'))).toEqual(expected);
      expect(versions(log.readPartition(1))).toEqual(expected);
      expect(versions(log.iteratePartition(1))).toEqual(expected);
      expect(log.readEvent('account', 'a', 1)).toEqual(eventsOf(staged)[0]);
      expect(log.readEvent('account', 'a', 1)).toMatchObject({ data: { amount: 10, currency: 'EUR' }, schemaVersion: 2 });
      for (const seq of [2, 3]) expect(log.readEvent('account', 'a', seq)).not.toHaveProperty('schemaVersion');
      expect(log.readStream('account', 'a')).toEqual(eventsOf(staged));
    });

    it('holds copies: changing appended data after staging, or an event read back, changes nothing in the log', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const data = { amount: 10, tags: ['a'] };
      const staged = writer.stageAppend(deposits('a', 0, 0, 1, { events: [{ type: 'Deposited', data }] }));
      data.amount = 99;
      data.tags.push('changed after staging');
      await commitAndRefresh(log, writer, [staged]);
      const read = log.readEvent('account', 'a', 1)!;
      expect(read.data).toEqual({ amount: 10, tags: ['a'] });
      (read.data as { amount: number }).amount = 1;
      read.meta.commandId = 'forged';
      log.readStream('account', 'a')[0]!.type = 'Withdrawn';
      [...log.iteratePartition(0)][0]!.seq = 7;
      expect(log.readEvent('account', 'a', 1)).toEqual({ ...read, data: { amount: 10, tags: ['a'] }, meta: {} });
    });

    it('refuses data it cannot hold when staging, consuming no position: the rest of the batch commits with no gap', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log);
      const ok = writer.stageAppend(deposits('a', 0, 0));
      for (const data of [{ s: Symbol('not storable') }, { n: 2n ** 70n }]) {
        expect(() => writer.stageAppend(deposits('b', 0, 0, 1, { events: [{ type: 'Deposited', data }] }))).toThrow();
        expect(writer.head(0)).toBe(1);
      }
      const after = writer.stageAppend(deposits('b', 0, 0));
      expect(eventsOf(after)[0]!.offset).toBe(1);
      await commitAndRefresh(log, writer, [ok, after]);
      expect(log.readPartition(0).map((e) => `${e.stream}@${e.offset}`)).toEqual(['a@0', 'b@1']);
    });

    it('counts staged events in the writer\'s head; reloadHead reads the log\'s head again; a partition it does not own is refused', async () => {
      const { log } = await openLog();
      const { writer } = ownerWriter(log, 'writer-1', [0, 1]);
      await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', 0, 1))]);
      writer.stageAppend(deposits('b', 0, 1, 3)); // staged, never committed
      expect(writer.head(1)).toBe(4);
      expect(writer.reloadHead(1)).toBe(1);
      expect(writer.head(1)).toBe(1);
      expect(eventsOf(writer.stageAppend(deposits('b', 0, 1)))[0]!.offset).toBe(1);
      expect((await rejectionOf(() => writer.head(2))).code).toBeTypeOf('string');
      expect(() => writer.stageAppend(deposits('c', 0, 3))).toThrow();
      expect(() => writer.reloadHead(3)).toThrow();
    });
  });
}
