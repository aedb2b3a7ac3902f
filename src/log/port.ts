/**
 * The log port: what the runtime, the projections, the feed and the video reactor need from an event
 * log, and nothing else. Types only; each storage is an adapter that implements it and passes the one
 * contract suite (test/log/contract/): `lmdb/` (the embedded default) and `memory/` (tests, examples,
 * `createRuntime({ log: 'memory' })`). Nothing outside an adapter's folder imports its client library.
 *
 * ## Who assigns positions
 * The adapter's batch writer does, when an append is *staged* (`BatchWriter.stageAppend`): seqs follow
 * the expected version, offsets follow the partition's head as this writer knows it. The commit then
 * answers with the positions the store confirmed (the partition heads after the batch). Why at staging
 * and not after the store's reply: drains are pipelined (batch N+1 is decided while batch N is still
 * being made durable), and each reply carries its events' positions; waiting for the store to name them
 * would serialise the pipeline on the disk or the network. It is sound because a partition has exactly
 * one writer at a time, fenced (DESIGN invariants 1 and 9): that writer knows the next position exactly,
 * and the store checks it (LMDB: the position is free and the owner epoch is still ours; a replicated
 * log such as JetStream: the append is conditional on the partition's last sequence, so a wrong guess
 * fails instead of landing elsewhere). A position the store refuses fails the batch and every later one.
 *
 * ## The write-chain rule
 * Batches of one writer are committed in the order they were handed to `commit`, and a batch never
 * commits after an earlier batch of the same writer failed: its seqs and offsets would follow events
 * that do not exist. Once a commit fails, every later commit of that writer fails too (`StorageFailed`
 * "not applied", or `Fenced` when another owner took over), and the writer stays failed until
 * `probeWrite` succeeds (see runtime/storage-recovery.ts for when that is allowed).
 *
 * ## Reads
 * Reads see every commit of this process once `refreshReads()` was called after it (an adapter may keep
 * a read snapshot per thread). Every read verifies what it returns: damage is `CorruptRecord` (a record
 * at an address) or `CorruptLog` (the store reported it), never a plain error and never a silent skip.
 *
 * ## Schema versions
 * An event may carry `schemaVersion` (an integer > 1; absent means 1): an adapter stores it with the
 * event, returns it on every read of that event (envelopes, pages) and hands it to `foldStream`'s
 * `evolve` as the third argument. It never interprets it: decoding old versions happens above the port
 * (runtime/upcast.ts), so every adapter gets it for free. An event without one must be stored exactly
 * as before versions existed (old data dirs read as version 1).
 *
 * ## Retention settings (docs/data-lifecycle.md)
 * An adapter stores a `RetentionSettings` record per stream and per aggregate type (`setRetention`,
 * `retention`) and never interprets it: which events a read may show is the runtime's decision
 * (runtime/retention.ts), taken at read time from the settings, the stream's head and the clock. The
 * reads of this port stay raw (every stored event, whatever the settings): the runtime's time machine,
 * history and diff apply the cut, and a scavenge must see what it removes. Why beside the log and not
 * as events of a system stream: every thread reads them with one lookup per read, in the read
 * snapshot of the events it reads, with no fold.
 *
 * ## Scavenge (docs/data-lifecycle.md)
 * What retention hides, a scavenge may remove (`removeStreamPrefix`, `trimPartition`): a prefix of a
 * stream, and then the front of a partition's index. The runtime decides what may go (runtime/scavenge.ts:
 * behind the cut, behind what every read model consumed, with a snapshot kept where hydration starts);
 * the adapter removes it in bounded steps, each durable and whole, and keeps a low-water mark per stream
 * (`streamStart`) and per partition (`partitionStart`) in the same write. Reads then start at the marks:
 * `iterateStream` at the stream's start, a partition read skips what was removed (so its offsets may
 * have gaps), `readEvent` below the start answers undefined, and a fold that would need a removed event
 * is `Gone`. A stream's last event is never removed (its head names its next seq).
 */
import type { EventEnvelope, EventMeta, RuntimeError } from '../kernel/index.js';

export type Durability = 'sync' | 'commit';

export interface StoredSnapshot<S = unknown> {
  /** The stream version the state is at. */
  version: number;
  /** The decider's `snapshotVersion` when the state was taken (another one means: ignore it). */
  snapshotVersion: number;
  state: S;
  ts: number;
}

export interface FoldResult<S> {
  state: S;
  /** Last seq folded (0 when none). */
  version: number;
  ts: number;
  folded: number;
  /** Of `folded`, events that came from pages. */
  paged: number;
}

/** Where a stream ends: what `LogReader.streamHead` answers. */
export interface StreamHead {
  /** The last seq (0: the stream has no events). */
  version: number;
  /** That event's ts (0 when none). */
  ts: number;
  /**
   * That event's offset in its partition; absent when the stream has no events. A reader that knows up
   * to which offset a partition's commits are acknowledged can tell from it whether the whole stream is
   * (runtime/log-loads.ts), without reading the event again.
   */
  offset?: number;
}

/** The seqs a command id produced, and the digest of the command it was first used with. */
export interface CommandRecord {
  first: number;
  last: number;
  digest?: string;
}

/**
 * Only `{ type, data }` reaches a fold: all a decider's evolve may use, no envelope per event. The third
 * argument is the event's stored `schemaVersion` (undefined: 1), for the decoding above the port.
 */
export type Evolve<S> = (state: S, event: { type: string; data: unknown }, schemaVersion?: number) => S;

/**
 * How much of a stream reads may show (docs/data-lifecycle.md). Absent fields set no limit. Stored per
 * stream or per aggregate type; a stream's record, when it has one, replaces its type's as a whole.
 */
export interface RetentionSettings {
  /** Events whose ts is more than `maxAge` ms before now are gone for reads. */
  maxAge?: number;
  /** Only the newest `maxCount` events of a stream are readable (>= 1). */
  maxCount?: number;
  /** Events with a seq below this are gone for reads (per stream only). */
  truncateBefore?: number;
}

/** What one `EventLog.removeStreamPrefix` step removed. */
export interface PrefixRemoval {
  events: number;
  pages: number;
  snapshots: number;
  commands: number;
  /** The stream's start after the step. */
  start: number;
  /** False when more is left below the seq asked for (another step removes it). */
  done: boolean;
}

/** What one `EventLog.trimPartition` step dropped. */
export interface PartitionTrim {
  /** Index records (LMDB) dropped. */
  records: number;
  /** Offsets they covered. */
  offsets: number;
  /** The partition's start after the step. */
  start: number;
  done: boolean;
}

/** The read side of a log. */
export interface LogReader {
  /** Partition count, fixed when the log was created. */
  readonly partitions: number;
  /** Makes this thread's next reads see every commit made so far (read-your-writes after an ack). */
  refreshReads(): void;
  /** The stream's last seq, that event's ts and its partition offset (0/0 and no offset for a stream with no events). */
  streamHead(aggregateType: string, id: string): StreamHead;
  /** Events of one stream with `max(from, streamStart) <= seq <= to`, in order, contiguous (a gap is corruption). */
  iterateStream(aggregateType: string, id: string, from?: number, to?: number): Iterable<EventEnvelope>;
  /** At most `limit` events of a stream from `from` (a page of a stream). */
  readStream(aggregateType: string, id: string, from?: number, limit?: number): EventEnvelope[];
  /** One event by position; undefined when absent. */
  readEvent(aggregateType: string, id: string, seq: number): EventEnvelope | undefined;
  /** Folds the events `from..to` of a stream into `state` (hydration's hot loop); `Gone` when `from` is below the stream's start. */
  foldStream<S>(aggregateType: string, id: string, from: number, to: number, state: S, evolve: Evolve<S>): FoldResult<S>;
  /** The last seq whose ts <= `at` (0 when the stream had no event yet at that time). */
  versionAt(aggregateType: string, id: string, at: number): number;
  /** The next offset of a partition (= number of events in it). */
  partitionHead(partition: number): number;
  /**
   * Events of a partition in offset order with `from <= offset < from + limit`: every one of them, except
   * after a scavenge (below the partition's start, and events removed from a stream's prefix: "Scavenge").
   */
  iteratePartition(partition: number, from?: number, limit?: number): Iterable<EventEnvelope>;
  readPartition(partition: number, from?: number, limit?: number): EventEnvelope[];
  /** What a command id produced on a stream (idempotency). */
  findCommand(aggregateType: string, id: string, commandId: string): CommandRecord | undefined;
  /** The newest persisted snapshot at or below `maxVersion`. */
  snapshotAtOrBelow<S>(aggregateType: string, id: string, maxVersion?: number): StoredSnapshot<S> | undefined;
  /** Versions of a stream's persisted snapshots, newest first. */
  snapshotVersions(aggregateType: string, id: string, limit?: number): number[];
  /** Every stream id of an aggregate type, in key order. */
  iterateStreamIds(aggregateType: string): Iterable<string>;
  /** The retention settings stored for stream `id` of the type, or for the type itself without `id`. */
  retention(aggregateType: string, id?: string): RetentionSettings | undefined;
  /** Ids of the type's streams that have retention settings of their own, in key order. */
  streamsWithRetention(aggregateType: string): Iterable<string>;
  /** The first seq the stream still stores: 1 unless a scavenge removed a prefix ("Scavenge" above). */
  streamStart(aggregateType: string, id: string): number;
  /** The first offset a read of the partition can return: 0 unless a scavenge removed a prefix. */
  partitionStart(partition: number): number;
}

/** One command's events, to be appended to one stream. */
export interface AppendRequest {
  aggregateType: string;
  stream: string;
  partition: number;
  /** The stream's version before these events: they get seqs `expectedVersion + 1, ...`. */
  expectedVersion: number;
  /** `schemaVersion`: stored with the event when given (see "Schema versions" above). */
  events: readonly { type: string; data: unknown; schemaVersion?: number }[];
  ts: number;
  meta: EventMeta;
  /** Recorded with the events, so a retry finds them (`findCommand`). */
  commandId?: string;
  /** The command's digest, recorded with the command id (a retry must carry the same command). */
  digest?: string;
}

/** Something staged for a batch. Opaque: only the adapter that staged it can commit it. */
export interface Staged {
  /** The events it appends, with the positions the writer assigned (append stages only). */
  readonly events?: readonly EventEnvelope[];
}

/** What a committed batch wrote: each partition's head (next offset) after it, for the partitions it moved. */
export interface Committed {
  readonly heads: ReadonlyMap<number, number>;
}

/**
 * The write side: one writer per owner of a set of partitions (an actor host). Staging encodes and
 * positions without writing, so data that cannot be stored fails its own command before anything of a
 * batch is queued (all or nothing per command); `commit` writes a list of staged things atomically.
 */
export interface BatchWriter {
  /**
   * Positions and encodes one command's events (see the header: the writer assigns positions). Throws
   * for data the log cannot hold (nothing consumed) and `CorruptRecord` for a position already taken.
   */
  stageAppend(request: AppendRequest): Staged;
  stageSnapshot(aggregateType: string, id: string, snapshot: StoredSnapshot): Staged;
  /** Removes one persisted snapshot (retention; snapshots are derived data, never events). */
  stageSnapshotRemoval(aggregateType: string, id: string, version: number): Staged;
  /** EVENT_PAGE consecutive, already durable events of one stream from a page boundary (derived data). */
  stagePage(events: readonly EventEnvelope[]): Staged;
  /**
   * The page of stream `aggregateType/id` from `first` (a page boundary), from its events as the log
   * stores them (adapters copy the stored bytes: no decode, no encode); null while the log does not hold
   * all EVENT_PAGE of them (not yet durable and visible to this thread's reads, or a scavenged prefix).
   * Throws `CorruptRecord` for a damaged event, which is never copied. Reads like the log's other reads:
   * call `refreshReads` first to see the latest commits.
   */
  stageStoredPage(aggregateType: string, id: string, first: number): Staged | null;
  /**
   * Commits staged things in one atomic batch, in order after this writer's earlier batches (the
   * write-chain rule above). `alsoInBatch` runs synchronously while the batch is assembled: view-store
   * writes it makes join the batch where `ViewStore.joinsLogBatch` (all or nothing with the events).
   * Resolves once durable (per the log's durability); rejects with the reason otherwise.
   */
  commit(staged: readonly Staged[], alsoInBatch?: () => void): Promise<Committed>;
  /** The next offset of a partition this writer owns, counting what it staged. */
  head(partition: number): number;
  /** Reads a partition's head from the log again (after an operator repaired it). */
  reloadHead(partition: number): number;
  /** The first failure of this writer (or its log); null while writes are accepted. */
  readonly failure: RuntimeError | null;
}

/** Which generation of a view serves reads, and which one a rebuild is filling. */
export interface ViewMeta {
  active: number;
  building: number | null;
}

/**
 * Rows and checkpoints of read models (DESIGN invariant 5). Writes are queued: made inside a log
 * batch's `alsoInBatch`, they commit with it where `joinsLogBatch` (exactly once: rows and the
 * checkpoint with the events); otherwise they commit in their own transaction, in order, and a
 * projection must be idempotent by checkpoint (rows of offsets at or below the checkpoint are not
 * applied twice).
 */
export interface ViewStore {
  /** True when writes queued in `alsoInBatch` commit atomically with the log's batch. */
  readonly joinsLogBatch: boolean;
  meta(view: string): ViewMeta;
  setMeta(view: string, meta: ViewMeta): Promise<void>;
  getRow<R>(view: string, generation: number, id: string): R | undefined;
  rows<R>(view: string, generation: number, after?: string, limit?: number): Iterable<{ id: string; row: R }>;
  checkpoint(view: string, generation: number, partition: number): number;
  /**
   * Queues a row write (a removal with `undefined`). `seals`: the row writer's memo of its personal
   * fields' ciphertexts, for the sealing layer (runtime/personal-data.ts `sealRow`); stores ignore it.
   */
  putRow(view: string, generation: number, id: string, row: unknown, seals?: unknown[]): Promise<unknown>;
  putCheckpoint(view: string, generation: number, partition: number, offset: number): Promise<unknown>;
  /** Removes every row and checkpoint of a retired generation. */
  dropGeneration(view: string, generation: number): Promise<void>;
  /** Resolves when every view write this thread queued so far is committed. */
  committed(): Promise<void>;
}

/** What `SubjectKeys.key` answers: a subject's key (32 bytes), or the mark its key was deleted. */
export type SubjectKey = Uint8Array | 'forgotten';

/** What `SubjectKeys.forget` did. */
export interface ForgetOutcome {
  /** False when the subject had been forgotten before (nothing deleted this time). */
  deleted: boolean;
  /** The id its audit record is appended with (the first forget's, kept in the tombstone). */
  commandId: string;
  /** Who asked (the first forget's, kept in the tombstone). */
  by: string | null;
  /** True once its `SubjectForgotten` audit record is known to be in the log (`markAudited`). */
  audited: boolean;
  /**
   * True when the key's bytes were checked to be gone from the key store's file (LMDB keeps freed
   * pages as they were until it reuses them: the store rewrites them, then reads the file to make sure).
   */
  scrubbed: boolean;
}

/**
 * The keys of data subjects (crypto-shredding: runtime/subject-cipher.ts). A subject's key is made on
 * first use, kept pending in the thread that made it, and made durable by `persist`, which a writer
 * calls before it commits anything sealed with a pending key; `forget` replaces a key with a
 * tombstone, so a forgotten subject never gets a key again and reads can tell "forgotten" (redact)
 * from "missing" (damage). Readable from every thread once persisted.
 */
export interface SubjectKeys {
  /** The subject's key; made (pending until `persist`) when it has none and `create`; undefined when none and not `create`. */
  key(subject: string, create?: boolean): SubjectKey | undefined;
  /**
   * Makes every key this thread made since the last call durable, in one synced transaction; throws
   * when it cannot (then nothing sealed with them may be committed, and those keys are dropped).
   */
  persist(): void;
  /** Deletes the subject's key for good (a tombstone stays), then scrubs its bytes out of the file. Idempotent. */
  forget(subject: string, record: { commandId: string; by: string | null }): Promise<ForgetOutcome>;
  /** Records that the subject's `SubjectForgotten` audit record is in the log. */
  markAudited(subject: string): void;
  /** Forgotten subjects whose audit record may be missing (a crash between the two steps). */
  unaudited(): { subject: string; commandId: string; by: string | null }[];
  /** Makes this thread's next reads see every key change made so far, by any thread. */
  refreshReads(): void;
}

/** A log opened by one thread: its reads, its view store, and writers for the partitions it owns. */
export interface EventLog extends RuntimeLog {
  readonly durability: Durability;
  /** The first storage failure of this log (every write is refused until `probeWrite` succeeds). */
  readonly failure: RuntimeError | null;
  /**
   * Makes this process the owner of the log (DESIGN invariant 9): bumps the owner epoch and returns it.
   * Batches of writers of an earlier epoch are refused (`Fenced`) from then on.
   */
  claimOwnership(holder: string): number;
  ownerEpoch(): number;
  /** A batch writer for `partitions`, fenced by `epoch` and chained under `writerId` (the write-chain rule). */
  openWriter(writerId: string, epoch: number, partitions: readonly number[]): BatchWriter;
  /**
   * The data subjects' keys (crypto-shredding), kept beside the log (the LMDB adapter: their own file in
   * the data dir); opened on first use. Absent from a log that cannot keep them: JetStream (cluster
   * mode), whose nodes would each need every key and keys are not replicated yet. Personal data is
   * then stored as given.
   */
  readonly subjectKeys?: SubjectKeys | undefined;
  /** Resolves when every write queued so far by this thread is durable (tools; writers await `commit`). */
  durable(): Promise<void>;
  /** One small durable write outside every chain; on success the log accepts writes again. */
  probeWrite(): Promise<void>;
  /**
   * Stores (`null`: removes) the retention settings of stream `id`, or of the type without `id`: one
   * small write outside every writer's chain (nothing is positioned), durable when resolved, refused
   * like any write while the log has failed. An adapter that cannot store them refuses with
   * `NotImplemented`.
   */
  setRetention(aggregateType: string, id: string | undefined, settings: RetentionSettings | null): Promise<void>;
  /**
   * Scavenge, one bounded step ("Scavenge" above): removes stream `id`'s events below seq `below` (at
   * most `budget` of them), the pages wholly below them, its snapshots below `below - 1`, and, once no
   * event below `below` is left, the command records of those events; moves the stream's start with
   * them, in one durable write outside every chain. An adapter may also drop the removed events' refs
   * from its partition index there (reads skip them either way). `done` false: call again. Refuses (`InvalidQuery`)
   * to remove the stream's last event. An adapter that cannot remove refuses with `NotImplemented`.
   */
  removeStreamPrefix(aggregateType: string, id: string, below: number, budget?: number): Promise<PrefixRemoval>;
  /**
   * Scavenge, one bounded step: drops the partition's index from its front while what it drops points
   * only at removed events and lies below offset `upTo` (what its consumers reached), never the record
   * the partition's head is read from; moves the partition's start with it.
   */
  trimPartition(partition: number, upTo: number, budget?: number): Promise<PartitionTrim>;
  close(): Promise<void>;
}

/** What a runtime shows of its log: reads, and the read models' store (the write side stays inside). */
export interface RuntimeLog extends LogReader {
  readonly views: ViewStore;
}

/** How a runtime opens its log: the embedded LMDB data dir (default) or memory. */
export interface EventLogOptions {
  /** Partition count for a new log. An existing one keeps its own; another value is an error. */
  partitions?: number;
  /** `sync` (default): ack after the commit is flushed to disk. `commit`: ack once visible. */
  durability?: Durability;
  readOnly?: boolean;
}
