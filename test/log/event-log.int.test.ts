/**
 * What the LMDB adapter does beyond the log port, against real LMDB files: the partition count fixed
 * when the data dir is created, `sync` durability by default, the partition index kept as runs of refs,
 * and damage detected on read (DESIGN invariant 8) with an error naming the bad record, in every
 * database (events, partition index, commands, snapshots, pages). What the port promises (appends,
 * reads, idempotency, snapshots, folds, fencing, views) is the contract suite's: test/log/contract/.
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import type { EventEnvelope, EventMeta } from '../../src/kernel/index.js';
import { EVENT_PAGE, LmdbLog, INDEX_RUN, type EventLogOptions } from '../../src/log/index.js';
import { encodeRecord } from '../../src/log/record-codec.js';
import { rejectionOf } from '../support/errors.js';
import { deposits } from './contract/contract-support.js';
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

function lmdbLogBeyondThePort(name: string, openLog: OpenLog): void {
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

    it("counts a stream's next position after the writer's own append, and reads positions again after reloadHead", async () => {
      await withLog(async (log) => {
        const writer = log.openWriter('w', log.claimOwnership('test'), [0, 1, 2, 3]);
        await writer.commit([writer.stageAppend(deposits('a', 0, 0))]);
        await writer.commit([writer.stageAppend(deposits('a', 1, 0))]);
        // Something outside the writer puts an event at a#3 (an operator's repair, or damage).
        log.append([envelope('a', 3, 1, 0)]);
        await log.durable();
        // After the operator's resume (reloadHead), the writer reads a#3 as taken instead of counting it free.
        writer.reloadHead(0);
        const err = await rejectionOf(() => writer.stageAppend(deposits('a', 2, 0)));
        expect(err.code).toBe('CorruptRecord');
        log.refreshReads();
        expect(log.readStream('account', 'a').map((e) => [e.seq, e.partition])).toEqual([[1, 0], [2, 0], [3, 1]]);
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

lmdbLogBeyondThePort('LmdbLog on LMDB', (dir, options) => LmdbLog.open(dir, options));
