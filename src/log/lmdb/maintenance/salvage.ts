/**
 * `salvageLog`: builds a NEW data dir from the intact events of a damaged one (never in place: the
 * damaged dir stays as it is, for a second attempt or a human).
 *
 * What is kept: for each stream, its intact events from seq 1 (or from its start, when a scavenge
 * removed a prefix: then with the snapshot at its start - 1, where hydration starts, and the start mark)
 * up to its first gap or damaged record.
 * Later events of that stream are lost: folding them over a hole would make up a state that never was
 * (and a decider's rules were checked against the missing events). A cut never splits a command: when
 * the source's command-id record says events k..m were one command and the cut falls inside, the cut
 * moves to k-1 (all of a command's events or none, invariant 2). Every lost event is listed (stream,
 * seq, why) in the report and, where its record could still be decoded, written in full as a JSON line
 * to `salvage-quarantine.jsonl` in the new dir for a human to look at.
 *
 * What is derived again (nothing derived is copied, it may be what is damaged):
 * - the partition index: each kept event stays in its partition, offsets are reassigned contiguously
 *   from 0 in the original offset order (so subscribers see the same order, minus the lost events);
 * - command ids: from the events' `meta.commandId` (consecutive events of a stream with the same id are
 *   one command), with the source's idempotency digest when its record is intact and names exactly
 *   those seqs;
 * - pages: for every full page of kept events (optional);
 * - retention settings: copied (configuration, not derived);
 * - snapshots: none, but the one a scavenged stream hydrates from (checked by its checksum; without it
 *   the stream keeps no event: its state could not be rebuilt); the runtime writes the rest again;
 * - views: not here (they need the projections, a layer above the log): the CLI rebuilds them.
 *
 * Gotchas:
 * - Holds every kept event in memory while it renumbers the partitions: fine for the logs this runtime
 *   serves on one machine; a log larger than memory needs a two-pass variant.
 * - Takes the data-dir lock of the source and of the target: offline only.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ErrorCodes, RuntimeError, type EventEnvelope, type EventMeta, systemClock } from '../../../kernel/index.js';
import { lockDataDir } from '../dir-lock.js';
import { LmdbLog } from '../lmdb-log.js';
import { EVENT_PAGE } from '../../event-page.js';
import type { StagedWrite } from '../write-chain.js';
import type { RetentionSettings } from '../../port.js';
import { corruptRecord, decodeRecord } from '../../record-codec.js';
import { decodeKey, hasLog, noLogError, openRawLog, showKey } from './raw-log.js';
import { backupSubjectKeys, KEYS_FILE } from '../subject-keys.js';
import { scanDatabase } from './scan.js';

export const QUARANTINE_FILE = 'salvage-quarantine.jsonl';
export const SALVAGE_REPORT_FILE = 'salvage-report.json';

export interface LostEvent {
  aggregateType: string | null;
  id: string | null;
  /** The seq (for a missing range, its first seq; see `toSeq`). Null when the key itself is unreadable. */
  seq: number | null;
  /** Last seq of a range of missing seqs. */
  toSeq?: number;
  why: string;
  /** The stored key's bytes, when they are no key. */
  key?: string;
}

export interface SalvageReport {
  /** True when nothing was lost. */
  ok: boolean;
  source: string;
  into: string;
  partitions: number;
  streams: number;
  /** Streams that lost at least one event. */
  streamsCut: number;
  eventsKept: number;
  eventsLost: number;
  lost: LostEvent[];
  /** Parts of the source that LMDB could not read at all (a damaged page): events there are unknown. */
  unreadable: Array<{ db: string; after: string; error: string }>;
  /** `snapshots`: those of scavenged streams, copied (see the header). */
  derived: { commandIds: number; pages: number; snapshots: number };
  /** In `into`, when some lost events could be decoded. */
  quarantineFile: string | null;
  durationMs: number;
}

export interface SalvageOptions {
  /** Partition count when the source's meta record is unreadable. */
  partitions?: number;
  /** Write pages for full runs of kept events (default true). */
  pages?: boolean;
}

type StoredEvent = [type: string, data: unknown, ts: number, partition: number, offset: number, meta: EventMeta | null, schemaVersion?: number];
interface Kept {
  e: EventEnvelope;
  /** Offset in the source. */
  from: number;
}
interface CommandRecord {
  commandId: string;
  first: number;
  last: number;
  digest?: string;
}

/** Events per commit while writing the new log. */
const CHUNK = 2000;

export async function salvageLog(sourceDir: string, intoDir: string, options: SalvageOptions = {}): Promise<SalvageReport> {
  const started = systemClock.now();
  const source = resolve(sourceDir);
  const into = resolve(intoDir);
  if (source === into) throw new RuntimeError(ErrorCodes.InvalidOptions, 'salvage writes a NEW data dir: --into must differ from the damaged data dir', { dataDir: source });
  if (existsSync(into) && readdirSync(into).length > 0) throw new RuntimeError(ErrorCodes.AlreadyExists, `salvage target ${into} exists and is not empty; choose a new dir`, { into });
  // Before the lock, which would create the dir: a mistyped path must not leave anything behind.
  if (!hasLog(source)) throw noLogError(source);
  const sourceLock = lockDataDir(source, 'eventide salvage (source)');
  try {
    const raw = openRawLog(source);
    let read: ReturnType<typeof readIntact>;
    try {
      const partitions = raw.format?.partitions ?? options.partitions;
      if (!partitions) throw new RuntimeError(ErrorCodes.CorruptLog, `the meta record of ${source} is unreadable (${raw.metaError ?? 'no partition count'}); pass the partition count explicitly`, { dataDir: source });
      read = readIntact(raw, partitions);
    } finally {
      await raw.close();
    }
    const targetLock = lockDataDir(into, 'eventide salvage (target)');
    try {
      const derived = await writeSalvaged(into, read, options.pages ?? true);
      // The salvaged events keep their sealed personal fields: the subjects' keys go with them.
      await backupSubjectKeys(source, join(into, KEYS_FILE));
      const quarantine = read.quarantine.length > 0 ? join(into, QUARANTINE_FILE) : null;
      if (quarantine) writeFileSync(quarantine, read.quarantine.map((q) => JSON.stringify(q)).join('\n') + '\n');
      const report: SalvageReport = {
        ok: read.lost.length === 0 && read.unreadable.length === 0,
        source,
        into,
        partitions: read.partitions,
        streams: read.streams,
        streamsCut: read.streamsCut,
        eventsKept: read.kept.length,
        eventsLost: read.lost.reduce((n, l) => n + (l.toSeq !== undefined && l.seq !== null ? l.toSeq - l.seq + 1 : 1), 0),
        lost: read.lost,
        unreadable: read.unreadable,
        derived,
        quarantineFile: quarantine,
        durationMs: systemClock.now() - started,
      };
      writeFileSync(join(into, SALVAGE_REPORT_FILE), JSON.stringify(report, null, 2) + '\n');
      return report;
    } finally {
      targetLock.release();
    }
  } finally {
    sourceLock.release();
  }
}

/** Reads the source: kept events per stream, lost events with reasons, the intact command records. */
function readIntact(raw: ReturnType<typeof openRawLog>, partitions: number) {
  const lost: LostEvent[] = [];
  const quarantine: unknown[] = [];
  const unreadable: SalvageReport['unreadable'] = [];
  const kept: Kept[] = [];
  const onError = (db: string) => (err: unknown, after: Buffer | undefined) => unreadable.push({ db, after: after ? showKey(after) : '(start)', error: (err as Error)?.message ?? String(err) });

  const commands = new Map<string, CommandRecord[]>();
  for (const { key: k, value } of scanDatabase(raw.dbs.commands, onError('commands'))) {
    try {
      const key = decodeKey(k);
      const [first, last, digest] = decodeRecord<[number, number, string?]>(value, 'commands', key);
      const stream = JSON.stringify([key[0], key[1]]);
      const list = commands.get(stream) ?? [];
      list.push({ commandId: String(key[2]), first, last, ...(typeof digest === 'string' ? { digest } : {}) });
      commands.set(stream, list);
    } catch {
      // A damaged command-id record is derived data: the events' own meta.commandId rebuilds it.
    }
  }

  /** Scavenged streams: their start and the snapshot they hydrate from (an intact one, else none). */
  const starts = new Map<string, { start: number; snapshot: Buffer | undefined }>();
  const startOf = (type: string, id: string): number => {
    const key = JSON.stringify([type, id]);
    let s = starts.get(key);
    if (s === undefined) {
      s = { start: 1, snapshot: undefined };
      try {
        const mark = raw.streamMeta?.getBinary([type, id, '#start']);
        const n = mark ? decodeRecord<number>(mark, 'stream_meta', [type, id, '#start'] as never) : 1;
        if (Number.isSafeInteger(n) && n > 1) {
          s.start = n;
          const snapKey = [type, id, n - 1];
          const snap = raw.snapshotsByRef.getBinary(snapKey) ?? undefined;
          if (snap) decodeRecord(snap, 'snapshots', snapKey as never);
          s.snapshot = snap;
        }
      } catch {
        // A damaged mark or snapshot: the stream is treated as unscavenged, and its gap cuts it whole.
        s = { start: 1, snapshot: undefined };
      }
      starts.set(key, s);
    }
    return s.start;
  };

  let streams = 0;
  let streamsCut = 0;
  let current: { type: string; id: string; start: number; next: number; partition: number | undefined; events: Kept[]; cut: string | null } | null = null;
  const finish = () => {
    if (!current) return;
    const c = current;
    // A cut inside a command moves to before that command (all of a command's events or none).
    if (c.cut !== null) {
      streamsCut++;
      const head = c.start + c.events.length - 1;
      const straddling = (commands.get(JSON.stringify([c.type, c.id])) ?? []).find((r) => r.first <= head && r.last > head);
      if (straddling) {
        for (const k of c.events.splice(Math.max(0, straddling.first - c.start))) {
          lost.push({ aggregateType: c.type, id: c.id, seq: k.e.seq, why: `part of command ${straddling.commandId} (seqs ${straddling.first}..${straddling.last}), whose later events are lost` });
          quarantine.push({ ...lostEntry(c.type, c.id, k.e.seq, 'part of a command whose later events are lost'), event: k.e });
        }
      }
    }
    kept.push(...c.events);
    current = null;
  };

  /** The last damaged record listed outside its stream, so the hole it leaves is not listed twice. */
  let lastDamaged: { type: string; id: string; seq: number } | null = null;
  for (const { key: k, value } of scanDatabase(raw.dbs.events, onError('events'))) {
    let key: (string | number)[];
    try {
      key = decodeKey(k);
      if (key.length !== 3 || typeof key[0] !== 'string' || typeof key[1] !== 'string' || !Number.isSafeInteger(key[2])) throw corruptRecord('events', key, 'not [aggregateType, id, seq]');
    } catch (err) {
      lost.push({ aggregateType: null, id: null, seq: null, why: `undecodable event key (${(err as Error).message})`, key: k.toString('hex') });
      quarantine.push({ why: 'undecodable event key', key: k.toString('hex'), value: value.toString('base64') });
      continue;
    }
    const [type, id, seq] = key as [string, string, number];
    let rec: StoredEvent | undefined;
    let damage: string | undefined;
    try {
      rec = decodeRecord<StoredEvent>(value, 'events', key);
      if (!Array.isArray(rec) || typeof rec[0] !== 'string' || !Number.isSafeInteger(rec[3]) || rec[3] < 0 || rec[3] >= partitions || !Number.isSafeInteger(rec[4])) {
        damage = 'not an event record';
        rec = undefined;
      }
    } catch (err) {
      damage = RuntimeError.is(err) ? err.message : String(err);
    }
    // A damaged record that is not the current stream's next one neither switches streams nor moves the
    // stream's position: its key cannot be trusted (a damaged key can sit out of order, inside another
    // stream's records or at another seq of its own stream).
    if (!rec && (!current || current.type !== type || current.id !== id || seq !== current.next)) {
      lastDamaged = { type, id, seq };
      lost.push({ aggregateType: type, id, seq, why: `damaged record (its key may be damaged too): ${damage}` });
      quarantine.push({ ...lostEntry(type, id, seq, 'damaged record'), value: value.toString('base64') });
      continue;
    }
    if (!current || current.type !== type || current.id !== id) {
      finish();
      streams++;
      const start = startOf(type, id);
      current = { type, id, start, next: start, partition: undefined, events: [], cut: null };
    }
    const c = current;
    if (c.cut === null) {
      if (seq !== c.next) {
        const why = 'missing: no record at this position (a damaged key moves a record elsewhere)';
        const listed = lastDamaged !== null && lastDamaged.type === type && lastDamaged.id === id && lastDamaged.seq === c.next && seq - 1 === c.next;
        if (!listed) lost.push({ aggregateType: type, id, seq: c.next, ...(seq - 1 > c.next ? { toSeq: seq - 1 } : {}), why });
        c.cut = `after the gap at seq ${c.next}`;
      } else if (!rec) {
        c.cut = `after the damaged record at seq ${seq}`;
      } else if (c.partition !== undefined && rec[3] !== c.partition) {
        c.cut = `after seq ${seq - 1}: seq ${seq} says partition ${rec[3]}, the stream's earlier events ${c.partition}`;
        lost.push({ aggregateType: type, id, seq, why: `stored in partition ${rec[3]}, the stream's earlier events in ${c.partition}` });
        quarantine.push({ ...lostEntry(type, id, seq, 'stored in another partition than the stream'), event: toEnvelope(type, id, seq, rec) });
        c.next = seq + 1;
        continue;
      }
    }
    c.next = seq + 1;
    if (!rec) {
      lost.push({ aggregateType: type, id, seq, why: `damaged record: ${damage}` });
      quarantine.push({ ...lostEntry(type, id, seq, 'damaged record'), value: value.toString('base64') });
      continue;
    }
    if (c.cut !== null) {
      lost.push({ aggregateType: type, id, seq, why: `intact, but ${c.cut}` });
      quarantine.push({ ...lostEntry(type, id, seq, `intact, but ${c.cut}`), event: toEnvelope(type, id, seq, rec) });
      continue;
    }
    c.partition ??= rec[3];
    c.events.push({ e: toEnvelope(type, id, seq, rec), from: rec[4] });
  }
  finish();
  lost.sort((a, b) => cmpNullable(a.aggregateType, b.aggregateType) || cmpNullable(a.id, b.id) || (a.seq ?? 0) - (b.seq ?? 0));
  // A scavenged stream with no intact snapshot to hydrate from keeps nothing: its events alone are no state.
  const kept2: Kept[] = [];
  for (const k of kept) {
    const s = starts.get(JSON.stringify([k.e.aggregateType, k.e.stream]));
    if (s && s.start > 1 && s.snapshot === undefined) {
      lost.push({ aggregateType: k.e.aggregateType, id: k.e.stream, seq: k.e.seq, why: `the stream was scavenged up to seq ${s.start - 1} and its snapshot there is missing or damaged: its state cannot be rebuilt` });
      quarantine.push({ ...lostEntry(k.e.aggregateType, k.e.stream, k.e.seq, 'scavenged stream without its snapshot'), event: k.e });
    } else kept2.push(k);
  }
  // Retention settings are configuration, not derived data: they go with the events (intact ones only).
  const retention: { type: string; id: string | undefined; settings: RetentionSettings }[] = [];
  try {
    for (const { key, value } of raw.streamMeta?.getRange({ snapshot: false }) ?? []) {
      if (!Array.isArray(key) || key.length !== 2 || typeof key[0] !== 'string' || typeof key[1] !== 'string') continue;
      try {
        retention.push({ type: key[0], id: key[1] === '' ? undefined : key[1], settings: decodeRecord<RetentionSettings>(value, 'stream_meta', key as never) });
      } catch (err) {
        unreadable.push({ db: 'stream_meta', after: JSON.stringify(key), error: (err as Error).message });
      }
    }
  } catch (err) {
    unreadable.push({ db: 'stream_meta', after: '(start)', error: (err as Error).message });
  }
  const scavenged = [...starts].filter(([, s]) => s.start > 1 && s.snapshot !== undefined).map(([key, s]) => ({ ref: JSON.parse(key) as [string, string], start: s.start, snapshot: s.snapshot! }));
  return { partitions, kept: kept2, lost, quarantine, unreadable, streams, streamsCut, commands, scavenged, retention };
}

/** Writes the kept events into a fresh log at `into`, deriving the index, command ids and pages. */
async function writeSalvaged(into: string, read: ReturnType<typeof readIntact>, pages: boolean): Promise<{ commandIds: number; pages: number; snapshots: number }> {
  // New offsets: per partition, contiguous from 0, in the source's offset order.
  const byPartition = new Map<number, Kept[]>();
  for (const k of read.kept) {
    const list = byPartition.get(k.e.partition) ?? [];
    list.push(k);
    byPartition.set(k.e.partition, list);
  }
  const ordered: EventEnvelope[] = [];
  for (const p of [...byPartition.keys()].sort((a, b) => a - b)) {
    const list = byPartition.get(p)!.sort((a, b) => a.from - b.from || cmp(a.e, b.e));
    list.forEach((k, offset) => {
      k.e = { ...k.e, offset };
      ordered.push(k.e);
    });
  }
  // Commands: consecutive events of a stream with the same meta.commandId; each unit written whole.
  const units: { events: EventEnvelope[]; commandId?: string; digest?: string }[] = [];
  const open = new Map<string, { events: EventEnvelope[]; commandId?: string }>();
  for (const e of ordered) {
    const stream = JSON.stringify([e.aggregateType, e.stream]);
    const cid = e.meta?.commandId;
    const last = open.get(stream);
    if (cid !== undefined && last?.commandId === cid && last.events[last.events.length - 1]!.seq === e.seq - 1) {
      last.events.push(e);
      continue;
    }
    const unit = cid === undefined ? { events: [e] } : { events: [e], commandId: cid };
    units.push(unit);
    open.set(stream, unit);
  }
  const log = LmdbLog.open(into, { partitions: read.partitions });
  let commandIds = 0;
  let pageCount = 0;
  let snapshots = 0;
  try {
    let staged: StagedWrite[] = [];
    // Scavenged streams first: their start marks and the snapshots they hydrate from (the bytes as they
    // were: the checksum binds them to their address, which is the same here).
    const keptStreams = new Set(read.kept.map((k) => JSON.stringify([k.e.aggregateType, k.e.stream])));
    for (const s of read.scavenged) {
      if (!keptStreams.has(JSON.stringify(s.ref))) continue;
      staged.push(log.stageStreamStart(s.ref[0], s.ref[1], s.start), log.stageRawSnapshot(s.ref[0], s.ref[1], s.start - 1, s.snapshot));
      snapshots++;
    }
    let n = 0;
    const flush = async () => {
      if (staged.length === 0) return;
      void log.commit(staged);
      staged = [];
      n = 0;
      await log.durable();
    };
    for (const u of units) {
      let digest: string | undefined;
      if (u.commandId !== undefined) {
        const first = u.events[0]!;
        const rec = read.commands.get(JSON.stringify([first.aggregateType, first.stream]))?.find((r) => r.commandId === u.commandId);
        if (rec && rec.first === first.seq && rec.last === u.events[u.events.length - 1]!.seq) digest = rec.digest;
        commandIds++;
      }
      staged.push(log.stageAppend(u.events, u.commandId, digest));
      if ((n += u.events.length) >= CHUNK) await flush();
    }
    await flush();
    for (const r of read.retention) await log.setRetention(r.type, r.id, r.settings);
    if (pages) {
      const streams = new Map<string, EventEnvelope[]>();
      for (const e of ordered) {
        const key = JSON.stringify([e.aggregateType, e.stream]);
        const list = streams.get(key) ?? [];
        list.push(e);
        streams.set(key, list);
      }
      for (const list of streams.values()) {
        list.sort((a, b) => a.seq - b.seq);
        // From the first page boundary (a scavenged stream starts inside a page).
        for (let i = (EVENT_PAGE - ((list[0]!.seq - 1) % EVENT_PAGE)) % EVENT_PAGE; i + EVENT_PAGE <= list.length; i += EVENT_PAGE) {
          staged.push(log.stagePage(list.slice(i, i + EVENT_PAGE)));
          pageCount++;
          if (++n >= CHUNK / EVENT_PAGE) await flush();
        }
      }
      await flush();
    }
  } finally {
    await log.close();
  }
  return { commandIds, pages: pageCount, snapshots };
}

function cmp(a: EventEnvelope, b: EventEnvelope): number {
  return a.aggregateType < b.aggregateType ? -1 : a.aggregateType > b.aggregateType ? 1 : a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : a.seq - b.seq;
}

function cmpNullable(a: string | null, b: string | null): number {
  return a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1;
}

function lostEntry(aggregateType: string, id: string, seq: number, why: string) {
  return { aggregateType, id, seq, why };
}

function toEnvelope(aggregateType: string, stream: string, seq: number, r: StoredEvent): EventEnvelope {
  // The schema version goes with the data: without it a salvaged v2 event would read (and upcast) as v1.
  return { aggregateType, stream, type: r[0], seq, data: r[1], ts: r[2], partition: r[3], offset: r[4], meta: r[5] ?? {}, ...(r[6] !== undefined ? { schemaVersion: r[6] } : {}) };
}
