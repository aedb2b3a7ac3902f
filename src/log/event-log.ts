/**
 * The durable event log: one LMDB environment per data dir, shared by the main thread and every actor
 * worker (lmdb-js shares one native environment per path across the threads of a process).
 *
 * Databases:
 * - `meta`       format version and the partition count P, fixed when the data dir is created.
 * - `events`     [aggregateType, id, seq] -> event. Keyed by stream so hydration is one forward range scan.
 * - `partitions` [partition, firstOffset] -> [[aggregateType, id, seq], ...]: the partition's log, in
 *                offset order, for subscribers (projections, the feed, the video reactor). One record
 *                holds the refs of a run of consecutive offsets written by one commit (at most
 *                INDEX_RUN of them): a batch of commands costs one index put per partition, not one
 *                per event. Records are only ever added, never rewritten (invariant 3).
 * - `commands`   [aggregateType, id, commandId] -> [firstSeq, lastSeq]. Idempotency: a retried command
 *                returns its first result and writes nothing.
 * - `snapshots`  [aggregateType, id, version] -> [snapshotVersion, state, ts]. Several per stream, so the
 *                time machine can start from the nearest one at or below a target version.
 * - `pages`      [aggregateType, id, firstSeq] -> [event, ...]: EVENT_PAGE consecutive events of a stream
 *                in one record (derived data, like a snapshot: written once, after those events are
 *                durable, never rewritten). Hydration folds a page with one cursor step, one checksum
 *                and one decode instead of EVENT_PAGE of each; a page that is missing (not written
 *                yet, lost in a crash) only means those events are read one by one.
 * - `writers`    [writerId] -> mark, with an LMDB entry version: the chain that orders pipelined batches;
 *                ['owner'] -> who owns the data dir, with the owner *epoch* as its entry version (fence).
 *
 * Writes are plain async puts issued in one synchronous run: lmdb-js batches every write of one event
 * turn into one transaction (`eventTurnBatching`), which makes all events of a command (indeed all
 * commands of one actor-host drain) commit atomically, and turns many concurrent commands into one
 * group commit. `durable()` then waits for the flush, not just the commit (DESIGN invariant 2: with
 * `overlappingSync`, the write promise resolves when the commit is visible, before it is on disk).
 *
 * Why a fence as well as the data-dir lock (dir-lock.ts): a lock lives outside the data; if it ever fails
 * (the lock file deleted, a file system whose locks do not reach the other holder), two processes could
 * append to the same partitions and ack the same positions twice. So an owner claims the log by bumping
 * the owner epoch (`claimOwnership`), and every batch of its writers applies only while the epoch is
 * still its own (`ifVersion` inside the write transaction). A deposed owner's batches are refused, whole,
 * with `Fenced`, never interleaved.
 *
 * Why appends cannot overwrite (invariant 10): the owner checks that each new event's position is free
 * before staging it (a read: only this fenced owner writes its partitions, so what it reads free stays
 * free until its batch commits, and a batch of a deposed owner is refused whole), a command id is looked
 * up before it is used, and each partition-index run is written with LMDB's no-overwrite flag, so an
 * offset already taken fails the batch inside LMDB itself. A position that already holds a record means
 * the log is damaged (a flipped key byte makes a stream look shorter than it is): the command fails with
 * `CorruptRecord` and nothing replaces the record that is there. Why not the no-overwrite flag on every
 * event put as well: lmdb-js makes each conditional put its own promise, which cost about a fifth of the
 * command path (bench/README.md, "Storage integrity: what it costs").
 *
 * Gotchas:
 * - Never open with `noSync`, `mapAsync` or `useWritemap`; never mix lmdb-js versions on one data dir.
 * - Long replays iterate with `snapshot: false` so a long-lived read transaction does not pin old pages
 *   and grow the file (lmdb-js #198).
 * - Events are never overwritten (invariant 3): offsets and seqs are assigned by the single owner of a
 *   partition (see `runtime/actor-host.ts`); nothing else writes `events` or `partitions`.
 */
import { mkdirSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { join } from 'node:path';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import { ErrorCodes, RuntimeError, type EventEnvelope, type EventMeta } from '../kernel/index.js';
import { checkDataDir, LOG_FILE, readManifest, writeManifest } from './data-dir-check.js';
import { corruptRecord, decodeRecord, encodeRecord } from './record-codec.js';
import { diagnoseWriteError, refusedAfter, storageFailed } from './storage-failure.js';
import { asLogError } from './storage-errors.js';
import { LmdbViewStore } from './view-store.js';
import { LmdbBatchWriter } from './lmdb-batch-writer.js';
import type { AppendRequest, BatchWriter, Committed, CommandRecord, Durability, EventLog, EventLogOptions, Evolve, FoldResult, Staged, StoredSnapshot } from './port.js';

/**
 * 3: record checksums cover the record's address (database and key) as well as its value; the owner
 * epoch lives in `writers`. 2: the partition index holds runs of refs (format 1 held one ref per record).
 */
export const LOG_FORMAT_VERSION = 3;

/** Most refs in one partition-index record: bounds what a reader decodes to reach one offset. */
export const INDEX_RUN = 512;

/** Events per page (see `pages` above). Pages start at seq 1, 1 + EVENT_PAGE, 1 + 2 * EVENT_PAGE, ... */
export const EVENT_PAGE = 64;

/** A put, or a removal when `value` is null; `append`: the key must not exist yet (invariant 10). */
type StagedPut = [db: Database<Buffer, Key[]>, key: Key[], value: Buffer | null, append?: true];
/** Encoded records of one command (or one snapshot), ready to be queued by `commit`. */
export interface StagedWrite extends Staged {
  readonly puts: readonly StagedPut[];
  /** The command's events: `commit` writes their partition-index refs, one record per run. */
  readonly events?: readonly EventEnvelope[];
}

const WRITER_MARK = Buffer.from([1]);
const OWNER_KEY = ['owner'];
const NO_OVERWRITE = { noOverwrite: true } as const;
/** The key the resume probe writes (in `writers`, never a writer id: those are `actor-host-<n>`). */
const PROBE_KEY = ['storage-probe'];

/** `schemaVersion` only when > 1 (port.ts, "Schema versions"); absent means 1, so no log format bump: old records read as v1. */
type StoredEvent = [type: string, data: unknown, ts: number, partition: number, offset: number, meta: EventMeta | null, schemaVersion?: number];
type StreamRef = [aggregateType: string, id: string, seq: number];

/** The write chain of one writer: its marker key, the next batch's version, and the owner epoch that fences it. */
export interface WriteChain {
  key: Key[];
  version: number;
  epoch: number;
}

export class LmdbLog implements EventLog {
  readonly partitions: number;
  readonly durability: Durability;
  readonly path: string;
  #root: RootDatabase;
  #events: Database<Buffer, Key[]>;
  #partlog: Database<Buffer, Key[]>;
  #commands: Database<Buffer, Key[]>;
  #snapshots: Database<Buffer, Key[]>;
  #pages: Database<Buffer, Key[]>;
  /** Read-model rows and checkpoints, in the same environment (see view-store.ts). */
  readonly views: LmdbViewStore;
  #failure: RuntimeError | null = null;
  #lastDone: Promise<void> | null = null;
  #writers: Database<Buffer, Key[]>;
  /** A write of this thread failed and none succeeded since (see `close`). */
  #unsettledWrite = false;

  private constructor(path: string, options: EventLogOptions) {
    this.path = path;
    this.durability = options.durability ?? 'sync';
    mkdirSync(path, { recursive: true });
    // Before LMDB maps the file: a truncated or damaged file would crash the process without a word,
    // and a missing one would be recreated empty (data-dir-check.ts). Worker threads open an environment
    // the main thread already checked and opened (lmdb-js shares it): no second look at a live file.
    const exists = isMainThread ? checkDataDir(path) : true;
    if (!exists && options.readOnly) throw new RuntimeError(ErrorCodes.InvalidOptions, `no event log in ${path} (no ${LOG_FILE}): check the data dir path`, { path });
    this.#root = open({
      path: join(path, LOG_FILE),
      maxDbs: 16,
      // Explicit, so nobody "optimises" them in: each would trade invariant 2 away (so would mapAsync).
      noSync: false,
      useWritemap: false,
      readOnly: options.readOnly ?? false,
    });
    const binary = { encoding: 'binary' as const, keyEncoding: 'ordered-binary' as const };
    this.#events = this.#root.openDB('events', binary) as unknown as Database<Buffer, Key[]>;
    this.#partlog = this.#root.openDB('partitions', binary) as unknown as Database<Buffer, Key[]>;
    this.#commands = this.#root.openDB('commands', binary) as unknown as Database<Buffer, Key[]>;
    this.#snapshots = this.#root.openDB('snapshots', binary) as unknown as Database<Buffer, Key[]>;
    this.#pages = this.#root.openDB('pages', binary) as unknown as Database<Buffer, Key[]>;
    // One marker per writer, versioned: the guard of pipelined batches (startWriteChain).
    this.#writers = this.#root.openDB('writers', { ...binary, useVersions: true }) as unknown as Database<Buffer, Key[]>;
    this.views = new LmdbViewStore(this.#root);
    this.partitions = this.#resolvePartitions(options);
  }

  /** Opens (or creates) the log in `dataDir`. Throws `PartitionMismatch` when P differs from the stored one. */
  static open(dataDir: string, options: EventLogOptions = {}): LmdbLog {
    return new LmdbLog(dataDir, options);
  }

  #resolvePartitions(options: EventLogOptions): number {
    const meta = this.#root.openDB('meta', { encoding: 'msgpack' });
    const stored = meta.get('format') as { version: number; partitions: number } | undefined;
    if (stored) {
      if (stored.version !== LOG_FORMAT_VERSION) {
        throw new RuntimeError(ErrorCodes.InvalidOptions, `data dir ${this.path} has log format ${stored.version}; this build reads ${LOG_FORMAT_VERSION}`);
      }
      if (!options.readOnly && !readManifest(this.path)) {
        // A data dir from before manifests: record now that a log lives here.
        writeManifest(this.path, { format: stored.version, partitions: stored.partitions, created: new Date((stored as { created?: number }).created ?? Date.now()).toISOString(), log: LOG_FILE });
      }
      if (options.partitions !== undefined && options.partitions !== stored.partitions) {
        throw new RuntimeError(
          ErrorCodes.PartitionMismatch,
          `data dir ${this.path} was created with ${stored.partitions} partitions; reopening it with ${options.partitions} would move aggregates to other partitions. Omit 'partitions' or pass ${stored.partitions}.`,
          { stored: stored.partitions, requested: options.partitions },
        );
      }
      return stored.partitions;
    }
    if (options.readOnly) throw new RuntimeError(ErrorCodes.InvalidOptions, `no event log in ${this.path}`);
    const partitions = options.partitions ?? 16;
    const created = Date.now();
    meta.putSync('format', { version: LOG_FORMAT_VERSION, partitions, created });
    // From now on a missing or empty log.mdb in this data dir is damage, not a new data dir.
    writeManifest(this.path, { format: LOG_FORMAT_VERSION, partitions, created: new Date(created).toISOString(), log: LOG_FILE });
    return partitions;
  }

  // ---------------------------------------------------------------- reads

  /**
   * Makes this thread's next reads see every commit made so far, by any thread. lmdb-js keeps a thread's
   * read snapshot until a timer tick renews it, so a read right after another thread's commit was
   * acknowledged could miss it; callers that promise read-your-writes call this first.
   */
  /**
   * LMDB's own damage report as `CorruptLog`, and a fresh read transaction: after an error LMDB marks the
   * thread's read transaction failed, and every later read of this thread would fail with MDB_BAD_TXN,
   * undamaged streams included.
   */
  #damaged(err: unknown, what: string, partition?: number): unknown {
    const mapped = asLogError(err, what, partition);
    if (mapped !== err) this.#root.resetReadTxn();
    return mapped;
  }

  refreshReads(): void {
    this.#root.resetReadTxn();
  }

  /** The stream's last seq and that event's ts (0/0 for a stream with no events). */
  streamHead(aggregateType: string, id: string): { version: number; ts: number } {
    try {
      return this.#streamHead(aggregateType, id);
    } catch (err) {
      throw this.#damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  #streamHead(aggregateType: string, id: string): { version: number; ts: number } {
    for (const { key, value } of this.#events.getRange({ start: [aggregateType, id, Number.MAX_SAFE_INTEGER], end: [aggregateType, id, 0], reverse: true, limit: 1 })) {
      const rec = decodeRecord<StoredEvent>(value, 'events', key as StreamRef);
      return { version: (key as StreamRef)[2], ts: rec[2] };
    }
    return { version: 0, ts: 0 };
  }

  /** Events of one stream with `from <= seq <= to`, in order. Iterates without pinning a read snapshot. */
  *iterateStream(aggregateType: string, id: string, from = 1, to = Number.MAX_SAFE_INTEGER): Generator<EventEnvelope> {
    try {
      yield* this.#iterateStream(aggregateType, id, from, to);
    } catch (err) {
      throw this.#damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  *#iterateStream(aggregateType: string, id: string, from = 1, to = Number.MAX_SAFE_INTEGER): Generator<EventEnvelope> {
    let next = Math.max(1, from);
    const range = this.#events.getRange({ start: [aggregateType, id, next], end: [aggregateType, id, to + 1], snapshot: false });
    for (const { key, value } of range) {
      const seq = (key as StreamRef)[2];
      // A stream's seqs are 1, 2, 3, ... (invariant 1): a jump is a lost or damaged key, never a short stream.
      if (seq !== next) throw corruptRecord('events', key, `stream ${aggregateType}/${id} jumps from seq ${next - 1} to ${seq}`);
      next++;
      yield toEnvelope(aggregateType, id, seq, decodeRecord<StoredEvent>(value, 'events', key as StreamRef));
    }
  }

  /**
   * Folds the events of one stream with `from <= seq <= to` into `state`: hydration's hot loop. Whole
   * pages inside the range are folded from `pages`, the rest event by event; `evolve` gets only
   * `{ type, data }` (all a decider's evolve may use), no envelope per event. Iterates without pinning
   * a read snapshot.
   */
  foldStream<S>(aggregateType: string, id: string, from: number, to: number, state: S, evolve: Evolve<S>): FoldResult<S> {
    try {
      return this.#foldStream(aggregateType, id, from, to, state, evolve);
    } catch (err) {
      throw this.#damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  #foldStream<S>(aggregateType: string, id: string, from: number, to: number, state: S, evolve: Evolve<S>): FoldResult<S> {
    const out: FoldResult<S> = { state, version: 0, ts: 0, folded: 0, paged: 0 };
    let next = Math.max(1, from);
    // Whole pages inside the range, in order; the events before, between (a page not written) and
    // after them one by one.
    for (const { key, value } of this.#pages.getRange({ start: [aggregateType, id, next], end: [aggregateType, id, to + 1], snapshot: false })) {
      const first = (key as StreamRef)[2];
      if (first + EVENT_PAGE - 1 > to) break;
      if (first > next && this.#foldEvents(aggregateType, id, next, first - 1, out, evolve) !== first) return out;
      const page = decodeRecord<StoredEvent[]>(value, 'pages', key as StreamRef);
      if (!Array.isArray(page) || page.length !== EVENT_PAGE) throw corruptRecord('pages', key, `not a page of ${EVENT_PAGE} events`);
      for (const r of page) out.state = evolve(out.state, { type: r[0], data: r[1] }, r[6]);
      out.version = first + EVENT_PAGE - 1;
      out.ts = page[EVENT_PAGE - 1]![2];
      out.folded += EVENT_PAGE;
      out.paged += EVENT_PAGE;
      next = first + EVENT_PAGE;
    }
    this.#foldEvents(aggregateType, id, next, to, out, evolve);
    return out;
  }

  /** Folds events `from..to` one by one into `out`; returns the seq after the last one folded. */
  #foldEvents<S>(aggregateType: string, id: string, from: number, to: number, out: FoldResult<S>, evolve: Evolve<S>): number {
    let next = from;
    if (to < from) return next;
    for (const { key, value } of this.#events.getRange({ start: [aggregateType, id, from], end: [aggregateType, id, to + 1], snapshot: false })) {
      const seq = (key as StreamRef)[2];
      if (seq !== next) throw corruptRecord('events', key, `stream ${aggregateType}/${id} jumps from seq ${next - 1} to ${seq}`);
      const r = decodeRecord<StoredEvent>(value, 'events', key as StreamRef);
      out.state = evolve(out.state, { type: r[0], data: r[1] }, r[6]);
      out.version = seq;
      out.ts = r[2];
      out.folded++;
      next++;
    }
    return next;
  }

  readStream(aggregateType: string, id: string, from = 1, limit = Number.MAX_SAFE_INTEGER): EventEnvelope[] {
    const out: EventEnvelope[] = [];
    if (limit <= 0) return out;
    for (const e of this.iterateStream(aggregateType, id, from)) {
      out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** One event by position; undefined when absent. */
  readEvent(aggregateType: string, id: string, seq: number): EventEnvelope | undefined {
    try {
      return this.#readEvent(aggregateType, id, seq);
    } catch (err) {
      throw this.#damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  #readEvent(aggregateType: string, id: string, seq: number): EventEnvelope | undefined {
    const key: StreamRef = [aggregateType, id, seq];
    const buf = this.#events.getBinary(key);
    if (!buf) return undefined;
    return toEnvelope(aggregateType, id, seq, decodeRecord<StoredEvent>(buf, 'events', key));
  }

  /** The last seq whose ts <= `at` (0 when the stream has no event yet at that time). ts is monotone in seq, so this is a binary search. */
  versionAt(aggregateType: string, id: string, at: number): number {
    let lo = 0;
    let hi = this.streamHead(aggregateType, id).version;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const e = this.readEvent(aggregateType, id, mid);
      if (e && e.ts <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The next offset to be written in a partition (= number of events in it). */
  partitionHead(partition: number): number {
    try {
      return this.#partitionHead(partition);
    } catch (err) {
      throw this.#damaged(err, `partition ${partition}`, partition);
    }
  }

  #partitionHead(partition: number): number {
    for (const { key, value } of this.#partlog.getRange({ start: [partition, Number.MAX_SAFE_INTEGER], end: [partition, -1], reverse: true, limit: 1 })) {
      return (key as number[])[1]! + this.#decodeRun(key, value).length;
    }
    return 0;
  }

  /**
   * Events of a partition in offset order, starting at `from`. Each ref is checked against the event
   * it points at (the event record carries its own partition and offset), so a damaged index can
   * neither skip nor invent an event.
   */
  *iteratePartition(partition: number, from = 0, limit = Number.MAX_SAFE_INTEGER): Generator<EventEnvelope> {
    try {
      yield* this.#iteratePartition(partition, from, limit);
    } catch (err) {
      throw this.#damaged(err, `partition ${partition}`, partition);
    }
  }

  *#iteratePartition(partition: number, from = 0, limit = Number.MAX_SAFE_INTEGER): Generator<EventEnvelope> {
    if (limit <= 0) return;
    // The run holding `from` starts at or before it.
    let start = from;
    for (const key of this.#partlog.getKeys({ start: [partition, from], end: [partition, -1], reverse: true, limit: 1 })) start = (key as number[])[1]!;
    let n = 0;
    let expected = start;
    for (const { key, value } of this.#partlog.getRange({ start: [partition, start], end: [partition, Number.MAX_SAFE_INTEGER], snapshot: false })) {
      const first = (key as number[])[1]!;
      if (first !== expected) throw corruptRecord('partitions', key, `partition ${partition} index jumps from offset ${expected} to ${first}`, partition);
      const refs = this.#decodeRun(key, value);
      expected = first + refs.length;
      for (let i = Math.max(0, from - first); i < refs.length; i++) {
        const [t, id, seq] = refs[i]!;
        const offset = first + i;
        const e = this.readEvent(t, id, seq);
        if (!e || e.partition !== partition || e.offset !== offset) {
          throw corruptRecord('partitions', key, `partition ${partition} offset ${offset} points at ${e ? 'another' : 'a missing'} event ${t}/${id}#${seq}`, partition);
        }
        yield e;
        if (++n >= limit) return;
      }
    }
  }

  #decodeRun(key: Key, value: Buffer): StreamRef[] {
    const refs = decodeRecord<StreamRef[]>(value, 'partitions', key as number[]);
    if (!Array.isArray(refs) || refs.length === 0) throw corruptRecord('partitions', key, 'not a run of refs');
    return refs;
  }

  readPartition(partition: number, from = 0, limit = 1000): EventEnvelope[] {
    return [...this.iteratePartition(partition, from, limit)];
  }

  /** The seqs a command id produced, and the digest of the command it was first used with. */
  findCommand(aggregateType: string, id: string, commandId: string): CommandRecord | undefined {
    try {
      return this.#findCommand(aggregateType, id, commandId);
    } catch (err) {
      throw this.#damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  #findCommand(aggregateType: string, id: string, commandId: string): CommandRecord | undefined {
    const key = [aggregateType, id, commandId];
    const buf = this.#commands.getBinary(key);
    if (!buf) return undefined;
    const [first, last, digest] = decodeRecord<[number, number, string?]>(buf, 'commands', key);
    return digest === undefined ? { first, last } : { first, last, digest };
  }

  /** The newest persisted snapshot at or below `maxVersion`. */
  snapshotAtOrBelow<S>(aggregateType: string, id: string, maxVersion = Number.MAX_SAFE_INTEGER): StoredSnapshot<S> | undefined {
    try {
      return this.#snapshotAtOrBelow(aggregateType, id, maxVersion);
    } catch (err) {
      throw this.#damaged(err, `stream ${aggregateType}/${id}`);
    }
  }

  #snapshotAtOrBelow<S>(aggregateType: string, id: string, maxVersion = Number.MAX_SAFE_INTEGER): StoredSnapshot<S> | undefined {
    for (const { key, value } of this.#snapshots.getRange({ start: [aggregateType, id, maxVersion], end: [aggregateType, id, 0], reverse: true, limit: 1 })) {
      const [snapshotVersion, state, ts] = decodeRecord<[number, S, number]>(value, 'snapshots', key as StreamRef);
      return { version: (key as StreamRef)[2], snapshotVersion, state, ts };
    }
    return undefined;
  }

  /** Every stream key of an aggregate type, in key order (for rebuilds, reconcile and listings). */
  *iterateStreamIds(aggregateType: string): Generator<string> {
    try {
      yield* this.#iterateStreamIds(aggregateType);
    } catch (err) {
      throw this.#damaged(err, `the ${aggregateType} streams`);
    }
  }

  *#iterateStreamIds(aggregateType: string): Generator<string> {
    let last: string | undefined;
    for (const key of this.#events.getKeys({ start: [aggregateType], end: [aggregateType + '\u0000'], snapshot: false })) {
      const id = (key as StreamRef)[1];
      if (id !== last) yield (last = id);
    }
  }

  // ---------------------------------------------------------------- writes (single owner per partition)

  /**
   * Encodes the events of one command (and its idempotency record) without writing anything: data that
   * cannot be encoded fails here, before a single record of the command is queued (all or nothing).
   */
  stageAppend(events: readonly EventEnvelope[], commandId?: string, commandDigest?: string, chain?: WriteChain): StagedWrite {
    const puts: StagedPut[] = [];
    for (const e of events) {
      const rec = toStored(e);
      const key: StreamRef = [e.aggregateType, e.stream, e.seq];
      // Invariant 10: the owner's own positions are free unless the log is damaged (see the header).
      if (this.#taken(this.#events, key, `stream ${e.aggregateType}/${e.stream}`, e.partition)) throw this.#positionTaken('events', key, `position ${e.aggregateType}/${e.stream}#${e.seq} already holds an event; the stream's head was read short (damaged key?)`, e.partition, chain);
      puts.push([this.#events, key, encodeRecord(rec, 'events', key)]);
    }
    const first = events[0];
    const tail = events[events.length - 1];
    if (commandId !== undefined && first && tail) {
      const key = [first.aggregateType, first.stream, commandId];
      // Not checked here: the actor host looked the id up (findCommand) before deciding the command.
      puts.push([this.#commands, key, encodeRecord(commandDigest === undefined ? [first.seq, tail.seq] : [first.seq, tail.seq, commandDigest], 'commands', key)]);
    }
    return { puts, events };
  }

  /**
   * The partition-index records of one commit: each partition's refs, cut into runs of consecutive
   * offsets (at most INDEX_RUN each). The single owner of a partition assigns its offsets in order, so
   * one commit's events of a partition are normally one run.
   */
  #indexPuts(staged: readonly StagedWrite[], chain: WriteChain | undefined): StagedPut[] {
    const runs = new Map<number, { first: number; refs: StreamRef[] }>();
    const puts: StagedPut[] = [];
    for (const s of staged) {
      if (!s.events) continue;
      for (const e of s.events) {
        let run = runs.get(e.partition);
        if (run && (run.first + run.refs.length !== e.offset || run.refs.length >= INDEX_RUN)) {
          puts.push(this.#indexPut(e.partition, run, chain));
          run = undefined;
        }
        if (!run) runs.set(e.partition, (run = { first: e.offset, refs: [] }));
        run.refs.push([e.aggregateType, e.stream, e.seq]);
      }
    }
    for (const [p, run] of runs) puts.push(this.#indexPut(p, run, chain));
    return puts;
  }

  #taken(db: Database<Buffer, Key[]>, key: Key[], what: string, partition: number): boolean {
    try {
      return db.doesExist(key);
    } catch (err) {
      throw this.#damaged(err, what, partition);
    }
  }

  /** A position this owner assigned is taken: another owner wrote there (fenced), or the log is damaged. */
  #positionTaken(db: string, key: Key[], why: string, partition: number, chain: WriteChain | undefined): RuntimeError {
    if (chain) {
      this.refreshReads();
      if (this.ownerEpoch() !== chain.epoch) return this.#notApplied(chain, chain.version);
    }
    return corruptRecord(db, key, why, partition);
  }

  #indexPut(partition: number, run: { first: number; refs: StreamRef[] }, chain: WriteChain | undefined): StagedPut {
    const key = [partition, run.first];
    // The run's first offset is the owner's next one: taken means the index is damaged (invariant 10).
    if (this.#taken(this.#partlog, key, `partition ${partition}`, partition)) throw this.#positionTaken('partitions', key, `partition ${partition} offset ${run.first} is already indexed; the partition head was read short`, partition, chain);
    return [this.#partlog, key, encodeRecord(run.refs, 'partitions', key), true];
  }

  /**
   * A page of EVENT_PAGE consecutive events of one stream, starting at a page boundary. Only for events
   * already durable (pages are derived: a page must never hold an event the log does not).
   */
  stagePage(events: readonly EventEnvelope[]): StagedWrite {
    const first = events[0];
    const contiguous = first !== undefined && events.every((e, i) => e.seq === first.seq + i && e.stream === first.stream && e.aggregateType === first.aggregateType);
    if (!first || events.length !== EVENT_PAGE || (first.seq - 1) % EVENT_PAGE !== 0 || !contiguous) {
      throw new RuntimeError(ErrorCodes.Internal, `a page is ${EVENT_PAGE} consecutive events of one stream from seq k*${EVENT_PAGE}+1`);
    }
    const page = events.map(toStored);
    const key: StreamRef = [first.aggregateType, first.stream, first.seq];
    return { puts: [[this.#pages, key, encodeRecord(page, 'pages', key)]] };
  }

  stageSnapshot(aggregateType: string, id: string, snap: StoredSnapshot): StagedWrite {
    const key: StreamRef = [aggregateType, id, snap.version];
    return { puts: [[this.#snapshots, key, encodeRecord([snap.snapshotVersion, snap.state, snap.ts], 'snapshots', key)]] };
  }

  /**
   * Queues staged writes into the current write batch, in order. Every call made in the same event turn
   * lands in the same LMDB transaction. Without `chain` (tools), call `durable()` afterwards; writers
   * (lmdb-batch-writer.ts) pass their chain and await the result.
   *
   * Why staged: lmdb-js opens the write transaction early once a turn has queued a few thousand writes;
   * a thread that died after that (a decider calling process.exit, say) would leave the native writer
   * waiting forever with the lock held. So the actor host runs every decider of a drain first, and only
   * then commits what they staged, in one short synchronous run.
   */
  commit(staged: readonly StagedWrite[], alsoInTransaction?: () => void, chain?: WriteChain): Promise<void> {
    this.#assertWritable();
    let last: Promise<unknown> | null = null;
    // lmdb-js may split one turn's writes into several transactions, each with its own promise: all are
    // awaited (an unawaited one that rejects is an unhandled rejection, which kills a worker thread).
    const earlier: Promise<unknown>[] = [];
    const track = (p: Promise<unknown>): void => {
      if (p === last) return;
      if (last) earlier.push(last);
      last = p;
    };
    const index = this.#indexPuts(staged, chain);
    /** No-overwrite puts resolve `false` when their key exists (lmdb-js), instead of replacing it. */
    const appends: Promise<boolean>[] = [];
    const appendKeys: Key[][] = [];
    const put = (db: Database<Buffer, Key[]>, key: Key[], value: Buffer | null, append: true | undefined) => {
      if (value === null) track(db.remove(key));
      else if (append) {
        const p = db.put(key, value, NO_OVERWRITE as never);
        track(p);
        appends.push(p);
        appendKeys.push(key);
      } else track(db.put(key, value));
    };
    const write = () => {
      for (const s of staged) for (const [db, key, value, append] of s.puts) put(db, key, value, append);
      for (const [db, key, value, append] of index) put(db, key, value, append);
      alsoInTransaction?.();
    };
    if (chain) {
      // Fenced and chained: these writes apply only while this process still owns the log (owner epoch)
      // and only if the writer's previous batch committed (see startWriteChain). Nested conditions:
      // lmdb-js skips the inner block when the outer condition fails.
      const version = chain.version++;
      let chained: Promise<boolean> = Promise.resolve(false);
      const fenced = this.#writers.ifVersion(OWNER_KEY, chain.epoch, () => {
        chained = this.#writers.ifVersion(chain.key, version, () => {
          write();
          this.#writers.put(chain.key, WRITER_MARK, version + 1).catch(() => undefined);
        });
      });
      // The writes inside the guard settle with the guard: observe them here, the guard below.
      for (const p of [...earlier, ...(last ? [last] : []), ...appends]) p.catch(() => undefined);
      earlier.length = 0;
      // Both resolve `false` when skipped (the inner one too when the outer condition failed).
      last = Promise.all([fenced, chained]).then(([owned, inOrder]) => {
        if (!owned || !inOrder) throw this.#notApplied(chain, version);
      });
    } else write();
    if (!last) return Promise.resolve();
    // Read `flushed` now, in the turn that queued the writes: it then covers exactly them.
    const done = Promise.all([Promise.all([...earlier, last, this.durability === 'sync' ? this.#root.flushed : this.#root.committed]), Promise.all(appends)]).then(
      ([, appended]) => {
        for (let i = 0; i < appended.length; i++) {
          if (appended[i] === false) {
            const key = appendKeys[i]!;
            throw (this.#failure ??= new RuntimeError(ErrorCodes.CorruptLog, `an append found its position taken at ${JSON.stringify(key)}: the record there was kept and this process stops writing; run \`eventide verify\``, { where: JSON.stringify(key) }));
          }
        }
      },
      (err: unknown) => {
        // Refused by the fence, or skipped after an earlier failed batch: not a storage fault.
        if (RuntimeError.is(err) && (err.code === ErrorCodes.Fenced || err.code === ErrorCodes.StorageFailed)) throw (this.#failure ??= err);
        return this.#failWrites(err);
      },
    );
    done.catch(() => undefined);
    this.#lastDone = done;
    return done;
  }

  /** Why a chained batch was skipped: another process owns the log now, or an earlier batch failed. */
  #notApplied(chain: { key: Key[]; epoch: number }, version: number): RuntimeError {
    this.refreshReads();
    const owner = this.#writers.getEntry(OWNER_KEY);
    if (owner?.version !== chain.epoch) {
      const by = owner ? decodeOwner(owner.value) : undefined;
      return new RuntimeError(
        ErrorCodes.Fenced,
        `the data dir was taken over by another process (owner epoch ${owner?.version ?? '?'}${by ? `, ${by}` : ''}; this process had ${chain.epoch}): this process stops writing`,
        { epoch: chain.epoch, current: owner?.version ?? null },
      );
    }
    return new RuntimeError(ErrorCodes.StorageFailed, `write batch ${version} of ${String(chain.key[0])} was not applied: an earlier batch of this writer did not commit`, { outcome: 'not-applied' }, true);
  }

  /**
   * Makes this process the owner of the log: bumps the owner epoch (the entry version of ['owner']) in
   * one synchronous, durable transaction and returns it. Call once per process, after taking the data-dir
   * lock; every writer of this process then passes the epoch to `startWriteChain`. From here on, batches
   * of any earlier owner are refused inside LMDB (see the header).
   */
  claimOwnership(holder: string): number {
    const current = this.#writers.getEntry(OWNER_KEY);
    const epoch = (current?.version ?? 0) + 1;
    this.#writers.putSync(OWNER_KEY, Buffer.from(JSON.stringify({ pid: process.pid, holder, since: new Date().toISOString() })), epoch);
    return epoch;
  }

  /** The current owner epoch (0 for a log never claimed). */
  ownerEpoch(): number {
    return this.#writers.getEntry(OWNER_KEY)?.version ?? 0;
  }

  /**
   * The write-chain rule of the port, in LMDB: batch N+1 of a writer may be queued while batch N is still
   * committing, yet N+1 must never commit when N did not. Each batch is written inside
   * `ifVersion(marker, n)` and bumps the marker to n+1, so LMDB itself skips every batch after a failed
   * one (lmdb-js resolves the condition to `false`). `epoch` is the owner epoch this process claimed
   * (`claimOwnership`): the fence around every batch.
   */
  openWriter(writerId: string, epoch: number, partitions: readonly number[]): BatchWriter {
    const key = [writerId];
    const entry = this.#writers.getEntry(key);
    let version = entry?.version ?? 0;
    if (!entry) {
      this.#writers.putSync(key, WRITER_MARK, 1);
      version = 1;
    }
    return new LmdbBatchWriter(this, { key, version, epoch }, partitions);
  }

  /** Stage and commit in one step (tools and tests; the actor host stages first, see `commit`). */
  append(events: readonly EventEnvelope[], commandId?: string): void {
    this.commit([this.stageAppend(events, commandId)]);
  }

  putSnapshot(aggregateType: string, id: string, snap: StoredSnapshot): void {
    this.commit([this.stageSnapshot(aggregateType, id, snap)]);
  }

  /** Versions of a stream's persisted snapshots, newest first. */
  snapshotVersions(aggregateType: string, id: string, limit = Number.MAX_SAFE_INTEGER): number[] {
    const out: number[] = [];
    for (const key of this.#snapshots.getKeys({ start: [aggregateType, id, Number.MAX_SAFE_INTEGER], end: [aggregateType, id, 0], reverse: true, limit })) {
      out.push((key as StreamRef)[2]);
    }
    return out;
  }

  /** Removes one persisted snapshot (retention; snapshots are derived data, never events). */
  stageSnapshotRemoval(aggregateType: string, id: string, version: number): StagedWrite {
    return { puts: [[this.#snapshots, [aggregateType, id, version], null]] };
  }

  /**
   * Resolves when every write queued so far is committed and, with `sync` durability, flushed to disk.
   * A failed commit puts the log into a failed state: an fsync error must not be retried as if nothing
   * happened ("fsyncgate"), so every later write is refused with `StorageFailed` until reopen, or until
   * a successful `probeWrite` (runtime/storage-recovery.ts decides when that is safe).
   */
  async durable(): Promise<void> {
    const done = this.#lastDone;
    this.#lastDone = null;
    if (done) await done;
  }

  get failure(): RuntimeError | null {
    return this.#failure;
  }

  #assertWritable(): void {
    if (this.#failure) throw refusedAfter(this.#failure);
  }

  /**
   * A write failed inside LMDB: from now on this object refuses writes. The error names the cause
   * (storage-failure.ts) and says the outcome is unknown: a commit whose flush failed may or may not be
   * on disk, so it is never acknowledged, and its caller is told to retry with the same commandId.
   */
  async #failWrites(err: unknown): Promise<never> {
    this.#unsettledWrite = true;
    if (!this.#failure) {
      const failure = storageFailed(await diagnoseWriteError(this.path, err), 'unknown');
      this.#failure ??= failure;
    }
    throw this.#failure;
  }

  /**
   * The resume probe (runtime/storage-recovery.ts): one small write to a dedicated key, outside every
   * writer's chain, awaited until flushed. Throws the diagnosed `StorageFailed` when it fails. On success
   * this object accepts writes again; whether that is safe for a given failure is the caller's decision
   * (only "no space" failures are resumed: see storage-recovery.ts).
   */
  async probeWrite(): Promise<void> {
    try {
      await Promise.all([this.#writers.put(PROBE_KEY, WRITER_MARK), this.#root.flushed]);
    } catch (err) {
      this.#unsettledWrite = true;
      throw storageFailed(await diagnoseWriteError(this.path, err), 'not-applied');
    }
    this.#unsettledWrite = false;
    this.#failure = null;
  }

  /**
   * A failed transaction's flush promise never settles in lmdb-js, and `close()` waits for it: after a
   * failure with no successful write since, the handle is let go without waiting (the native environment
   * is shared by the process and closed with it), so shutdown stays prompt.
   */
  async close(): Promise<void> {
    if (this.#unsettledWrite) {
      this.#root.close().catch(() => undefined);
      return;
    }
    await this.#root.close();
  }
}

function decodeOwner(value: unknown): string | undefined {
  try {
    const o = JSON.parse(Buffer.from(value as Uint8Array).toString('utf8')) as { pid?: number; holder?: string; since?: string };
    return `pid ${o.pid ?? '?'} (${o.holder ?? '?'}) since ${o.since ?? '?'}`;
  } catch {
    return undefined;
  }
}

function hasMeta(m: EventMeta | undefined): m is EventMeta {
  return !!m && (m.commandId !== undefined || m.correlationId !== undefined || m.causationId !== undefined);
}

function toEnvelope(aggregateType: string, stream: string, seq: number, r: StoredEvent): EventEnvelope {
  const e: EventEnvelope = { aggregateType, stream, type: r[0], seq, data: r[1], ts: r[2], partition: r[3], offset: r[4], meta: r[5] ?? {} };
  if (r[6] !== undefined) e.schemaVersion = r[6];
  return e;
}

/** An event as stored; its schema version only when > 1, so version-1 records stay byte-identical to older ones. */
function toStored(e: EventEnvelope): StoredEvent {
  const r: StoredEvent = [e.type, e.data, e.ts, e.partition, e.offset, hasMeta(e.meta) ? e.meta : null];
  if (e.schemaVersion !== undefined && e.schemaVersion > 1) r[6] = e.schemaVersion;
  return r;
}
