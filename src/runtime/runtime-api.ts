/**
 * The embedded API's types: what `createRuntime()` returns and what its calls take and answer. Kept apart
 * from create-runtime.ts (which composes the pieces that implement them) so the contract reads in one place.
 */
import type { EventEnvelope } from '../kernel/index.js';
import type { RetentionSettings, RuntimeLog } from '../log/index.js';
import type { AnyDecider, AuditKind, AuditState, AuditTarget } from '../domain/index.js';
import type { RuntimeHealth } from './health.js';
import type { PluginChannel } from './plugin-channel.js';
import type { ActorStats, PartitionResumeResult } from './protocol.js';
import type { ResumeResult } from './storage-recovery.js';
import type { RetentionTarget, StreamRetention } from './retention.js';
import type { TraceSpans } from './trace.js';
import type { WorkerPluginSpec } from './worker-plugin.js';
import type { ScavengeGuard, ScavengeOptions, ScavengeReport } from './scavenge.js';
import type { ForwardHandler, ForwardRequest, ForwardResult, Member } from '../cluster/index.js';

export interface ExecuteOptions {
  /** Fail with `VersionConflict` unless the stream is at exactly this version (0 = new stream). */
  expectedVersion?: number;
  /** Idempotency key: the same commandId on the same stream returns the first result and writes nothing. */
  commandId?: string;
  correlationId?: string;
  causationId?: string;
}

export interface ExecuteResult<S = unknown> {
  id: string;
  type: string;
  version: number;
  events: EventEnvelope[];
  /** The state right after `version`, deeply frozen (see `Runtime.execute`). */
  state: S;
  duplicate?: boolean;
}

export interface LoadOptions {
  /** State right after this seq. */
  version?: number;
  /** State as of this moment (ms since epoch, a Date, or an ISO-8601 string). */
  at?: number | Date | string;
}

export interface LoadResult<S = unknown> {
  id: string;
  type: string;
  version: number;
  state: S;
}

export interface HistoryOptions {
  from?: number;
  limit?: number;
}

/** States of a stream at two points and the events between them (`Runtime.diff`). */
export interface DiffResult<S = unknown> {
  /** Null when `from` is before the stream's first event (version 0, or a time before it). */
  from: LoadResult<S> | null;
  to: LoadResult<S>;
  events: EventEnvelope[];
}

export interface PartitionInfo {
  partition: number;
  worker: number;
  /** Next offset to be written (= events in the partition). */
  offset: number;
  /** Why the partition is stopped (damage found in it), when it is; `resumePartition` resumes it. */
  stopped?: string;
  /**
   * Cluster mode only: whether this node serves the partition (others are refused with `NotOwner`), and
   * the lease's epoch and owner node id when known (this node's while it serves it). `offset` is then
   * this node's cache: current for a partition it serves; for one it follows (another node writes it),
   * what the cache applied from the log of record so far, with `lag` the messages of the partition's
   * stream it knows of and has not applied yet (0: caught up as of the last one it saw).
   */
  served?: boolean;
  epoch?: number;
  owner?: string;
  lag?: number;
  /** Why following the partition failed last (a foreign write, damage, the connection), until it applies again. */
  followError?: string;
}

/** What `Runtime.retention` and `setRetention` answer (docs/data-lifecycle.md). */
export interface RetentionInfo {
  aggregateType: string;
  id?: string;
  /** The settings stored for exactly this target (null: none; a stream then follows its type's). */
  settings: RetentionSettings | null;
  /** For a stream: what reads apply now, and its cut. */
  stream?: StreamRetention;
}

/** What `Runtime.lastScavenge` holds: when the last pass started, and its report or its error. */
export type LastScavenge = { at: number; report: ScavengeReport } | { at: number; error: string };

export interface SetRetentionOptions {
  /** Who asks (a token's name, `cli`), for the audit record; null when unknown. */
  by?: string | null;
  /**
   * The audit record's command id: a retry with the same one records once. Default: derived from the
   * target, the settings and the settings they replace (so a retry after an unknown outcome records once).
   */
  commandId?: string;
}

/** `Runtime.deleteStream` / `undeleteStream` options. */
export interface StreamLifecycleOptions {
  /** Who asks (a token's name, `cli`), recorded in the `$` event and the audit record; null when unknown. */
  by?: string | null;
  /** Idempotency of the operation itself, as a command's. */
  commandId?: string;
  /** Fail with `VersionConflict` unless the stream is at exactly this version. */
  expectedVersion?: number;
}

/** What a deletion or an undelete answers. */
export interface StreamLifecycleResult {
  id: string;
  type: string;
  /** The stream's version after it (the `$` event's seq, or the version it was already at). */
  version: number;
  /** False when the stream was already so (a retry): nothing was appended. */
  changed: boolean;
}

export type CommittedListener = (events: EventEnvelope[]) => void;

/**
 * Cluster mode: this node in its group, and the way to reach the other members (docs/cluster.md,
 * "Forwarding"). The runtime itself never forwards: it answers `NotOwner` (naming the owner when it
 * knows it) for what it does not serve, and a layer above (the HTTP server) decides to forward.
 */
export interface ClusterLink {
  readonly nodeId: string;
  readonly group: string;
  /** The live members as this node sees them, sorted by node id (with what each announced: `meta`). */
  members(): Member[];
  /**
   * Starts answering the requests other members forward to this node with `handler`, which must act on
   * what this node serves and never forward again. Stopped when the runtime closes, before it leaves
   * its group. Once per runtime. Opens the node's forwarding connection to NATS on first use.
   */
  serve(handler: ForwardHandler): Promise<void>;
  /**
   * Sends `request` to member `nodeId` (the owner a `NotOwner` named) and answers its result, or
   * rejects with its error as it sent it; `NotOwner` when it is gone; `Unavailable` when it did not
   * answer in time (a command's with `outcome: 'unknown'`).
   */
  forward<R extends ForwardRequest>(nodeId: string, request: R): Promise<ForwardResult<R>>;
}

/** What `forget` did (crypto-shredding: subject-cipher.ts). */
export interface ForgetResult {
  subject: string;
  /** False when the subject had been forgotten before (this call only made sure of the rest). */
  deleted: boolean;
  /** True when the key's bytes were checked gone from the key store's file (see log/lmdb/subject-keys.ts). */
  scrubbed: boolean;
  /** The `SubjectForgotten` record in the audit stream: its version, and whether an earlier call had appended it. */
  audit: { version: number; duplicate: boolean };
}

export interface Runtime {
  readonly dataDir: string;
  readonly partitionCount: number;
  readonly workerCount: number;
  readonly aggregateTypes: readonly string[];
  /**
   * The worker plugins every worker runs (module URLs and options, as resolved at `createRuntime`), in
   * the order they see each batch. A layer above finds its own plugin here (the projection engine does).
   */
  readonly workerPlugins: readonly WorkerPluginSpec[];
  /**
   * The decider modules (file URLs) as resolved at `createRuntime`: what another thread imports to read
   * the log as the deciders see it (`versionedLog`), as the feed's reader thread does.
   */
  readonly domainModules: readonly string[];
  /** The read side of the log (main thread): partitions in offset order, streams, snapshots. */
  readonly log: RuntimeLog;
  /**
   * Counters for tests and metrics. `timeMachineFolded`: events folded by version/at loads.
   * `stateCache*`: plain loads answered from the state cache (hits) or not (misses), and the
   * acknowledged states held for them (entries, at most the `stateCacheSize` option). `ownerLoads`: of
   * the misses, those the owning worker answered (the rest were read from the log on the calling
   * thread: a stream with a command in flight, a partition stopped or a worker not steady go to the
   * owner; every miss does with `coldLoads: 'owner'`).
   */
  readonly counters: {
    readonly timeMachineFolded: number;
    commandsOk: number;
    commandsFailed: number;
    eventsAppended: number;
    readonly stateCacheHits: number;
    readonly stateCacheMisses: number;
    readonly stateCacheEntries: number;
    readonly ownerLoads: number;
  };
  decider(aggregateType: string): AnyDecider | undefined;
  /**
   * Runs a command on its aggregate's single writer; resolves once its events are durable.
   *
   * The returned `state` is deeply frozen (plain objects and arrays; in strict-mode code, assigning to
   * it throws): the same object is what later `load`s of the aggregate return, so nobody can change
   * what the next load sees. A Map, Set, Date or typed array inside a state cannot be frozen; such a
   * state is not shared (the runtime keeps its own copy and each load gets a fresh one). Copy a state
   * (`structuredClone`) to get a mutable one.
   */
  execute<S = unknown>(aggregateType: string, id: string, command: { type: string; data?: unknown }, options?: ExecuteOptions): Promise<ExecuteResult<S>>;
  /**
   * Deletes a stream through its owner, ordered with its commands (docs/data-lifecycle.md). Soft (the
   * default): appends `$StreamDeleted`; reads answer `StreamNotFound` (details `deleted: true`); an
   * `undeleteStream` brings it back as it was; a domain command re-creates it (seqs go on, the state
   * starts from `initialState()`). `hard: true`: appends `$StreamTombstoned`; every later command and
   * read is `StreamDeleted` (410), for good. Recorded in the audit stream. Already so: `changed: false`.
   */
  deleteStream(aggregateType: string, id: string, options?: StreamLifecycleOptions & { hard?: boolean }): Promise<StreamLifecycleResult>;
  /** Undoes a soft deletion (`$StreamUndeleted`); `StreamNotDeleted` (409) once a command re-created it, `StreamDeleted` when tombstoned. */
  undeleteStream(aggregateType: string, id: string, options?: StreamLifecycleOptions): Promise<StreamLifecycleResult>;
  /**
   * Appends one record to the audit stream (`$audit/lifecycle`, domain/audit.ts): every retention
   * change, deletion and forgotten subject is recorded there. Pass a `commandId` so that a retry after
   * an unknown outcome records it once.
   */
  audit(kind: AuditKind, record: { target: AuditTarget; by?: string | null; details?: Record<string, unknown> }, options?: ExecuteOptions): Promise<ExecuteResult<AuditState>>;
  /**
   * Crypto-shredding: deletes data subject `subject`'s key (the personal fields deciders declare, sealed
   * with it, read as `null` from then on, in every thread and every read), drops every cache that holds
   * them in plaintext, and records `SubjectForgotten` in the audit stream (`by`: who asked). Idempotent:
   * calling it again for a forgotten subject appends nothing new, and completes a forget a crash cut
   * short (the audit record is also completed when the runtime starts). `InvalidId` for an id outside
   * the id pattern; a subject that never had a key is forgotten all the same (none can be made later).
   * `NotImplemented` in cluster mode, where personal data is not sealed (README, "Crypto-shredding").
   */
  forget(subject: string, options?: { by?: string | null }): Promise<ForgetResult>;
  /**
   * The current state (no `version`/`at`): the newest acknowledged state, answered on the calling
   * thread: from the state cache (a reply to a command or an earlier load), else read from the log
   * (the owning worker answers when the stream has a command in flight: log-loads.ts).
   * Never older than any version acknowledged to any caller before the call; commands still in flight
   * are not visible (read committed). The state is deeply frozen and shared with other callers, exactly
   * as described at `execute`.
   *
   * With `version` or `at`: the state as of that point, folded on the main thread from the nearest
   * persisted snapshot; a fresh, mutable object per call.
   */
  load<S = unknown>(aggregateType: string, id: string, options?: LoadOptions): Promise<LoadResult<S>>;
  /**
   * A page of a stream's events. Without `from`, from the first version reads may show (1 unless a
   * retention cut hides older ones); a `from` before the cut is `Gone` (with `firstVersion`).
   */
  history(aggregateType: string, id: string, options?: HistoryOptions): Promise<EventEnvelope[]>;
  /**
   * Sets (`null`: removes) the retention settings of one stream (`{ aggregateType, id }`) or of every
   * stream of a type (`{ aggregateType }`): `maxAge` (ms), `maxCount` (>= 1), `truncateBefore` (a
   * version, per stream only, at most the stream's version + 1). Reads (history, version/at loads, diff)
   * apply them from the moment this resolves; the current state is not affected. Recorded in the audit
   * stream (`RetentionSet`) before it applies. `NotImplemented` in cluster mode.
   */
  setRetention(target: RetentionTarget, settings: RetentionSettings | null, options?: SetRetentionOptions): Promise<RetentionInfo & { changed: boolean }>;
  /** The retention settings of a stream or a type, and for a stream its cut as reads apply it now. */
  retention(target: RetentionTarget): RetentionInfo;
  /**
   * Runs a scavenge pass now (runtime/scavenge.ts; docs/data-lifecycle.md, "Scavenge"): physically
   * removes what retention hides, as far as snapshots and read models allow, and answers what it removed
   * and what it left alone. The runtime also runs one every `scavengeEveryMs`. `NotImplemented` in
   * cluster mode.
   */
  scavenge(options?: ScavengeOptions): Promise<ScavengeReport>;
  /** The last pass's outcome (background or asked), or null before the first. */
  readonly lastScavenge: LastScavenge | null;
  /**
   * Registers a reader the scavenge must not outrun (read models: `Views.open` registers the projection
   * engine's); returns its removal. While a worker plugin runs with no guard for its module, a pass
   * removes nothing.
   */
  guardScavenge(guard: ScavengeGuard): () => void;
  partitions(): PartitionInfo[];
  /** Cluster mode only (undefined on the embedded runtime): this node in its group, and forwarding. */
  readonly cluster?: ClusterLink;
  /**
   * Resumes a partition stopped on damage (CorruptRecord, CorruptLog), without a restart, once an
   * operator repaired what stopped it. Its actors re-hydrate from the log; damage still there stops it again.
   */
  resumePartition(partition: number): Promise<PartitionResumeResult>;
  /**
   * Committed events, after they are durable, in commit order per partition. Returns an unsubscribe.
   * In cluster mode: those of every partition, this node's commits and the ones its cache follows from
   * the log of record (written by other nodes), at the same offsets as on every node.
   */
  subscribe(listener: CommittedListener): () => void;
  stats(): Promise<ActorStats[]>;
  /**
   * With `trace: true`: the spans every thread recorded (trace.ts) that ended after `sinceMs` (ms since
   * the epoch, as `performance.timeOrigin + performance.now()`; default 0: all the rings hold), sorted
   * by start. Without it: no spans (the main thread's ring is shared by runtimes of one process).
   */
  traceSpans(sinceMs?: number): Promise<TraceSpans>;
  /** States of a stream at two points (versions or times) and the events between them. */
  diff<S = unknown>(aggregateType: string, id: string, from: LoadOptions, to: LoadOptions): Promise<DiffResult<S>>;
  /** The worker that owns a partition. */
  workerOf(partition: number): number;
  /** The main-thread end of a worker plugin (e.g. the projection engine), by the name the plugin gives itself. */
  plugin(name: string): PluginChannel;
  /** `ok` while fully serving; otherwise each reason, typed (a worker down, a partition stopped, storage failed, closed). */
  health(): RuntimeHealth;
  /**
   * After a storage failure (disk full): probe the storage now and, when it is writable again, resume
   * writes (see storage-recovery.ts; a background probe does the same by itself). Throws
   * `StorageFailed` with the reason when it cannot resume yet. `resumed: false` when nothing had failed.
   */
  resumeWrites(): Promise<ResumeResult>;
  close(): Promise<void>;
}
