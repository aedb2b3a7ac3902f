/**
 * The scavenge's partition-index rewrite (LMDB; src/log/lmdb/prefix-removal.ts): in a partition shared
 * with a stream that keeps its events, the refs of a scavenged stream's removed events leave the index
 * (runs of the refs that stay and gap records that still tile the partition), where before they stayed
 * for good behind the kept stream's first record. Read through the raw file: no record but the
 * partition's last holds a ref of a removed event, the records tile the partition from its start to its
 * head, `verify` finds nothing, reads answer what they answered before the removal minus the removed
 * events, appends go on at the head, and a gap record taken out or with a flipped byte is damage to reads and
 * `verify` alike.
 */
import { join } from 'node:path';
import * as lmdb from 'lmdb';
import { describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/index.js';
import { decodeRecord, LmdbLog, verifyDataDir, type EventLog } from '../../src/log/index.js';
import type { StreamRef } from '../../src/log/stored-event.js';
import { flipValueByte, removeRecord } from '../support/log-damage.js';
import { useTempDirs } from '../support/temp-dirs.js';
import { commitAndRefresh, deposits, ownerWriter } from './contract/contract-support.js';

const tempDir = useTempDirs('index-compaction');

type Run = StreamRef[] | number;

/** The partition's index records in key order, read from the closed log's file. */
async function indexRecords(dir: string, partition: number): Promise<Array<{ first: number; run: Run }>> {
  const raw = lmdb.open({ path: join(dir, 'log.mdb'), maxDbs: 16, readOnly: true });
  try {
    const db = raw.openDB('partitions', { encoding: 'binary', keyEncoding: 'ordered-binary' });
    const out: Array<{ first: number; run: Run }> = [];
    for (const { key, value } of db.getRange({ start: [partition, 0], end: [partition, Number.MAX_SAFE_INTEGER] })) {
      out.push({ first: (key as number[])[1]!, run: decodeRecord<Run>(value as Buffer, 'partitions', key as number[]) });
    }
    return out;
  } finally {
    await raw.close();
  }
}

const names = (log: EventLog, p: number) => log.readPartition(p, 0, 100_000).map((e) => `${e.stream}#${e.seq}@${e.offset}`);

describe('the scavenge drops removed events from a shared partition index', () => {
  it('rewrites the records around them as kept runs and merged gaps; reads, verify and appends agree', async () => {
    const dir = await tempDir();
    let log: EventLog = LmdbLog.open(dir, { partitions: 2 });
    const P = partitionOf('a', 2);
    expect(partitionOf('c', 2)).toBe(P);
    const { writer } = ownerWriter(log);
    // c first (it keeps its events and so pins the partition's front), then 30 commits each holding
    // 10 events of a and 1 of c (one mixed record each), then 20 commits of a alone.
    await commitAndRefresh(log, writer, [writer.stageAppend(deposits('c', 0, P, 1))]);
    for (let i = 0; i < 30; i++) await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', i * 10, P, 10)), writer.stageAppend(deposits('c', i + 1, P, 1))]);
    for (let i = 0; i < 20; i++) await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', 300 + i * 10, P, 10))]);
    await commitAndRefresh(log, writer, [writer.stageSnapshot('account', 'a', { version: 450, snapshotVersion: 1, state: 0, ts: 1 })]);
    const head = log.partitionHead(P);
    const before = names(log, P);

    // Remove a#1..450 in steps of 64.
    for (let done = false; !done; ) done = (await log.removeStreamPrefix('account', 'a', 451, 64)).done;
    log.refreshReads();
    expect(log.streamStart('account', 'a')).toBe(451);
    const after = names(log, P);
    expect(after).toEqual(before.filter((n) => !n.startsWith('a#') || Number(n.slice(2, n.indexOf('@'))) >= 451));
    expect(log.partitionHead(P)).toBe(head);
    await log.close();

    const records = await indexRecords(dir, P);
    // The records tile the partition from 0 to its head.
    let next = 0;
    for (const { first, run } of records) {
      expect(first).toBe(next);
      next = first + (typeof run === 'number' ? run : run.length);
    }
    expect(next).toBe(head);
    // No ref of a removed event but in the partition's last record (never rewritten: its end is the head).
    const refs = records.slice(0, -1).flatMap(({ run }) => (typeof run === 'number' ? [] : run));
    expect(refs.filter(([, id, seq]) => id === 'a' && seq < 451)).toEqual([]);
    expect(refs.filter(([, id]) => id === 'c')).toHaveLength(31);
    // Gaps merged across steps and records: each mixed record became a gap of a's 10 and c's run of 1;
    // a#301..450, fifteen records of 10 after c's last event, became one gap of 150.
    expect(records.map(({ run }) => (typeof run === 'number' ? run : `${run.length} refs`))).toEqual([
      '1 refs',
      ...Array.from({ length: 30 }, () => [10, '1 refs']).flat(),
      150,
      ...Array.from({ length: 5 }, () => '10 refs'),
    ]);

    const report = await verifyDataDir(dir, { partitionOf });
    expect(report.partitions.flatMap((p) => p.problems).concat(report.other.problems)).toEqual([]);
    expect(report.ok).toBe(true);

    // Reopened: the same reads, a front trim stops at c's first event, appends go on at the head.
    log = LmdbLog.open(dir);
    expect(names(log, P)).toEqual(after);
    expect(names(log, P).slice(0, 3)).toEqual(['c#1@0', 'c#2@11', 'c#3@22']);
    expect(await log.trimPartition(P, head)).toMatchObject({ start: 0, offsets: 0 });
    const { writer: w2 } = ownerWriter(log, 'writer-2');
    await commitAndRefresh(log, w2, [w2.stageAppend(deposits('c', 31, P, 1))]);
    expect(log.readPartition(P, head, 10).map((e) => `${e.stream}#${e.seq}@${e.offset}`)).toEqual([`c#32@${head}`]);
    await log.close();

    // A gap is still a record the partition needs: without it, reads and verify call the index damaged;
    // and its count is checksummed like any record (a flipped byte is damage, not another count).
    await removeRecord(dir, 'partitions', [P, 1]);
    await flipValueByte(dir, 'partitions', [P, 12]);
    const damaged = await verifyDataDir(dir, { partitionOf });
    expect(damaged.ok).toBe(false);
    const problems = damaged.partitions[P]!.problems;
    expect(problems.map((p) => p.problem)).toContain(`partition ${P} index jumps from offset 1 to 11`);
    expect(problems.filter((p) => p.key === JSON.stringify([P, 12])).map((p) => p.problem).join()).toMatch(/checksum/);
    log = LmdbLog.open(dir);
    expect(() => log.readPartition(P, 0, 100)).toThrow(/index jumps from offset 1 to 11/);
    expect(() => log.readPartition(P, 11, 100)).toThrow(/checksum/);
    await log.close();
  });

  it('leaves the refs of a step whose events are spread over more records than it reads (reads skip them), and drops them in smaller steps', async () => {
    const dir = await tempDir();
    let log: EventLog = LmdbLog.open(dir, { partitions: 2 });
    const P = partitionOf('a', 2);
    const { writer } = ownerWriter(log);
    // 300 commits of one event of a and one of c: a's events lie in 300 records.
    for (let i = 0; i < 300; i++) await commitAndRefresh(log, writer, [writer.stageAppend(deposits('a', i, P, 1)), writer.stageAppend(deposits('c', i, P, 1))]);
    await commitAndRefresh(log, writer, [writer.stageSnapshot('account', 'a', { version: 299, snapshotVersion: 1, state: 0, ts: 1 })]);
    const before = names(log, P);
    const kept = before.filter((n) => !n.startsWith('a#') || n.startsWith('a#300@'));
    // One step of 299 events spans 299 records (more than INDEX_SCAN): the refs stay, reads skip them.
    expect(await log.removeStreamPrefix('account', 'a', 300, 512)).toMatchObject({ events: 299, done: true });
    log.refreshReads();
    expect(names(log, P)).toEqual(kept);
    await log.close();
    let records = await indexRecords(dir, P);
    expect(records.every(({ run }) => Array.isArray(run) && run.length === 2)).toBe(true);
    expect((await verifyDataDir(dir, { partitionOf })).ok).toBe(true);

    // On a log where the same removal runs in steps of 64 events, each step's span is read and rewritten.
    const dir2 = await tempDir();
    log = LmdbLog.open(dir2, { partitions: 2 });
    const { writer: w } = ownerWriter(log);
    for (let i = 0; i < 300; i++) await commitAndRefresh(log, w, [w.stageAppend(deposits('a', i, P, 1)), w.stageAppend(deposits('c', i, P, 1))]);
    await commitAndRefresh(log, w, [w.stageSnapshot('account', 'a', { version: 299, snapshotVersion: 1, state: 0, ts: 1 })]);
    for (let done = false; !done; ) done = (await log.removeStreamPrefix('account', 'a', 300, 64)).done;
    log.refreshReads();
    expect(names(log, P)).toEqual(kept);
    await log.close();
    records = await indexRecords(dir2, P);
    const refs = records.slice(0, -1).flatMap(({ run }) => (typeof run === 'number' ? [] : run));
    expect(refs.filter(([, id]) => id === 'a')).toEqual([]);
    expect(refs).toHaveLength(299);
    expect((await verifyDataDir(dir2, { partitionOf })).ok).toBe(true);
  });
});
