/**
 * `verifyLog`: reads every record of every database of a log and reports damage per partition.
 *
 * What is checked (format 3, see environment.ts and stored-event.ts):
 * - every framed record's checksum, bound to its address (`decodeRecord` with db + key): a damaged
 *   value, a damaged key or a moved record;
 * - `events`: keys are [type, id, seq], each stream's seqs run from its start (1 unless a scavenge moved
 *   it: stream_meta's marks) with no gap;
 * - `partitions`: each partition's runs are contiguous from its start (0 unless a scavenge moved it),
 *   and every ref points at an intact event whose stored partition and offset are the ref's, or below
 *   its stream's start (removed by a scavenge); every intact event is indexed;
 * - `pages`: EVENT_PAGE events from a page boundary, equal to the events they summarize;
 * - `commands`: the seqs a command id names exist (or were scavenged); `snapshots`: at a version the
 *   stream has, or at its start - 1 (where hydration starts after a scavenge);
 * - views and `writers`: checksums (views) and readability; damage there is not partition damage
 *   (views are rebuilt from the log), so it goes to `other`;
 * - LMDB errors thrown while reading (a damaged page) are reported, never thrown (see scan.ts).
 *
 * The report is bounded: at most `maxProblems` problems are listed per bucket, `problemCount` counts all.
 *
 * Gotchas:
 * - This module cannot import `partition/` (dependency direction): a caller that wants damaged records
 *   (whose stored partition cannot be trusted) filed under their stream's partition passes `partitionOf`.
 * - On a live log, writes continue during the scan: an event appended after the events pass but before
 *   the index pass would look unindexed. The live route therefore compares counts only up to the
 *   partition heads read before the scan (`heads`).
 */
import { isDeepStrictEqual } from 'node:util';
import { RuntimeError, systemClock } from '../../../kernel/index.js';
import { LOG_FORMAT_VERSION } from '../environment.js';
import { EVENT_PAGE } from '../../event-page.js';
import { decodeRecord } from '../../record-codec.js';
import { decodeKey, FRAMED_DBS, openRawLog, showKey, type RawLog } from './raw-log.js';
import { scanDatabase } from './scan.js';

export interface VerifyProblem {
  db: string;
  /** The record's key as JSON, or `0x<hex>` when the stored bytes are no key. */
  key: string;
  problem: string;
}

export interface ProblemBucket {
  status: 'ok' | 'damaged';
  problems: VerifyProblem[];
  /** All problems found, listed or not. */
  problemCount: number;
}

export interface PartitionVerdict extends ProblemBucket {
  partition: number;
  /** Intact events stored with this partition. */
  events: number;
  /** Refs in this partition's index. */
  indexed: number;
}

export interface VerifyReport {
  ok: boolean;
  dataDir: string;
  formatVersion: number | null;
  partitionCount: number;
  /** Records read per database. */
  records: Record<string, number>;
  partitions: PartitionVerdict[];
  /** Damage not tied to one partition: meta, views, writers, unreadable keys, LMDB errors. */
  other: ProblemBucket;
  startedAt: string;
  durationMs: number;
}

export interface VerifyOptions {
  /** Problems listed per bucket (default 100). */
  maxProblems?: number;
  /** Files damaged records under their stream's partition (see the Gotchas). */
  partitionOf?: (id: string, partitions: number) => number;
  /** Partition count when the meta record is unreadable. */
  partitions?: number;
  /**
   * Live logs: each partition's head before the scan. Events and refs at or after it were written
   * during the scan; the count comparison ignores them.
   */
  heads?: readonly number[];
}

type StoredEvent = [type: string, data: unknown, ts: number, partition: number, offset: number, meta: unknown, schemaVersion?: number];
type Ref = [string, string, number];

const isSeq = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 1;
const isOffset = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
const isStreamKey = (k: (string | number)[]): k is Ref => k.length === 3 && typeof k[0] === 'string' && typeof k[1] === 'string' && isSeq(k[2]);

export function verifyLog(raw: RawLog, options: VerifyOptions = {}): VerifyReport {
  const started = systemClock.now();
  const max = options.maxProblems ?? 100;
  const P = raw.format?.partitions ?? options.partitions ?? 0;
  const bucket = (): ProblemBucket => ({ status: 'ok', problems: [], problemCount: 0 });
  const parts: PartitionVerdict[] = Array.from({ length: P }, (_, partition) => ({ partition, events: 0, indexed: 0, ...bucket() }));
  const other = bucket();
  const records: Record<string, number> = {};
  const report = (partition: number | undefined, db: string, key: string, problem: string) => {
    const b = partition !== undefined && partition >= 0 && partition < P ? parts[partition]! : other;
    b.status = 'damaged';
    if (b.problems.length < max) b.problems.push({ db, key, problem });
    b.problemCount++;
  };
  const partitionOfId = (id: unknown): number | undefined => (typeof id === 'string' && options.partitionOf && P > 0 ? options.partitionOf(id, P) : undefined);
  const scan = (db: string) => {
    records[db] = 0;
    const handle = db === 'writers' ? raw.writers : raw.dbs[db as (typeof FRAMED_DBS)[number]];
    return scanDatabase(handle, (err, after, gaveUp) =>
      report(undefined, db, after ? showKey(after) : '(start)', `LMDB error while reading after this key: ${(err as Error)?.message ?? String(err)}${gaveUp ? '; the rest of this database could not be read' : '; resumed after it'}`),
    );
  };

  if (raw.metaError) report(undefined, 'meta', '"format"', raw.metaError);
  else if (raw.format && raw.format.version !== LOG_FORMAT_VERSION) report(undefined, 'meta', '"format"', `log format ${raw.format.version}; this build reads ${LOG_FORMAT_VERSION}`);

  /** An event by address: the decoded record, 'missing', or the reason it is damaged. */
  const eventAt = (ref: Ref): StoredEvent | 'missing' | { damaged: string } => {
    let buf: Buffer | undefined;
    try {
      buf = raw.eventsByRef.getBinary([...ref]) ?? undefined;
    } catch (err) {
      return { damaged: (err as Error).message };
    }
    if (!buf) return 'missing';
    try {
      return decodeRecord<StoredEvent>(buf, 'events', ref);
    } catch (err) {
      return { damaged: (err as Error).message };
    }
  };
  /** The scavenge's marks (stream-meta.ts): a stream's first stored seq, a partition's first indexed offset. */
  const mark = (key: (string | number)[], none: number): number => {
    try {
      const buf = raw.streamMeta?.getBinary(key);
      if (!buf) return none;
      const n = decodeRecord<number>(buf, 'stream_meta', key as never);
      if (Number.isSafeInteger(n) && n >= none) return n;
      report(undefined, 'stream_meta', JSON.stringify(key), 'not a position');
    } catch (err) {
      report(undefined, 'stream_meta', JSON.stringify(key), RuntimeError.is(err) ? err.message : String(err));
    }
    return none;
  };
  let lastStart: { type: string; id: string; start: number } | undefined;
  const startOf = (type: string, id: string): number => {
    if (lastStart?.type !== type || lastStart.id !== id) lastStart = { type, id, start: mark([type, id, '#start'], 1) };
    return lastStart.start;
  };
  /** The partition a stream's records belong to: from its first intact event, else `partitionOf`. */
  // Records of one stream come together in key order: remember the last stream asked about.
  let lastStream: { type: string; id: string; partition: number | undefined } | undefined;
  const streamPartition = (type: string, id: string): number | undefined => {
    if (lastStream?.type === type && lastStream.id === id) return lastStream.partition;
    const first = eventAt([type, id, 1]);
    lastStream = { type, id, partition: Array.isArray(first) ? first[3] : partitionOfId(id) };
    return lastStream.partition;
  };
  /** Whether an event record exists at an address (intact or not: the events pass judges that). */
  const eventExists = (ref: Ref): boolean => {
    try {
      return raw.eventsByRef.doesExist([...ref]);
    } catch {
      return false;
    }
  };
  const decodeOrReport = <T>(db: string, keyRaw: Buffer, value: Buffer, partition: (key: (string | number)[] | undefined) => number | undefined): { key: (string | number)[]; value: T } | undefined => {
    let key: (string | number)[];
    try {
      key = decodeKey(keyRaw);
    } catch (err) {
      report(undefined, db, showKey(keyRaw), `undecodable key (${(err as Error).message})`);
      return undefined;
    }
    try {
      return { key, value: decodeRecord<T>(value, db, key) };
    } catch (err) {
      report(partition(key), db, JSON.stringify(key), RuntimeError.is(err) ? err.message : String(err));
      return undefined;
    }
  };

  // events: checksums, key shape, contiguous seqs per stream, per-partition counts.
  const headOf = (p: number) => options.heads?.[p] ?? Number.MAX_SAFE_INTEGER;
  let stream: { type: string; id: string; next: number; partition: number | undefined } | undefined;
  for (const { key: keyRaw, value } of scan('events')) {
    records['events']!++;
    const rec = decodeOrReport<StoredEvent>('events', keyRaw, value, (k) => partitionOfId(k?.[1]));
    // A record that fails its checksum is reported and nothing else: its key cannot be trusted (a
    // damaged key can even sit out of order among another stream's records), so it must not move the
    // stream tracker. Its stream shows the hole it left as a jump.
    if (!rec) continue;
    const key = rec.key;
    if (!isStreamKey(key)) {
      report(partitionOfId(key[1]), 'events', JSON.stringify(key), 'not an event key [aggregateType, id, seq]');
      continue;
    }
    const [type, id, seq] = key;
    if (!stream || stream.type !== type || stream.id !== id) stream = { type, id, next: startOf(type, id), partition: undefined };
    const p = Array.isArray(rec.value) ? rec.value[3] : (stream.partition ?? partitionOfId(id));
    if (seq !== stream.next) report(p, 'events', JSON.stringify(key), `stream ${type}/${id} jumps from seq ${stream.next - 1} to ${seq}`);
    stream.next = seq + 1;
    const r = rec.value;
    if (!Array.isArray(r) || typeof r[0] !== 'string' || !Number.isSafeInteger(r[3]) || r[3] < 0 || r[3] >= P || !isOffset(r[4])) {
      report(p, 'events', JSON.stringify(key), 'not an event record [type, data, ts, partition, offset, meta]');
      continue;
    }
    if (stream.partition !== undefined && stream.partition !== r[3]) report(r[3], 'events', JSON.stringify(key), `stream ${type}/${id} is in partition ${stream.partition} but this event says ${r[3]}`);
    stream.partition ??= r[3];
    if (r[4] < headOf(r[3])) parts[r[3]]!.events++;
  }

  // partitions: contiguous runs, refs pointing at the events that name them back.
  const expected = Array.from({ length: P }, (_, p) => mark([p], 0));
  const matched = new Array<number>(P).fill(0);
  for (const { key: keyRaw, value } of scan('partitions')) {
    records['partitions']!++;
    const rec = decodeOrReport<Ref[]>('partitions', keyRaw, value, (k) => (typeof k?.[0] === 'number' ? k[0] : undefined));
    if (!rec) continue;
    const [p, first] = rec.key as [number, number];
    const where = JSON.stringify(rec.key);
    if (rec.key.length !== 2 || !Number.isSafeInteger(p) || p < 0 || p >= P || !isOffset(first)) {
      report(undefined, 'partitions', where, `not a partition-index key [partition < ${P}, firstOffset]`);
      continue;
    }
    const refs = rec.value as Ref[] | number;
    // A gap (a count): offsets whose events a scavenge removed (prefix-removal.ts); records still tile the partition.
    const gap = typeof refs === 'number' && Number.isSafeInteger(refs) && refs > 0;
    if (!gap && (!Array.isArray(refs) || refs.length === 0)) {
      report(p, 'partitions', where, 'not a run of refs nor a gap');
      continue;
    }
    if (first !== expected[p]) report(p, 'partitions', where, `partition ${p} index jumps from offset ${expected[p]} to ${first}`);
    if (typeof refs === 'number') {
      expected[p] = first + refs;
      continue;
    }
    expected[p] = first + refs.length;
    parts[p]!.indexed += refs.length;
    refs.forEach((ref, i) => {
      const offset = first + i;
      if (!Array.isArray(ref) || !isStreamKey(ref)) return report(p, 'partitions', where, `offset ${offset} holds no ref [aggregateType, id, seq]`);
      const e = eventAt(ref);
      const name = `${ref[0]}/${ref[1]}#${ref[2]}`;
      if (e === 'missing') {
        if (ref[2] >= startOf(ref[0], ref[1])) report(p, 'partitions', where, `offset ${offset} points at a missing event ${name}`);
      }
      else if (!Array.isArray(e)) report(p, 'partitions', where, `offset ${offset} points at a damaged event ${name}`);
      else if (e[3] !== p || e[4] !== offset) report(p, 'partitions', where, `offset ${offset} points at another event ${name} (stored at partition ${e[3]} offset ${e[4]})`);
      else if (offset < headOf(p)) matched[p]!++;
    });
  }
  for (const v of parts) {
    if (v.events > matched[v.partition]!) report(v.partition, 'partitions', `[${v.partition}]`, `${v.events - matched[v.partition]!} intact event(s) of partition ${v.partition} are not in its index`);
  }

  // pages: equal to the events they summarize.
  for (const { key: keyRaw, value } of scan('pages')) {
    records['pages']!++;
    const rec = decodeOrReport<StoredEvent[]>('pages', keyRaw, value, (k) => (k && typeof k[0] === 'string' && typeof k[1] === 'string' ? streamPartition(k[0], k[1]) : undefined));
    if (!rec) continue;
    const where = JSON.stringify(rec.key);
    if (!isStreamKey(rec.key)) {
      report(undefined, 'pages', where, 'not a page key [aggregateType, id, firstSeq]');
      continue;
    }
    const [type, id, first] = rec.key;
    const p = streamPartition(type, id);
    const page = rec.value;
    if (!Array.isArray(page) || page.length !== EVENT_PAGE || (first - 1) % EVENT_PAGE !== 0) {
      report(p, 'pages', where, `not a page of ${EVENT_PAGE} events from a page boundary`);
      continue;
    }
    // A page may straddle its stream's start: the entries below it summarize scavenged events.
    for (let i = Math.max(0, startOf(type, id) - first); i < EVENT_PAGE; i++) {
      const e = eventAt([type, id, first + i]);
      if (!Array.isArray(e) || !isDeepStrictEqual(e, page[i])) {
        report(p, 'pages', where, `page entry ${i} (seq ${first + i}) differs from the event record (${e === 'missing' ? 'missing' : Array.isArray(e) ? 'other content' : 'damaged'})`);
        break;
      }
    }
  }

  // commands: the seqs they name exist.
  for (const { key: keyRaw, value } of scan('commands')) {
    records['commands']!++;
    const sp = (k: (string | number)[] | undefined) => (k && typeof k[0] === 'string' && typeof k[1] === 'string' ? streamPartition(k[0], k[1]) : undefined);
    const rec = decodeOrReport<[number, number, string?]>('commands', keyRaw, value, sp);
    if (!rec) continue;
    const where = JSON.stringify(rec.key);
    const [type, id] = rec.key as [string, string, string];
    const [first, last] = Array.isArray(rec.value) ? rec.value : [];
    if (rec.key.length !== 3 || typeof type !== 'string' || typeof id !== 'string' || typeof rec.key[2] !== 'string') report(undefined, 'commands', where, 'not a command key [aggregateType, id, commandId]');
    else if (!isSeq(first) || !isSeq(last) || last < first) report(sp(rec.key), 'commands', where, 'not a seq range [firstSeq, lastSeq]');
    else {
      for (const seq of [first, last]) if (seq >= startOf(type, id) && !eventExists([type, id, seq])) report(sp(rec.key), 'commands', where, `names seq ${seq}, which the stream does not have`);
    }
  }

  // snapshots: at a version the stream has.
  for (const { key: keyRaw, value } of scan('snapshots')) {
    records['snapshots']!++;
    const sp = (k: (string | number)[] | undefined) => (k && typeof k[0] === 'string' && typeof k[1] === 'string' ? streamPartition(k[0], k[1]) : undefined);
    const rec = decodeOrReport<unknown[]>('snapshots', keyRaw, value, sp);
    if (!rec) continue;
    if (!isStreamKey(rec.key)) report(undefined, 'snapshots', JSON.stringify(rec.key), 'not a snapshot key [aggregateType, id, version]');
    else if (!Array.isArray(rec.value) || rec.value.length !== 3) report(sp(rec.key), 'snapshots', JSON.stringify(rec.key), 'not a snapshot [snapshotVersion, state, ts]');
    else if (!eventExists(rec.key) && rec.key[2] !== startOf(rec.key[0], rec.key[1]) - 1) report(sp(rec.key), 'snapshots', JSON.stringify(rec.key), `snapshot at version ${rec.key[2]}, beyond the stream's head`);
  }

  // Views (derived, rebuilt from the log) and writers: readable, checksums intact.
  for (const db of ['view_rows', 'view_checkpoints', 'view_meta'] as const) {
    for (const { key, value } of scan(db)) {
      records[db]!++;
      decodeOrReport(db, key, value, () => undefined);
    }
  }
  for (const _ of scan('writers')) records['writers']!++;

  if (P === 0) report(undefined, 'meta', '"format"', 'partition count unknown: pass it explicitly');
  const ok = other.status === 'ok' && parts.every((v) => v.status === 'ok');
  return {
    ok,
    dataDir: raw.dataDir,
    formatVersion: raw.format?.version ?? null,
    partitionCount: P,
    records,
    partitions: parts,
    other,
    startedAt: new Date(started).toISOString(),
    durationMs: systemClock.now() - started,
  };
}

/** Opens the log of `dataDir` read-only (refusing a dir without one), verifies it, closes it. */
export async function verifyDataDir(dataDir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const raw = openRawLog(dataDir);
  try {
    return verifyLog(raw, options);
  } finally {
    await raw.close();
  }
}
