/**
 * `createRuntime()`: the embedded API. The main thread routes commands to the worker that owns the
 * aggregate's partition and answers reads (history, time machine) straight from LMDB, whose readers are
 * lock-free and see every acknowledged commit. A plain `load(type, id)` answers from the last
 * acknowledged state this thread saw (state-cache.ts) and asks the owning worker only on a miss.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { ErrorCodes, RuntimeError, assertValidId, errors, type EventEnvelope } from '../kernel/index.js';
import { LmdbLog, lockDataDir, type EventLog, type RuntimeLog } from '../log/index.js';
import type { AnyDecider } from '../domain/index.js';
import { ownerOf, partitionOf, partitionsOwnedBy } from '../partition/index.js';
import { hydrate } from './hydrate.js';
import { loadDeciders } from './domain-registry.js';
import { versionedLog } from './versioned-log.js';
import { defaultWorkers, resolveOptions, type RuntimeOptions } from './options.js';
import type { ActorStats, CommandRequest, CommandResult, PartitionResumeResult } from './protocol.js';
import { deepFreeze, StateCache } from './state-cache.js';
import { StorageRecovery, type ResumeResult, type StorageStatus } from './storage-recovery.js';
import { WorkerSlot } from './worker-slot.js';

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

export interface PartitionInfo {
  partition: number;
  worker: number;
  /** Next offset to be written (= events in the partition). */
  offset: number;
  /** Why the partition is stopped (damage found in it), when it is; `resumePartition` resumes it. */
  stopped?: string;
}

export type CommittedListener = (events: EventEnvelope[]) => void;

export interface PluginChannel {
  request<T>(worker: number, payload: unknown): Promise<T>;
  broadcast<T>(payload: unknown): Promise<T[]>;
  on(listener: (worker: number, payload: unknown) => void): () => void;
}

export interface Runtime {
  readonly dataDir: string;
  readonly partitionCount: number;
  readonly workerCount: number;
  readonly aggregateTypes: readonly string[];
  /** Module URLs of the views (projections) the workers run. */
  readonly viewModules: readonly string[];
  /** The read side of the log (main thread): partitions in offset order, streams, snapshots. */
  readonly log: RuntimeLog;
  /**
   * Counters for tests and metrics. `timeMachineFolded`: events folded by version/at loads.
   * `stateCache*`: plain loads answered on the main thread (hits) or by the owning worker (misses), and
   * the acknowledged states held for them (entries, at most the `stateCacheSize` option).
   */
  readonly counters: {
    timeMachineFolded: number;
    commandsOk: number;
    commandsFailed: number;
    eventsAppended: number;
    readonly stateCacheHits: number;
    readonly stateCacheMisses: number;
    readonly stateCacheEntries: number;
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
   * The current state (no `version`/`at`): the newest acknowledged state, answered on the main thread
   * when it is in the state cache (a reply to a command or an earlier load), else by the owning worker.
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
  /** States of a stream at two points (versions or times) and the events between them. */
  diff<S = unknown>(aggregateType: string, id: string, from: LoadOptions, to: LoadOptions): Promise<{ from: LoadResult<S> | null; to: LoadResult<S>; events: EventEnvelope[] }>;
  /** The worker that owns a partition. */
  workerOf(partition: number): number;
  /** The main-thread end of a worker plugin (e.g. the projection engine). */
  plugin(name: string): PluginChannel;
  /** Null while healthy; the reason otherwise (a worker down, storage failed). */
  health(): { ok: boolean; reasons: string[]; storage?: StorageStatus };
  /**
   * After a storage failure (disk full): probe the storage now and, when it is writable again, resume
   * writes (see storage-recovery.ts; a background probe does the same by itself). Throws
   * `StorageFailed` with the reason when it cannot resume yet. `resumed: false` when nothing had failed.
   */
  resumeWrites(): Promise<ResumeResult>;
  close(): Promise<void>;
}

const MAX_HISTORY_PAGE = 10_000;

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const o = resolveOptions(options);
  const lock = lockDataDir(o.dataDir, 'runtime');
  let log: EventLog;
  let ownerEpoch: number;
  try {
    log = LmdbLog.open(o.dataDir, { ...(o.partitions !== undefined ? { partitions: o.partitions } : {}), durability: o.durability });
    // Invariant 9: the lock keeps a second process out; the epoch fences one that got in anyway.
    ownerEpoch = log.claimOwnership('runtime');
  } catch (err) {
    lock.release();
    throw err;
  }
  const P = log.partitions;
  const W = Math.min(o.workers ?? defaultWorkers(P), P);
  let deciders: Map<string, AnyDecider>;
  try {
    deciders = await loadDeciders(o.domainModules);
    // Every read below (time machine, history, diff, `runtime.log`: the feed, views) sees events at the deciders' current versions.
    log = versionedLog(log, deciders.values());
  } catch (err) {
    await log.close();
    lock.release();
    throw err;
  }
  const ajv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false, strict: false });
  /** aggregate type -> command type -> compiled schema (nested: no key string built per call). */
  const validators = new Map<string, Map<string, ValidateFunction>>();
  for (const d of deciders.values()) {
    const byCommand = new Map<string, ValidateFunction>();
    for (const [cmd, schema] of Object.entries(d.commands as Record<string, object>)) byCommand.set(cmd, ajv.compile(schema));
    validators.set(d.type, byCommand);
  }

  const offsets = new Array<number>(P).fill(0);
  const listeners = new Set<CommittedListener>();
  const cache = new StateCache(o.stateCacheSize);
  const counters = {
    timeMachineFolded: 0,
    commandsOk: 0,
    commandsFailed: 0,
    eventsAppended: 0,
    get stateCacheHits() {
      return cache.hits;
    },
    get stateCacheMisses() {
      return cache.misses;
    },
    get stateCacheEntries() {
      return cache.size;
    },
  };
  const fatal = new Map<number, string>();
  const pluginListeners = new Map<string, Set<(worker: number, payload: unknown) => void>>();
  let rid = 0;
  let closed = false;

  const hooks = {
    onCommitted(result: CommandResult) {
      const events = result.events;
      if (events.length === 0) return;
      counters.eventsAppended += events.length;
      const last = events[events.length - 1]!;
      if (last.offset + 1 > offsets[last.partition]!) offsets[last.partition] = last.offset + 1;
      // Into the cache before any subscriber hears of the events: a subscriber that loads the aggregate
      // on its own event must see at least that version (the caller's execute resumes only later).
      cache.offer(last.aggregateType, last.stream, last.partition, result.version, result.state);
      for (const l of listeners) {
        try {
          l(events);
        } catch {
          // A subscriber's bug must not fail the command that was already committed.
        }
      }
    },
    // A dead worker may have committed commands whose replies never arrived (each of them also fails
    // its execute, which drops that aggregate's entry at once); forgetting the whole worker's share on
    // restart and on fatal is the backstop. Its actors re-hydrate from the log, which is the truth.
    onFatal(index: number, error: RuntimeError) {
      fatal.set(index, `worker ${index}: ${error.message}`);
      cache.dropPartitions((p) => ownerOf(p, W) === index);
    },
    onRestart(index: number, reason: string) {
      fatal.delete(index);
      cache.dropPartitions((p) => ownerOf(p, W) === index);
      o.onWorkerRestart?.(index, reason);
    },
    onPartitionStopped(partition: number, error: RuntimeError) {
      fatal.set(-1 - partition, error.message);
      // Loads of a stopped partition go back to its worker, which answers (or fails) as it did before.
      cache.dropPartitions((p) => p === partition);
    },
    onPluginEvent(index: number, plugin: string, payload: unknown) {
      for (const l of pluginListeners.get(plugin) ?? []) l(index, payload);
    },
    // The state cache keeps serving: it holds only acknowledged states, and failed commands already
    // dropped their aggregate's entry (execute's catch).
    onStorageFailed(index: number, error: RuntimeError) {
      recovery.failed(index, error);
    },
  };

  const slots: WorkerSlot[] = [];
  const recovery = new StorageRecovery({ log, dataDir: o.dataDir, reserveBytes: o.storageReserveBytes, restart: (w, reason) => slots[w]!.restart(reason) });
  for (let w = 0; w < W; w++) {
    slots.push(
      new WorkerSlot(
        {
          workerIndex: w,
          dataDir: o.dataDir,
          totalPartitions: P,
          ownedPartitions: partitionsOwnedBy(w, P, W),
          durability: o.durability,
          ownerEpoch,
          domainModules: o.domainModules,
          snapshotEvery: o.snapshotEvery,
          maxLiveActors: Math.max(1, Math.ceil(o.maxLiveActors / W)),
          mailboxCapacity: o.mailboxCapacity,
          idlePassivateMs: o.idlePassivateMs,
          snapshotThinning: o.snapshotThinning,
          plugins: o.plugins,
          storageReserveBytes: o.storageReserveBytes,
        },
        hooks,
        o.maxInFlightPerWorker,
        o.maxRestartsPerMinute,
      ),
    );
  }
  try {
    for (const s of slots) {
      const ready = await s.ready;
      for (const [p, off] of Object.entries(ready)) offsets[Number(p)] = off;
    }
  } catch (err) {
    await Promise.allSettled(slots.map((s) => s.close(2000)));
    await log.close();
    lock.release();
    throw err;
  }

  const slotOf = (partition: number): WorkerSlot => slots[ownerOf(partition, W)]!;
  const deciderOf = (type: unknown): AnyDecider => {
    const d = typeof type === 'string' ? deciders.get(type) : undefined;
    if (!d) throw errors.unknownAggregateType(String(type));
    return d;
  };
  const assertOpen = (): void => {
    if (closed) throw errors.closed();
  };

  const runtime: Runtime = {
    dataDir: o.dataDir,
    partitionCount: P,
    workerCount: W,
    aggregateTypes: [...deciders.keys()],
    viewModules: (o.plugins[0]!.options as { views: string[] }).views,
    log,
    counters,
    decider: (t) => deciders.get(t),

    async execute<S>(aggregateType: string, id: string, command: { type: string; data?: unknown }, opts: ExecuteOptions = {}) {
      assertOpen();
      const decider = deciderOf(aggregateType);
      assertValidId(id);
      if (typeof command !== 'object' || command === null || typeof command.type !== 'string') {
        throw new RuntimeError(ErrorCodes.InvalidCommand, 'a command is { type, data }');
      }
      const validate = validators.get(aggregateType)?.get(command.type);
      if (!validate) {
        throw new RuntimeError(ErrorCodes.UnknownCommandType, `${aggregateType} has no command ${JSON.stringify(command.type.slice(0, 64))}; known: ${Object.keys(decider.commands).join(', ')}`, {
          known: Object.keys(decider.commands),
        });
      }
      const data = command.data ?? {};
      if (!validate(data)) {
        const e = validate.errors?.[0];
        throw new RuntimeError(ErrorCodes.InvalidCommand, `invalid ${command.type} data: ${e ? `${e.instancePath || '(root)'} ${e.message}` : 'schema mismatch'}`, {
          path: e?.instancePath ?? '',
        });
      }
      const { expectedVersion, commandId, correlationId, causationId } = opts;
      if (expectedVersion !== undefined && (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0)) {
        throw new RuntimeError(ErrorCodes.InvalidCommand, 'expectedVersion must be a non-negative integer');
      }
      // The common call carries none of these: no per-call arrays or spreads on that path (GC was a
      // third of the main thread's time in the throughput profile).
      const req: CommandRequest = { rid: ++rid, aggregateType, id, command: { type: command.type, data }, now: Date.now() };
      if (expectedVersion !== undefined) req.expectedVersion = expectedVersion;
      if (commandId !== undefined) req.commandId = checkedId('commandId', commandId);
      if (correlationId !== undefined) req.correlationId = checkedId('correlationId', correlationId);
      if (causationId !== undefined) req.causationId = checkedId('causationId', causationId);
      const partition = partitionOf(id, P);
      try {
        const result = await slotOf(partition).execute(req);
        counters.commandsOk++;
        // Fed before the caller resumes, so a load the caller issues next sees at least this version.
        // A duplicate carries the state after the FIRST attempt (maybe older than the head): not fed.
        if (result.duplicate) {
          deepFreeze(result.state);
          return { id, type: aggregateType, version: result.version, events: result.events, state: result.state as S, duplicate: true };
        }
        // A commit with events was offered in onCommitted already; one without events changed nothing
        // but is still the acknowledged state.
        if (result.events.length === 0) cache.offer(aggregateType, id, partition, result.version, result.state);
        return { id, type: aggregateType, version: result.version, events: result.events, state: result.state as S };
      } catch (err) {
        counters.commandsFailed++;
        // Whatever the error, forget the aggregate: with WorkerCrashed or StorageFailed the command may
        // be in the log without its reply, and the next load must ask the worker (which reads the log).
        cache.delete(aggregateType, id);
        throw err;
      }
    },

    async load<S>(aggregateType: string, id: string, opts: LoadOptions = {}) {
      assertOpen();
      const decider = deciderOf(aggregateType);
      assertValidId(id);
      if (opts.version === undefined && opts.at === undefined) {
        const hit = cache.get(aggregateType, id);
        if (hit !== undefined) return { id, type: aggregateType, version: hit.version, state: hit.state as S };
        const r = ++rid;
        const partition = partitionOf(id, P);
        const res = await slotOf(partition).request<{ version: number; state: unknown }>(r, { kind: 'load', rid: r, aggregateType, id });
        if (res.version === 0) throw errors.streamNotFound(aggregateType, id);
        // The worker answers its durable state. A reply acknowledged while this load was in flight may
        // have fed a newer entry: `offer` then answers that one (both are true; newer is never wrong).
        const newest = cache.offer(aggregateType, id, partition, res.version, res.state);
        return { id, type: aggregateType, version: newest.version, state: newest.state as S };
      }
      log.refreshReads();
      const head = log.streamHead(aggregateType, id).version;
      if (head === 0) throw errors.streamNotFound(aggregateType, id);
      let target: number;
      if (opts.version !== undefined) {
        if (!Number.isSafeInteger(opts.version) || opts.version < 1) throw new RuntimeError(ErrorCodes.InvalidQuery, 'version must be a positive integer');
        if (opts.version > head) throw new RuntimeError(ErrorCodes.NotFound, `${aggregateType} ${id} has ${head} events; there is no version ${opts.version}`, { head });
        target = opts.version;
      } else {
        const at = toEpochMs(opts.at!);
        target = log.versionAt(aggregateType, id, at);
        if (target === 0) throw new RuntimeError(ErrorCodes.NotFound, `${aggregateType} ${id} had no event yet at ${new Date(at).toISOString()}`, { at });
      }
      const h = hydrate(log, decider, aggregateType, id, target);
      counters.timeMachineFolded += h.folded;
      return { id, type: aggregateType, version: h.version, state: h.state as S };
    },

    async history(aggregateType: string, id: string, opts: HistoryOptions = {}) {
      assertOpen();
      deciderOf(aggregateType);
      assertValidId(id);
      const from = opts.from ?? 1;
      const limit = opts.limit ?? 1000;
      if (!Number.isSafeInteger(from) || from < 1) throw new RuntimeError(ErrorCodes.InvalidQuery, 'from must be a positive integer');
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_HISTORY_PAGE) throw new RuntimeError(ErrorCodes.InvalidQuery, `limit must be an integer in [1, ${MAX_HISTORY_PAGE}]`);
      log.refreshReads();
      const events = log.readStream(aggregateType, id, from, limit);
      if (events.length === 0 && log.streamHead(aggregateType, id).version === 0) throw errors.streamNotFound(aggregateType, id);
      return events;
    },

    async diff<S>(aggregateType: string, id: string, from: LoadOptions, to: LoadOptions) {
      const b = await runtime.load<S>(aggregateType, id, to);
      let a: LoadResult<S> | null = null;
      try {
        // Version 0 is the empty state before the first event.
        if (from.version !== 0) a = await runtime.load<S>(aggregateType, id, from);
      } catch (err) {
        // A start time before the stream's first event is the empty state: every event up to `to` is the
        // diff. A version the stream does not have stays an error.
        if (!RuntimeError.is(err, ErrorCodes.NotFound) || from.at === undefined) throw err;
        a = null;
      }
      const start = (a?.version ?? 0) + 1;
      if (a && a.version > b.version) throw new RuntimeError(ErrorCodes.InvalidQuery, `from (version ${a.version}) is after to (version ${b.version})`);
      log.refreshReads();
      const events = b.version >= start ? log.readStream(aggregateType, id, start, b.version - start + 1) : [];
      return { from: a, to: b, events };
    },

    workerOf: (partition) => ownerOf(partition, W),

    plugin(name) {
      return {
        request: <T>(worker: number, payload: unknown) => {
          const slot = slots[worker];
          if (!slot) return Promise.reject(new RuntimeError(ErrorCodes.InvalidQuery, `no worker ${worker}`));
          const r = ++rid;
          return slot.request<T>(r, { kind: 'plugin', rid: r, plugin: name, payload });
        },
        broadcast: <T>(payload: unknown) =>
          Promise.all(
            slots.map((s) => {
              const r = ++rid;
              return s.request<T>(r, { kind: 'plugin', rid: r, plugin: name, payload });
            }),
          ),
        on(listener) {
          let set = pluginListeners.get(name);
          if (!set) pluginListeners.set(name, (set = new Set()));
          set.add(listener);
          return () => set.delete(listener);
        },
      };
    },

    partitions: () =>
      offsets.map((offset, partition) => {
        const stopped = fatal.get(-1 - partition);
        return stopped === undefined ? { partition, worker: ownerOf(partition, W), offset } : { partition, worker: ownerOf(partition, W), offset, stopped };
      }),

    async resumePartition(partition) {
      if (!Number.isSafeInteger(partition) || partition < 0 || partition >= P) {
        throw new RuntimeError(ErrorCodes.InvalidQuery, `partition must be an integer in [0, ${P - 1}], got ${JSON.stringify(partition)}`);
      }
      const result = await slots[ownerOf(partition, W)]!.request<PartitionResumeResult>(++rid, { kind: 'resume', rid, partition });
      fatal.delete(-1 - partition);
      cache.dropPartitions((p) => p === partition);
      if (result.offset > offsets[partition]!) offsets[partition] = result.offset;
      return result;
    },

    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    stats: () => Promise.all(slots.map((s) => s.stats(++rid))),

    health() {
      const reasons = [...fatal.values()];
      for (const s of slots) if (s.down && !fatal.has(s.index)) reasons.push(s.down.message);
      const storage = recovery.status();
      const storageReason = recovery.reason();
      if (storageReason) reasons.push(storageReason);
      if (closed) reasons.push('closed');
      return { ok: reasons.length === 0, reasons, ...(storage ? { storage } : {}) };
    },

    resumeWrites() {
      assertOpen();
      return recovery.resumeNow();
    },

    async close() {
      if (closed) return;
      closed = true;
      recovery.close();
      await Promise.allSettled(slots.map((s) => s.close()));
      cache.clear();
      listeners.clear();
      await log.close();
      lock.release();
    },
  };
  return runtime;
}

function checkedId(name: string, value: string): string {
  try {
    assertValidId(value);
  } catch {
    throw new RuntimeError(ErrorCodes.InvalidCommand, `${name} must match [A-Za-z0-9_.:-]{1,128}`);
  }
  return value;
}

export function toEpochMs(at: number | Date | string): number {
  const ms = at instanceof Date ? at.getTime() : typeof at === 'number' ? at : /^\d+$/.test(at) ? Number(at) : Date.parse(at);
  if (!Number.isFinite(ms)) throw new RuntimeError(ErrorCodes.InvalidQuery, `at must be epoch ms or an ISO-8601 time, got ${JSON.stringify(String(at).slice(0, 64))}`);
  return ms;
}
