/**
 * The only shapes that cross the thread boundary between the router (main thread) and an actor host
 * (worker thread). Everything here must survive structured clone: plain data, no classes, no functions.
 *
 * Why batches: a postMessage costs microseconds, a command's decide+evolve well under one. So commands
 * travel to a worker in `commands` batches (all calls made in one event-loop turn), and replies come
 * back in one `replies` message per committed LMDB transaction.
 *
 * Gotchas: both sides are always the same build (the worker is spawned from this package), so there is
 * no protocol versioning; still, add fields as optional so a half-edited tree fails loudly in tests.
 */
import type { EventEnvelope, EventMeta, SerializedError } from '../kernel/index.js';
import type { Durability } from '../log/index.js';
import type { Lifecycle } from '../domain/index.js';
import type { WorkerPluginSpec } from './worker-plugin.js';

export interface ActorHostConfig {
  workerIndex: number;
  dataDir: string;
  totalPartitions: number;
  ownedPartitions: number[];
  durability: Durability;
  /** The owner epoch this process claimed (EventLog.claimOwnership): every batch is fenced on it. */
  ownerEpoch: number;
  /** Module specifiers (file URLs) whose default export is a Decider. */
  domainModules: string[];
  snapshotEvery: number;
  maxLiveActors: number;
  mailboxCapacity: number;
  idlePassivateMs: number;
  /** Keep every n-th persisted snapshot beyond the newest ten (1 = keep all). */
  snapshotThinning: number;
  plugins: WorkerPluginSpec[];
  /** Free bytes the data dir's file system must keep; below it batches are refused (0 = no reserve). */
  storageReserveBytes: number;
  /** Record this thread's spans (trace.ts), collected by `trace` requests. */
  trace: boolean;
  /**
   * Cluster mode (cluster-node.ts): the log is JetStream's, `dataDir` its local cache, and the host
   * starts with none of its partitions served (each comes with an `acquire`).
   */
  cluster?: { servers: string[]; logName: string; replicas: number };
}

export interface CommandRequest {
  rid: number;
  aggregateType: string;
  id: string;
  command: { type: string; data: unknown };
  expectedVersion?: number;
  commandId?: string;
  correlationId?: string;
  causationId?: string;
  /** Caller's clock when the command entered the runtime (ms); the actor never lets ts go backwards. */
  now: number;
}

export interface CommandResult {
  version: number;
  events: EventEnvelope[];
  state: unknown;
  /** True when `commandId` had been seen: the first result is returned and nothing was written. */
  duplicate?: boolean;
}

/** The metadata a command's events carry: only the ids the caller gave. Both sides build it the same way. */
export function metaOf(req: Pick<CommandRequest, 'commandId' | 'correlationId' | 'causationId'>): EventMeta {
  return {
    ...(req.commandId !== undefined ? { commandId: req.commandId } : {}),
    ...(req.correlationId !== undefined ? { correlationId: req.correlationId } : {}),
    ...(req.causationId !== undefined ? { causationId: req.causationId } : {}),
  };
}

/** A command reply as it crosses the thread boundary: the compact codec and its kinds live in reply-codec.ts. */
export type { WireReply } from './reply-codec.js';

export type Reply<T = CommandResult> = { rid: number; ok: true; result: T } | { rid: number; ok: false; error: SerializedError };

export interface ActorStats {
  workerIndex: number;
  liveActors: number;
  queued: number;
  offsets: Record<number, number>;
  commandsProcessed: number;
  batchesCommitted: number;
  /** Bytes of V8 heap in use by the thread the actor host runs on (the main thread's for an inline host). */
  heapUsed: number;
}

export type ToWorker =
  /** `packed`: a CommandRequest[] encoded by wire.ts */
  | { kind: 'commands'; packed: Uint8Array<ArrayBuffer> }
  | { kind: 'load'; rid: number; aggregateType: string; id: string }
  | { kind: 'stats'; rid: number }
  /** The worker's trace spans that ended after `since` (epoch ms), answered with a `reply` carrying TraceColumns (trace.ts). */
  | { kind: 'trace'; rid: number; since: number }
  | { kind: 'plugin'; rid: number; plugin: string; payload: unknown }
  /**
   * A data subject whose stream is in `partition` was forgotten (its key is gone): the host drops that
   * partition's live actors (their states hold the plaintext) once no batch is in flight, and renews its
   * key-store reads; answered with a `reply` (no result).
   */
  | { kind: 'forget'; rid: number; partition: number }
  /** An operator resumes a partition stopped on damage (answered with a `reply` carrying PartitionResumeResult). */
  | { kind: 'resume'; rid: number; partition: number }
  /**
   * Cluster mode: this node took `partition`'s lease with `epoch`, valid until `until` (ms on the worker's
   * own `performance.now()`, converted by the main thread with a measured offset: thread-clock.ts). The
   * host catches the partition up from the log of record and confirms its tip, then serves it; answered
   * with a `reply` carrying PartitionResumeResult.
   */
  | { kind: 'acquire'; rid: number; partition: number; epoch: number; until: number }
  /** Cluster mode: the lease of `partition` was renewed (`until` as in `acquire`). */
  | { kind: 'lease'; partition: number; epoch: number; until: number }
  /**
   * Cluster mode: stop serving `partition` (lease `epoch`) at once: its commands are answered `NotOwner`.
   * With `rid` (a handover, not a lapse): the lease is kept for the batches already in flight, and the
   * `reply` (no result) comes once they are through; the group releases the lease after it.
   */
  | { kind: 'revoke'; partition: number; epoch: number; rid?: number }
  | { kind: 'close' };

export interface PartitionResumeResult {
  partition: number;
  /** Whether it was stopped (resuming a running partition is a no-op). */
  wasStopped: boolean;
  /** Its head, read again from the log. */
  offset: number;
}

export type FromWorker =
  /** `now`: the worker's `performance.now()` when it sent this (the first bound of its clock's offset: thread-clock.ts). */
  | { kind: 'ready'; offsets: Record<number, number>; now: number }
  /**
   * Cluster mode: offsets `from..to - 1` of `partition` were applied to the cache from the log of record
   * (a followed partition's messages, a takeover's catch-up, a re-sync), not by this worker's own batches.
   * `lag`: messages of the partition's stream known not applied yet (followed partitions).
   */
  | { kind: 'applied'; partition: number; from: number; to: number; lag: number | null }
  /** Cluster mode: following `partition` failed (it is tried again after a pause); cleared by its next `applied` or `follow-recovered`. */
  | { kind: 'follow-failed'; partition: number; error: SerializedError }
  /** Cluster mode: following `partition` works again after a `follow-failed` (a fetch went through, or messages were applied). */
  | { kind: 'follow-recovered'; partition: number }
  /** `packed`: a WireReply[] (reply-codec.ts) encoded by wire.ts */
  /** `fresh`: packed by a new encoder (the previous one failed midway): decode it with a new decoder (wire.ts). */
  | { kind: 'replies'; packed: Uint8Array<ArrayBuffer>; fresh?: true }
  | { kind: 'loaded'; reply: Reply<LoadedState> }
  | { kind: 'stats'; rid: number; stats: ActorStats }
  | { kind: 'reply'; reply: Reply<unknown> }
  | { kind: 'plugin-event'; plugin: string; payload: unknown }
  | { kind: 'fatal'; error: SerializedError }
  | { kind: 'partition-stopped'; partition: number; error: SerializedError }
  | { kind: 'closed' }
  /** Everything a worker sent in one turn, in order (workers/actor-host.ts: one postMessage per turn). */
  | { kind: 'batch'; messages: FromWorker[] };

/**
 * A stream's current state as its owner answers a load. `life` only when the stream is deleted (soft
 * or tombstoned: domain/stream-lifecycle.ts); its state is then not sent (reads answer "not found").
 */
export interface LoadedState {
  version: number;
  state: unknown;
  life?: Lifecycle;
}
