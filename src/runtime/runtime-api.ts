/**
 * The embedded API's types: what `createRuntime()` returns and what its calls take and answer. Kept apart
 * from create-runtime.ts (which composes the pieces that implement them) so the contract reads in one place.
 */
import type { EventEnvelope } from '../kernel/index.js';
import type { RuntimeLog } from '../log/index.js';
import type { AnyDecider, AuditKind, AuditState, AuditTarget } from '../domain/index.js';
import type { RuntimeHealth } from './health.js';
import type { PluginChannel } from './plugin-channel.js';
import type { ActorStats, PartitionResumeResult } from './protocol.js';
import type { ResumeResult } from './storage-recovery.js';
import type { TraceSpans } from './trace.js';
import type { WorkerPluginSpec } from './worker-plugin.js';

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
   * this node's cache: current for a partition it serves, as of its last catch-up otherwise.
   */
  served?: boolean;
  epoch?: number;
  owner?: string;
}

export type CommittedListener = (events: EventEnvelope[]) => void;

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
   * `InvalidCommand` in cluster mode, where personal data is not sealed (README, "Crypto-shredding").
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
  history(aggregateType: string, id: string, options?: HistoryOptions): Promise<EventEnvelope[]>;
  partitions(): PartitionInfo[];
  /**
   * Resumes a partition stopped on damage (CorruptRecord, CorruptLog), without a restart, once an
   * operator repaired what stopped it. Its actors re-hydrate from the log; damage still there stops it again.
   */
  resumePartition(partition: number): Promise<PartitionResumeResult>;
  /** Committed events, after they are durable, in commit order per partition. Returns an unsubscribe. */
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
