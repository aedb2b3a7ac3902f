/**
 * Schema versions in the LMDB adapter (log/port.ts, "Schema versions"): an event without one is stored
 * byte for byte as before versions existed (old data dirs read as version 1, no format bump); one with
 * a version past 1 carries it as a seventh field, which every read returns (stream, event, partition),
 * `foldStream` hands to `evolve` (from single events and from pages), pages keep (so verify finds them
 * equal to their events), and salvage copies.
 */
import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/kernel/index.js';
import { EVENT_PAGE, LmdbLog, salvageLog, verifyDataDir } from '../../src/log/index.js';
import { encodeRecord } from '../../src/log/record-codec.js';
import { partitionOf } from '../../src/partition/index.js';
import { useTempDirs } from '../support/temp-dirs.js';

const P = 4;

/** Event `seq` of stream `id` (alone in its partition, so offset = seq - 1), at `schemaVersion` when given. */
function event(id: string, seq: number, schemaVersion?: number): EventEnvelope {
  const e: EventEnvelope = { aggregateType: 'account', stream: id, type: 'Deposited', seq, data: { amount: seq }, ts: 1_000 + seq, partition: partitionOf(id, P), offset: seq - 1, meta: {} };
  if (schemaVersion !== undefined) e.schemaVersion = schemaVersion;
  return e;
}

/** Even seqs at version 2, odd ones at version 1 (no field). */
const mixed = (id: string, n: number) => Array.from({ length: n }, (_, i) => event(id, i + 1, (i + 1) % 2 === 0 ? 2 : undefined));
const versionsOf = (events: readonly EventEnvelope[]) => events.map((e) => e.schemaVersion);

describe('schema versions in the LMDB log', () => {
  const tempDir = useTempDirs('schema-version');

  it('stores an event without a version (or at version 1) exactly as before versions existed, a later version as a seventh field', async () => {
    const dir = await tempDir();
    const log = LmdbLog.open(dir, { partitions: P });
    log.append([event('s1', 1), event('s1', 2, 2), event('s1', 3, 1)]);
    await log.durable();
    await log.close();

    const raw = open({ path: join(dir, 'log.mdb'), maxDbs: 16 });
    try {
      const events = raw.openDB('events', { encoding: 'binary', keyEncoding: 'ordered-binary' });
      const stored = (seq: number) => events.getBinary(['account', 's1', seq] as never)!;
      const p = partitionOf('s1', P);
      // The record format 3 wrote before versions: [type, data, ts, partition, offset, meta].
      expect(stored(1).equals(encodeRecord(['Deposited', { amount: 1 }, 1_001, p, 0, null], 'events', ['account', 's1', 1]))).toBe(true);
      expect(stored(2).equals(encodeRecord(['Deposited', { amount: 2 }, 1_002, p, 1, null, 2], 'events', ['account', 's1', 2]))).toBe(true);
      expect(stored(3).equals(encodeRecord(['Deposited', { amount: 3 }, 1_003, p, 2, null], 'events', ['account', 's1', 3]))).toBe(true);
    } finally {
      await raw.close();
    }
  });

  it('returns each event with the version it was stored at, by stream, by position and by partition', async () => {
    const dir = await tempDir();
    const log = LmdbLog.open(dir, { partitions: P });
    try {
      log.append(mixed('s1', 4));
      await log.durable();
      expect(versionsOf(log.readStream('account', 's1'))).toEqual([undefined, 2, undefined, 2]);
      expect(versionsOf([...log.iterateStream('account', 's1')])).toEqual([undefined, 2, undefined, 2]);
      expect(versionsOf([...log.iteratePartition(partitionOf('s1', P))])).toEqual([undefined, 2, undefined, 2]);
      expect(log.readEvent('account', 's1', 2)).toEqual(event('s1', 2, 2));
      expect(log.readEvent('account', 's1', 1)).not.toHaveProperty('schemaVersion');
    } finally {
      await log.close();
    }
  });

  it('hands evolve each stored version, from pages and from single events; pages verify and salvage keeps versions', async () => {
    const dir = await tempDir();
    const log = LmdbLog.open(dir, { partitions: P });
    const n = EVENT_PAGE + 3;
    try {
      log.append(mixed('s1', n));
      await log.durable();
      log.commit([log.stagePage(log.readStream('account', 's1', 1, EVENT_PAGE))]);
      await log.durable();
      log.refreshReads();
      const folded = log.foldStream<(number | undefined)[]>('account', 's1', 1, n, [], (s, _e, v) => [...s, v]);
      expect(folded.paged).toBe(EVENT_PAGE);
      expect(folded.state).toEqual(mixed('s1', n).map((e) => e.schemaVersion));
    } finally {
      await log.close();
    }
    // A page's entries are compared with the event records: the versions are part of both.
    expect((await verifyDataDir(dir, { partitionOf })).ok).toBe(true);

    const into = join(await tempDir(), 'salvaged');
    expect((await salvageLog(dir, into)).eventsKept).toBe(n);
    const copy = LmdbLog.open(into);
    try {
      expect(versionsOf(copy.readStream('account', 's1'))).toEqual(mixed('s1', n).map((e) => e.schemaVersion));
    } finally {
      await copy.close();
    }
  });
});
