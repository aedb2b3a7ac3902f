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

/**
 * A command reply as it crosses the thread boundary. The common case (a command that just committed)
 * is compact: its events share aggregate, stream, ts, partition and meta, and their seqs and offsets
 * are contiguous, so only [type, data] pairs travel and the router rebuilds the envelopes from the
 * request it still holds (packing whole envelopes cost more than the rest of the command).
 * - [rid, 0, error]
 * - [rid, 1, version, state, ts, partition, firstOffset, types[], datas[]]  (fresh commit)
 * - [rid, 2, result]  (full result: a duplicate, whose events come from the log)
 * - [rid, 3, version, state, ts, partition, offset, type, data]  (fresh commit of exactly one event,
 *   the usual case: two arrays fewer to build, pack and unpack per command)
 * Kinds 1 and 3 end with the events' schema versions (`schemaVersions`: 1 where an event has none)
 * only when an event has one (`withSchemaVersions`): nothing more travels for unversioned events.
 */
export type WireReply =
  | [rid: number, kind: 0, error: SerializedError]
  | [rid: number, kind: 1, version: number, state: unknown, ts: number, partition: number, firstOffset: number, types: string[], datas: unknown[], schemaVersions?: number[]]
  | [rid: number, kind: 2, result: CommandResult]
  | [rid: number, kind: 3, version: number, state: unknown, ts: number, partition: number, offset: number, type: string, data: unknown, schemaVersion?: number];

/** A compact commit reply (kind 1 or 3) with its events' schema versions appended when any has one. */
export function withSchemaVersions(reply: Extract<WireReply, { 1: 1 | 3 }>, events: readonly EventEnvelope[]): WireReply {
  if (reply[1] === 3) {
    const v = events[0]?.schemaVersion;
    if (v !== undefined) reply[9] = v;
  } else if (events.some((e) => e.schemaVersion !== undefined)) reply[9] = events.map((e) => e.schemaVersion ?? 1);
  return reply;
}

export type Reply<T = CommandResult> = { rid: number; ok: true; result: T } | { rid: number; ok: false; error: SerializedError };

export interface ActorStats {
  workerIndex: number;
  liveActors: number;
  queued: number;
  offsets: Record<number, number>;
  commandsProcessed: number;
  batchesCommitted: number;
}

export type ToWorker =
  /** `packed`: a CommandRequest[] encoded by wire.ts */
  | { kind: 'commands'; packed: Uint8Array<ArrayBuffer> }
  | { kind: 'load'; rid: number; aggregateType: string; id: string }
  | { kind: 'stats'; rid: number }
  | { kind: 'plugin'; rid: number; plugin: string; payload: unknown }
  /** An operator resumes a partition stopped on damage (answered with a `reply` carrying PartitionResumeResult). */
  | { kind: 'resume'; rid: number; partition: number }
  | { kind: 'close' };

export interface PartitionResumeResult {
  partition: number;
  /** Whether it was stopped (resuming a running partition is a no-op). */
  wasStopped: boolean;
  /** Its head, read again from the log. */
  offset: number;
}

export type FromWorker =
  | { kind: 'ready'; offsets: Record<number, number> }
  /** `packed`: a WireReply[] encoded by wire.ts */
  | { kind: 'replies'; packed: Uint8Array<ArrayBuffer> }
  | { kind: 'loaded'; reply: Reply<{ version: number; state: unknown }> }
  | { kind: 'stats'; rid: number; stats: ActorStats }
  | { kind: 'reply'; reply: Reply<unknown> }
  | { kind: 'plugin-event'; plugin: string; payload: unknown }
  | { kind: 'fatal'; error: SerializedError }
  | { kind: 'partition-stopped'; partition: number; error: SerializedError }
  | { kind: 'closed' };
