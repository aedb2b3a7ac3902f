/**
 * The LmdbLog contract, against real LMDB files: append and read back by stream and by partition,
 * idempotency records, snapshots, the time index (`versionAt`), the partition count fixed at creation,
 * and corruption detected on read (DESIGN invariant 8) with an error naming the bad record.
 * Written as a contract over a log factory, so another log implementation can run the same suite.
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import type { EventEnvelope, EventMeta } from '../../src/kernel/index.js';
import { EVENT_PAGE, LmdbLog, INDEX_RUN, type EventLogOptions } from '../../src/log/index.js';
import { encodeRecord } from '../../src/log/lmdb/record-codec.js';
import { rejectionOf } from '../support/errors.js';
import { useTempDirs } from '../support/temp-dirs.js';

type OpenLog = (dataDir: string, options?: EventLogOptions) => LmdbLog;

function envelope(stream: string, seq: number, partition: number, offset: number, extra: { ts?: number; meta?: EventMeta; type?: string; aggregateType?: string } = {}): EventEnvelope {
  return {
    aggregateType: extra.aggregateType ?? 'account',
    stream,
    type: extra.type ?? 'Deposited',
    seq,
    data: { amount: seq * 10 },
    ts: extra.ts ?? 1_000 + seq,
    partition,
    offset,
    meta: extra.meta ?? {},
  };
}

/** Flips one byte of a stored value through a second, raw lmdb handle on the same file. */
async function flipStoredByte(dataDir: string, db: string, key: unknown[], at: number): Promise<void> {
  const raw = open({ path: join(dataDir, 'log.mdb'), maxDbs: 16 });
  const store = raw.openDB(db, { encoding: 'binary', keyEncoding: 'ordered-binary' });
  const value = store.getBinary(key as never);
  if (!value) throw new Error(`no ${db} record at ${JSON.stringify(key)}`);
  const copy = Buffer.from(value);
  copy[at] = copy[at]! ^ 0xff;
  store.putSync(key as never, copy);
  await raw.close();
}

/** Replaces one partition-index record with well-formed (checksummed) refs of the caller's choice. */
async function rewriteIndex(dataDir: string, key: [number, number], refs: Array<[string, string, number]> | null): Promise<void> {
  const raw = open({ path: join(dataDir, 'log.mdb'), maxDbs: 16 });
  const store = raw.openDB('partitions', { encoding: 'binary', keyEncoding: 'ordered-binary' });
  if (refs) store.putSync(key as never, encodeRecord(refs, 'partitions', key));
  else store.removeSync(key as never);
  await raw.close();
}

function eventLogContract(name: string, openLog: OpenLog): void {
  describe(name, () => {
    const tempDir = useTempDirs('log');

    async function withLog<T>(work: (log: LmdbLog, dir: string) => Promise<T> | T, options: EventLogOptions = { partitions: 4 }): Promise<T> {
      const dir = await tempDir();
      const log = openLog(dir, options);
      try {
        return await work(log, dir);
      } finally {
        await log.close();
      }
    }

    it('fixes the partition count when the data dir is created and keeps it on reopen', async () => {
      const dir = await tempDir();
      await openLog(dir, { partitions: 5 }).close();
      const again = openLog(dir);
      expect(again.partitions).toBe(5);
      await again.close();
      const same = openLog(dir, { partitions: 5 });
      expect(same.partitions).toBe(5);
      await same.close();
    });

    it('refuses to reopen a data dir with another partition count: PartitionMismatch with both counts', async () => {
      const dir = await tempDir();
      await openLog(dir, { partitions: 4 }).close();
      const err = await rejectionOf(() => openLog(dir, { partitions: 8 }));
      expect(err.code).toBe('PartitionMismatch');
      expect(err.details).toEqual({ stored: 4, requested: 8 });
      expect(err.message).toContain('4 partitions');
    });

    it('acknowledges after the flush by default (sync durability)', async () => {
      await withLog((log) => expect(log.durability).toBe('sync'));
    });

    it('reads back exactly the envelopes it appended, by stream and seq', async () => {
      await withLog(async (log) => {
        const events = [
          envelope('a1', 1, 2, 0, { type: 'AccountOpened', meta: { commandId: 'c-1', correlationId: 'corr', causationId: 'cause' } }),
          envelope('a1', 2, 2, 1),
          envelope('a1', 3, 2, 2, { meta: { commandId: 'c-3' } }),
        ];
        log.append(events.slice(0, 1), 'c-1');
        log.append(events.slice(1, 2));
        log.append(events.slice(2), 'c-3');
        await log.durable();
        expect(log.readStream('account', 'a1')).toEqual(events);
        expect(log.readStream('account', 'a1', 2)).toEqual(events.slice(1));
        expect(log.readStream('account', 'a1', 2, 1)).toEqual(events.slice(1, 2));
        expect(log.readStream('account', 'a1', 4)).toEqual([]);
        expect([...log.iterateStream('account', 'a1', 1, 2)]).toEqual(events.slice(0, 2));
        expect(log.readEvent('account', 'a1', 3)).toEqual(events[2]);
        expect(log.readEvent('account', 'a1', 4)).toBeUndefined();
        expect(log.streamHead('account', 'a1')).toEqual({ version: 3, ts: events[2]!.ts });
      });
    });

    it('treats a stream with no events as empty: head 0, nothing to read', async () => {
      await withLog((log) => {
        expect(log.streamHead('account', 'nobody')).toEqual({ version: 0, ts: 0 });
        expect(log.readStream('account', 'nobody')).toEqual([]);
        expect(log.findCommand('account', 'nobody', 'c-1')).toBeUndefined();
        expect(log.snapshotAtOrBelow('account', 'nobody')).toBeUndefined();
        expect(log.partitionHead(0)).toBe(0);
        expect(log.readPartition(0)).toEqual([]);
      });
    });

    it('keeps streams apart: same id under another aggregate type, and ids that share a prefix', async () => {
      await withLog(async (log) => {
        log.append([envelope('a1', 1, 0, 0)]);
        log.append([envelope('a10', 1, 0, 1)]);
        log.append([envelope('a1', 1, 0, 2, { aggregateType: 'video', type: 'VideoUploaded' })]);
        log.append([envelope('z', 1, 0, 3, { aggregateType: 'accounts' })]);
        await log.durable();
        expect(log.readStream('account', 'a1').map((e) => e.stream)).toEqual(['a1']);
        expect(log.readStream('video', 'a1').map((e) => e.type)).toEqual(['VideoUploaded']);
        expect([...log.iterateStreamIds('account')]).toEqual(['a1', 'a10']);
        expect([...log.iterateStreamIds('video')]).toEqual(['a1']);
        expect([...log.iterateStreamIds('accounts')]).toEqual(['z']);
      });
    });

    it('reads a partition in offset order across streams, from any offset, with a limit', async () => {
      await withLog(async (log) => {
        const written = [envelope('a', 1, 1, 0), envelope('b', 1, 1, 1), envelope('a', 2, 1, 2), envelope('c', 1, 3, 0)];
        for (const e of written) log.append([e]);
        await log.durable();
        expect(log.readPartition(1).map((e) => [e.stream, e.seq, e.offset])).toEqual([
          ['a', 1, 0],
          ['b', 1, 1],
          ['a', 2, 2],
        ]);
        expect([...log.iteratePartition(1, 1)].map((e) => e.offset)).toEqual([1, 2]);
        expect(log.readPartition(1, 0, 2).map((e) => e.offset)).toEqual([0, 1]);
        expect(log.partitionHead(1)).toBe(3);
        expect(log.partitionHead(3)).toBe(1);
        expect(log.partitionHead(0)).toBe(0);
      });
    });

    it('records the seq range of a command under its commandId, for idempotent retries', async () => {
      await withLog(async (log) => {
        log.append([envelope('a', 1, 0, 0)], 'open-1');
        log.append([envelope('a', 2, 0, 1), envelope('a', 3, 0, 2), envelope('a', 4, 0, 3)], 'multi-1');
        await log.durable();
        expect(log.findCommand('account', 'a', 'open-1')).toEqual({ first: 1, last: 1 });
        expect(log.findCommand('account', 'a', 'multi-1')).toEqual({ first: 2, last: 4 });
        expect(log.findCommand('account', 'b', 'multi-1')).toBeUndefined();
        expect(log.findCommand('account', 'a', 'other')).toBeUndefined();
      });
    });

    it('finds the newest snapshot at or below a version', async () => {
      await withLog(async (log) => {
        log.putSnapshot('account', 'a', { version: 3, snapshotVersion: 1, state: { balance: 3 }, ts: 10 });
        log.putSnapshot('account', 'a', { version: 6, snapshotVersion: 1, state: { balance: 6 }, ts: 20 });
        log.putSnapshot('account', 'ab', { version: 9, snapshotVersion: 1, state: { balance: 9 }, ts: 30 });
        await log.durable();
        expect(log.snapshotAtOrBelow('account', 'a')).toEqual({ version: 6, snapshotVersion: 1, state: { balance: 6 }, ts: 20 });
        expect(log.snapshotAtOrBelow('account', 'a', 5)?.version).toBe(3);
        expect(log.snapshotAtOrBelow('account', 'a', 6)?.version).toBe(6);
        expect(log.snapshotAtOrBelow('account', 'a', 2)).toBeUndefined();
      });
    });

    it('answers "which version was current at time t" from the event timestamps', async () => {
      await withLog(async (log) => {
        const ts = [1_000, 1_000, 2_000, 3_000, 3_000];
        log.append(ts.map((t, i) => envelope('a', i + 1, 0, i, { ts: t })));
        await log.durable();
        expect(log.versionAt('account', 'a', 999)).toBe(0);
        expect(log.versionAt('account', 'a', 1_000)).toBe(2);
        expect(log.versionAt('account', 'a', 2_500)).toBe(3);
        expect(log.versionAt('account', 'a', 3_000)).toBe(5);
        expect(log.versionAt('account', 'a', Number.MAX_SAFE_INTEGER)).toBe(5);
        expect(log.versionAt('account', 'nobody', 5_000)).toBe(0);
      });
    });

    it('keeps everything it acknowledged across close and reopen', async () => {
      const dir = await tempDir();
      const log = openLog(dir, { partitions: 2 });
      const events = [envelope('a', 1, 1, 0, { meta: { commandId: 'c1' } }), envelope('a', 2, 1, 1)];
      log.append(events.slice(0, 1), 'c1');
      log.append(events.slice(1));
      log.putSnapshot('account', 'a', { version: 2, snapshotVersion: 1, state: { balance: 30 }, ts: 5 });
      await log.durable();
      await log.close();
      const again = openLog(dir);
      try {
        expect(again.readStream('account', 'a')).toEqual(events);
        expect(again.readPartition(1)).toEqual(events);
        expect(again.findCommand('account', 'a', 'c1')).toEqual({ first: 1, last: 1 });
        expect(again.snapshotAtOrBelow('account', 'a')?.state).toEqual({ balance: 30 });
      } finally {
        await again.close();
      }
    });

    it('indexes a commit as runs of refs: any offset reads back, across runs and partitions', async () => {
      await withLog(async (log) => {
        // One commit of 2.5 runs in partition 1 and a few events in partition 2, interleaved.
        const count = Math.floor(INDEX_RUN * 2.5);
        const written: EventEnvelope[] = [];
        for (let i = 0; i < count; i++) written.push(envelope(`s${i % 7}`, Math.floor(i / 7) + 1, 1, i));
        const other = [envelope('x', 1, 2, 0), envelope('x', 2, 2, 1)];
        log.commit([{ ...log.stageAppend(written.slice(0, 10)) }, log.stageAppend(other.slice(0, 1)), log.stageAppend(written.slice(10)), log.stageAppend(other.slice(1))]);
        await log.durable();
        expect(log.partitionHead(1)).toBe(count);
        expect(log.partitionHead(2)).toBe(2);
        for (const from of [0, 1, INDEX_RUN - 1, INDEX_RUN, INDEX_RUN + 1, 2 * INDEX_RUN + 3, count - 1, count]) {
          const got = [...log.iteratePartition(1, from, 5)];
          expect(got).toEqual(written.slice(from, from + 5));
        }
        expect(log.readPartition(1, 0, count)).toEqual(written);
        expect(log.readPartition(2)).toEqual(other);
        // Later commits continue the offsets in new runs.
        log.append([envelope('s0', 1000, 1, count)]);
        await log.durable();
        expect(log.partitionHead(1)).toBe(count + 1);
        expect(log.readPartition(1, count - 1, 10).map((e) => e.offset)).toEqual([count - 1, count]);
      });
    });

    it('refuses an index that skips offsets or points at the wrong event (CorruptRecord, not a silent skip)', async () => {
      const dir = await tempDir();
      const log = openLog(dir, { partitions: 2 });
      for (let i = 0; i < 3; i++) log.append([envelope('a', i + 1, 0, i)]);
      await log.durable();
      await log.close();
      await rewriteIndex(dir, [0, 1], null);
      const gap = openLog(dir);
      try {
        const err = await rejectionOf(() => gap.readPartition(0));
        expect(err.code).toBe('CorruptRecord');
        expect(err.message).toMatch(/jumps from offset 1 to 2/);
      } finally {
        await gap.close();
      }
      await rewriteIndex(dir, [0, 1], [['account', 'a', 3]]);
      const wrong = openLog(dir);
      try {
        const err = await rejectionOf(() => wrong.readPartition(0));
        expect(err.code).toBe('CorruptRecord');
        expect(err.message).toMatch(/offset 1 points at another event account\/a#3/);
      } finally {
        await wrong.close();
      }
    });

    describe('event pages', () => {
      const sum = (s: number, e: { type: string; data: unknown }): number => s + (e.data as { amount: number }).amount;
      const stream = (n: number): EventEnvelope[] => Array.from({ length: n }, (_, i) => envelope('p', i + 1, 0, i));

      async function pagedLog(n: number, pagesAt: number[]): Promise<{ log: LmdbLog; events: EventEnvelope[] }> {
        const dir = await tempDir();
        const log = openLog(dir, { partitions: 2 });
        const events = stream(n);
        log.commit(events.map((e) => log.stageAppend([e])));
        await log.durable();
        log.commit(pagesAt.map((first) => log.stagePage(events.slice(first - 1, first - 1 + EVENT_PAGE))));
        await log.durable();
        return { log, events };
      }

      it('fold to the same state and version as the events one by one, for any range, using only whole pages inside it', async () => {
        const n = EVENT_PAGE * 4 + 10;
        // Pages 1, 2 and 4 written, page 3 missing (never written, or lost in a crash).
        const { log, events } = await pagedLog(n, [1, EVENT_PAGE + 1, 3 * EVENT_PAGE + 1]);
        try {
          const truth = (from: number, to: number): number => events.filter((e) => e.seq >= from && e.seq <= to).reduce((s, e) => sum(s, e), 0);
          const points = [1, 2, EVENT_PAGE - 1, EVENT_PAGE, EVENT_PAGE + 1, 2 * EVENT_PAGE, 2 * EVENT_PAGE + 5, 3 * EVENT_PAGE + 1, 4 * EVENT_PAGE, n, n + 50];
          for (const from of points) {
            for (const to of points) {
              if (to < from) continue;
              const r = log.foldStream('account', 'p', from, to, 0, sum);
              const last = Math.min(to, n);
              expect({ from, to, state: r.state, version: r.version, folded: r.folded }).toEqual({ from, to, state: truth(from, to), version: last >= from ? last : 0, folded: Math.max(0, last - from + 1) });
              if (last >= from) expect(r.ts).toBe(events[last - 1]!.ts);
            }
          }
          const whole = log.foldStream('account', 'p', 1, Number.MAX_SAFE_INTEGER, 0, sum);
          expect(whole.paged).toBe(EVENT_PAGE * 3);
          expect(log.foldStream('account', 'p', 2, Number.MAX_SAFE_INTEGER, 0, sum).paged).toBe(EVENT_PAGE * 2);
        } finally {
          await log.close();
        }
      });

      it('are refused unless they are EVENT_PAGE consecutive events of one stream from a page boundary', async () => {
        await withLog((log) => {
          const events = stream(EVENT_PAGE + 2);
          expect(() => log.stagePage(events.slice(0, EVENT_PAGE - 1))).toThrow(/consecutive events/);
          expect(() => log.stagePage(events.slice(1, EVENT_PAGE + 1))).toThrow(/consecutive events/);
          const mixed = events.slice(0, EVENT_PAGE).map((e, i) => (i === 5 ? { ...e, stream: 'other' } : e));
          expect(() => log.stagePage(mixed)).toThrow(/consecutive events/);
          expect(log.stagePage(events.slice(0, EVENT_PAGE)).puts).toHaveLength(1);
        });
      });

      it('a damaged page stops the fold with CorruptRecord naming it', async () => {
        const { log, events } = await pagedLog(EVENT_PAGE + 3, [1]);
        const dir = log.path;
        await log.close();
        expect(events).toHaveLength(EVENT_PAGE + 3);
        await flipStoredByte(dir, 'pages', ['account', 'p', 1], 40);
        const again = openLog(dir);
        try {
          const err = await rejectionOf(() => again.foldStream('account', 'p', 1, 1000, 0, sum));
          expect(err.code).toBe('CorruptRecord');
          expect(err.details).toEqual({ where: 'pages ["account","p",1]' });
        } finally {
          await again.close();
        }
      });
    });

    describe('a corrupted record', () => {
      async function corrupted(db: string, key: unknown[], at = 6): Promise<{ log: LmdbLog; dir: string }> {
        const dir = await tempDir();
        const log = openLog(dir, { partitions: 2 });
        log.append([envelope('a', 1, 0, 0), envelope('a', 2, 0, 1)], 'cmd-1');
        log.putSnapshot('account', 'a', { version: 2, snapshotVersion: 1, state: { balance: 30 }, ts: 5 });
        await log.durable();
        await log.close();
        await flipStoredByte(dir, db, key, at);
        return { log: openLog(dir), dir };
      }

      it('stops a stream read with CorruptRecord naming the database and key', async () => {
        const { log } = await corrupted('events', ['account', 'a', 2]);
        try {
          expect(log.readEvent('account', 'a', 1)?.seq).toBe(1); // the good record still reads
          const err = await rejectionOf(() => log.readStream('account', 'a'));
          expect(err.code).toBe('CorruptRecord');
          expect(err.message).toContain('events ["account","a",2]');
          expect(err.details).toEqual({ where: 'events ["account","a",2]' });
          expect((await rejectionOf(() => log.streamHead('account', 'a'))).code).toBe('CorruptRecord');
        } finally {
          await log.close();
        }
      });

      it('is detected when the checksum bytes themselves are damaged', async () => {
        const { log } = await corrupted('events', ['account', 'a', 1], 0);
        try {
          expect((await rejectionOf(() => log.readEvent('account', 'a', 1))).code).toBe('CorruptRecord');
        } finally {
          await log.close();
        }
      });

      it.each([
        { db: 'partitions', key: [0, 0], read: (log: LmdbLog) => log.readPartition(0), where: 'partitions [0,0]' },
        { db: 'commands', key: ['account', 'a', 'cmd-1'], read: (log: LmdbLog) => log.findCommand('account', 'a', 'cmd-1'), where: 'commands ["account","a","cmd-1"]' },
        { db: 'snapshots', key: ['account', 'a', 2], read: (log: LmdbLog) => log.snapshotAtOrBelow('account', 'a'), where: 'snapshots ["account","a",2]' },
      ])('in $db is refused with CorruptRecord naming it', async ({ db, key, read, where }) => {
        const { log } = await corrupted(db, key);
        try {
          const err = await rejectionOf(() => read(log));
          expect(err.code).toBe('CorruptRecord');
          expect(err.details).toEqual({ where });
        } finally {
          await log.close();
        }
      });
    });
  });
}

eventLogContract('LmdbLog on LMDB', (dir, options) => LmdbLog.open(dir, options));
