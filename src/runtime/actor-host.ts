/**
 * The worker side: hosts the aggregates (actors) of the partitions this worker owns.
 *
 * Each actor has a mailbox; commands for one aggregate run one at a time in arrival order, while many
 * aggregates are in flight at once. The host drains every queued command in one synchronous pass:
 * hydrate (in-memory state, else persisted snapshot + tail, else full fold), decide, evolve, and queue
 * the events into the log. All writes of one pass land in one LMDB transaction (lmdb-js batches an event
 * turn), then the host waits for the flush and only then replies: acknowledged means durable.
 *
 * Why drains are pipelined, and why that is safe: while batch N waits for its flush (the disk), batch
 * N+1 is decided and queued, so the CPU and the disk work at once (up to PIPELINE_DEPTH batches in
 * flight). A later batch must never commit when an earlier one failed, or its seqs would follow events
 * that do not exist: each batch is chained to the previous one inside LMDB (EventLog.startWriteChain),
 * so a failed batch makes every later one fail too, and the host then stops (fatal). Replies leave in
 * batch order, each only once its own batch is durable.
 *
 * Pages: when a command completes a page of EVENT_PAGE events of its stream, the page is written by a
 * later drain, once the events are durable (page-writer.ts); hydration then folds whole pages.
 *
 * Why two states per actor: `state`/`version` run ahead while a batch is being committed (the next
 * command of the same pass decides on them); `durable*` is what readers may see. A failed commit drops
 * the actor, which then re-hydrates from the log.
 *
 * After a storage failure (a failed commit, or a batch refused by the free-space reserve) this host
 * never writes again: its offsets, chain and pages already count the failed batch. Reads (loads) keep
 * being served from the log. Writes resume in a fresh host (runtime/storage-recovery.ts restarts it).
 */
import { DomainError, ErrorCodes, RuntimeError, errors, serializeError, type EventEnvelope } from '../kernel/index.js';
import { LmdbLog, refusedAfter, type BatchWriter, type EventLog, type Staged } from '../log/index.js';
import type { AnyDecider } from '../domain/index.js';
import { partitionOf } from '../partition/index.js';
import { loadDeciders } from './domain-registry.js';
import { hydrate } from './hydrate.js';
import { versionedLog } from './versioned-log.js';
import { LiveActors, type Actor } from './live-actors.js';
import { PageWriter } from './page-writer.js';
import { commandDigest } from './command-digest.js';
import { StorageGuard } from './storage-guard.js';
import { createDecoder, createEncoder } from './wire.js';
import type { WorkerPlugin, WorkerPluginContext, WorkerPluginFactory } from './worker-plugin.js';
import { metaOf, withSchemaVersions, type PartitionResumeResult, type ActorHostConfig, type ActorStats, type CommandRequest, type CommandResult, type FromWorker, type Reply, type ToWorker, type WireReply } from './protocol.js';

interface PendingReply {
  rid: number;
  actor: Actor | null;
  result?: CommandResult;
  error?: RuntimeError;
  /** A retry of a command in a batch not yet durable: answered with the first one's result. */
  sameAs?: PendingReply;
  /** Set when this command registered its commandId in `#inflightCommands`. */
  commandKey?: string;
  /** The command's digest (commands with a commandId only): a retry must carry the same command. */
  digest?: string;
}

/**
 * Commands per drain (one transaction). Large, because a drain's cost is mostly per command while the
 * flush is per drain; bounded, so one drain's replies stay a reasonable single message.
 */
const MAX_BATCH = 32_768;

/** Batches decided and queued but not yet durable. Two overlap CPU and flush; more only adds latency. */
const PIPELINE_DEPTH = 2;

export class ActorHost {
  readonly #config: ActorHostConfig;
  readonly #log: EventLog;
  readonly #writer: BatchWriter;
  readonly #deciders: Map<string, AnyDecider>;
  readonly #send: (m: FromWorker) => void;
  readonly #owned: Set<number>;
  readonly #actors = new LiveActors();
  readonly #pages = new PageWriter();
  /** Drains started so far, and the last one whose batch is durable (drains become durable in order). */
  #drainNo = 0;
  #durableDrain = 0;
  /** Date.now() of the current drain: one clock read per drain. */
  #drainClock = 0;
  readonly #queue: CommandRequest[] = [];
  /** While > 0, no drain starts (a plugin's exclusive section). */
  #paused = 0;
  /** Batches queued to LMDB and not yet answered. */
  #inFlight = 0;
  /** True while a drain runs its deciders (synchronously). */
  #inPass = false;
  /** Answers of the previous batch: the next one replies only after it (batch order). */
  #previousBatch: Promise<void> = Promise.resolve();
  /** Commands with a commandId in batches not yet durable: a retry joins the first one's answer. */
  readonly #inflightCommands = new Map<string, PendingReply>();
  #scheduled = false;
  #closing = false;
  #onIdle: (() => void) | null = null;
  #sweeper: NodeJS.Timeout | null = null;
  #commandsProcessed = 0;
  #batchesCommitted = 0;
  #plugins: WorkerPlugin[] = [];
  readonly #guard: StorageGuard;
  /** The first storage failure of this host: every later write is refused (see the header). */
  #writeFailure: RuntimeError | null = null;
  /** What the current drain's commands will write, in order; queued into LMDB after the last decide. */
  #staged: Staged[] = [];
  readonly #encoder = createEncoder();
  readonly #decoder = createDecoder();

  private constructor(config: ActorHostConfig, log: EventLog, deciders: Map<string, AnyDecider>, send: (m: FromWorker) => void) {
    this.#config = config;
    this.#log = log;
    this.#writer = log.openWriter(`actor-host-${config.workerIndex}`, config.ownerEpoch, config.ownedPartitions);
    this.#deciders = deciders;
    this.#send = send;
    this.#owned = new Set(config.ownedPartitions);
    this.#guard = new StorageGuard(config.dataDir, config.storageReserveBytes);
    if (config.idlePassivateMs > 0) {
      this.#sweeper = setInterval(() => this.#passivateIdle(), Math.max(1000, config.idlePassivateMs / 4));
      this.#sweeper.unref();
    }
  }

  static async start(config: ActorHostConfig, send: (m: FromWorker) => void): Promise<ActorHost> {
    const deciders = await loadDeciders(config.domainModules);
    // Every read of this worker (hydration, retries, the views' catch-up) sees events at the deciders' current versions.
    const log = versionedLog(LmdbLog.open(config.dataDir, { partitions: config.totalPartitions, durability: config.durability }), deciders.values());
    const host = new ActorHost(config, log, deciders, send);
    for (const spec of config.plugins) {
      const factory = ((await import(spec.module)) as { default: WorkerPluginFactory }).default;
      let self: WorkerPlugin | undefined;
      const ctx = { ...host.#pluginContext(), emit: (payload: unknown) => send({ kind: 'plugin-event', plugin: self?.name ?? spec.module, payload }) };
      self = await factory(ctx, spec.options);
      host.#plugins.push(self);
    }
    send({ kind: 'ready', offsets: host.#heads() });
    return host;
  }

  handle(msg: ToWorker): void {
    switch (msg.kind) {
      case 'commands':
        this.#enqueue(this.#decoder.unpack<CommandRequest[]>(msg.packed));
        return;
      case 'load':
        this.#send({ kind: 'loaded', reply: this.#load(msg.rid, msg.aggregateType, msg.id) });
        return;
      case 'stats':
        this.#send({ kind: 'stats', rid: msg.rid, stats: this.stats() });
        return;
      case 'plugin':
        void this.#pluginRequest(msg.rid, msg.plugin, msg.payload);
        return;
      case 'resume':
        void this.#resume(msg.rid, msg.partition);
        return;
      case 'close':
        void this.#close();
        return;
    }
  }

  #pluginContext(): WorkerPluginContext {
    return {
      workerIndex: this.#config.workerIndex,
      ownedPartitions: this.#config.ownedPartitions,
      totalPartitions: this.#config.totalPartitions,
      log: this.#log,
      head: (p) => (this.#owned.has(p) ? this.#writer.head(p) : 0),
      emit: () => undefined, // each plugin gets its own emitter in start()
      exclusive: (fn) => this.#exclusive(fn),
    };
  }

  /** Holds drains for the duration of `fn`, after letting every in-flight batch finish. */
  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.#paused++;
    try {
      while (this.#inFlight > 0 || this.#scheduled) await new Promise<void>((resolve) => setImmediate(resolve));
      return await fn();
    } finally {
      this.#paused--;
      this.#schedule();
    }
  }

  async #pluginRequest(rid: number, name: string, payload: unknown): Promise<void> {
    try {
      const plugin = this.#plugins.find((p) => p.name === name);
      if (!plugin?.onRequest) throw new RuntimeError(ErrorCodes.NotFound, `no worker plugin ${JSON.stringify(name)}`);
      const result = await plugin.onRequest(payload);
      this.#send({ kind: 'reply', reply: { rid, ok: true, result } });
    } catch (err) {
      this.#send({ kind: 'reply', reply: { rid, ok: false, error: serializeError(err) } });
    }
  }

  /** Once per durable batch that was committed (so exactly once per `onBatchEnd`), in batch order. */
  #notifyPlugins(heads: Map<number, number>): void {
    this.#callPlugins((p) => p.onCommitted?.(heads));
  }

  /** `onAppend` for one command's events (the hot path: no closure per command). */
  #appendToPlugins(events: readonly EventEnvelope[]): void {
    for (const p of this.#plugins) {
      if (!p.onAppend) continue;
      try {
        p.onAppend(events);
      } catch (err) {
        this.#send({ kind: 'plugin-event', plugin: p.name, payload: { type: 'plugin-error', error: serializeError(err) } });
      }
    }
  }

  /** A plugin's bug must never fail a command or a commit: it is reported to the main thread instead. */
  #callPlugins(call: (p: WorkerPlugin) => void): void {
    for (const p of this.#plugins) {
      try {
        call(p);
      } catch (err) {
        this.#send({ kind: 'plugin-event', plugin: p.name, payload: { type: 'plugin-error', error: serializeError(err) } });
      }
    }
  }

  stats(): ActorStats {
    return {
      workerIndex: this.#config.workerIndex,
      liveActors: this.#actors.size,
      queued: this.#queue.length,
      offsets: this.#heads(),
      commandsProcessed: this.#commandsProcessed,
      batchesCommitted: this.#batchesCommitted,
    };
  }

  #heads(): Record<number, number> {
    return Object.fromEntries(this.#config.ownedPartitions.map((p) => [p, this.#writer.head(p)]));
  }

  #sendReplies(wire: WireReply[]): void {
    this.#send({ kind: 'replies', packed: this.#encoder.pack(wire) });
  }

  // ------------------------------------------------------------ mailbox

  #enqueue(batch: CommandRequest[]): void {
    const rejected: WireReply[] = [];
    for (const req of batch) {
      if (this.#closing) {
        rejected.push([req.rid, 0, serializeError(errors.closed())]);
        continue;
      }
      const actor = this.#actors.get(req.aggregateType, req.id);
      const key = actor ? actor.key : actorKey(req.aggregateType, req.id);
      const queued = actor ? actor.queued : (this.#pendingNew.get(key) ?? 0);
      if (queued >= this.#config.mailboxCapacity) {
        rejected.push([req.rid, 0, serializeError(errors.overloaded(`the mailbox of ${req.aggregateType} ${req.id}`, 100))]);
        continue;
      }
      if (actor) actor.queued++;
      else this.#pendingNew.set(key, (this.#pendingNew.get(key) ?? 0) + 1);
      this.#queue.push(req);
    }
    if (rejected.length) this.#sendReplies(rejected);
    this.#schedule();
  }

  /**
   * Invariant 8: a record that fails its checksum stops its partition. Replaying past it could fold a
   * damaged event into state and then write on top of it; so every later command of the partition fails
   * with the same error (naming the record) until an operator restores the data dir.
   */
  readonly #stopped = new Map<number, RuntimeError>();

  /** Stops the partition (once) and answers the error its commands now get. */
  #stopPartition(partition: number, err: RuntimeError): RuntimeError {
    const already = this.#stopped.get(partition);
    if (already) return already;
    const stopped = new RuntimeError(err.code, `partition ${partition} is stopped: ${err.message}`, { ...err.details, partition });
    this.#stopped.set(partition, stopped);
    this.#send({ kind: 'partition-stopped', partition, error: serializeError(stopped) });
    return stopped;
  }

  /**
   * An operator's "resume" after repairing the damage that stopped a partition: with no batch in flight,
   * forget every live actor (they re-hydrate from the log as it is now) and read the partition's head
   * again. If the damage is still there, the next command that meets it stops the partition again.
   */
  async #resume(rid: number, partition: number): Promise<void> {
    try {
      if (!this.#owned.has(partition)) throw new RuntimeError(ErrorCodes.Internal, `worker ${this.#config.workerIndex} does not own partition ${partition}`);
      const result = await this.#exclusive(async (): Promise<PartitionResumeResult> => {
        const wasStopped = this.#stopped.delete(partition);
        const offset = this.#writer.reloadHead(partition);
        this.#actors.clear();
        return { partition, wasStopped, offset };
      });
      this.#send({ kind: 'reply', reply: { rid, ok: true, result } });
    } catch (err) {
      this.#send({ kind: 'reply', reply: { rid, ok: false, error: serializeError(err) } });
    }
  }

  /** Mailbox depth of aggregates that are queued but not hydrated yet. */
  readonly #pendingNew = new Map<string, number>();

  #schedule(): void {
    if (this.#scheduled || this.#paused > 0 || this.#inFlight >= PIPELINE_DEPTH || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    if (this.#paused > 0 || this.#inFlight >= PIPELINE_DEPTH || this.#queue.length === 0) return;
    this.#inFlight++;
    const n = Math.min(this.#queue.length, MAX_BATCH);
    const batch = this.#queue.splice(0, n);
    const pending: PendingReply[] = [];
    this.#staged = [];
    const drainNo = ++this.#drainNo;
    this.#drainClock = Date.now();
    this.#inPass = true;
    for (const req of batch) pending.push(this.#process(req));
    this.#inPass = false;
    // Pages completed by earlier, now durable drains join this transaction (see page-writer.ts).
    for (const page of this.#pages.stageDurable(this.#log, this.#writer, this.#durableDrain)) this.#staged.push(page);
    // Every decider of the drain has run: only now queue the writes (see EventLog.commit for why).
    const staged = this.#staged;
    this.#staged = [];
    let failure: RuntimeError | null = null;
    let done: Promise<unknown> | null = null;
    if (staged.length > 0) {
      try {
        if (this.#writeFailure) throw refusedAfter(this.#writeFailure);
        this.#guard.check(this.#drainClock);
        // Plugins (live projections) write inside the same transaction, and under the same chain guard.
        done = this.#writer.commit(
          staged,
          () => {
            for (const s of staged) if (s.events) this.#appendToPlugins(s.events);
            this.#callPlugins((p) => p.onBatchEnd?.());
          },
        );
      } catch (err) {
        // The log refuses writes (it failed earlier): every command of this drain fails with that reason.
        failure = RuntimeError.is(err) ? err : new RuntimeError(ErrorCodes.StorageFailed, String(err));
      }
    }
    // The next batch may be decided while this one flushes.
    this.#schedule();
    const previous = this.#previousBatch;
    let finish!: () => void;
    this.#previousBatch = new Promise<void>((resolve) => (finish = resolve));
    try {
      if (done) {
        try {
          await done;
          this.#batchesCommitted++;
        } catch (err) {
          failure = RuntimeError.is(err) ? err : new RuntimeError(ErrorCodes.StorageFailed, String(err));
        }
      }
      await previous;
      if (failure === null && this.#log.failure) failure = this.#log.failure;
      if (failure === null) this.#durableDrain = drainNo;
      this.#reply(pending, failure);
      if (done && !failure) this.#notifyPlugins(headsOf(pending));
      if (failure && !this.#writeFailure) {
        this.#writeFailure = failure;
        this.#send({ kind: 'fatal', error: serializeError(failure) });
      }
    } finally {
      finish();
      this.#inFlight--;
    }
    this.#evictOverflow();
    if (this.#queue.length) this.#schedule();
    else if (this.#inFlight === 0 && this.#onIdle) this.#onIdle();
  }

  #process(req: CommandRequest): PendingReply {
    const out: PendingReply = { rid: req.rid, actor: null };
    this.#commandsProcessed++;
    let actor: Actor;
    try {
      if (this.#stopped.size > 0) {
        const stopped = this.#stopped.get(partitionOf(req.id, this.#config.totalPartitions));
        if (stopped) throw stopped;
      }
      actor = this.#actor(req.aggregateType, req.id);
    } catch (err) {
      this.#dequeued(actorKey(req.aggregateType, req.id));
      const partition = partitionOf(req.id, this.#config.totalPartitions);
      // Damage arrives as CorruptRecord/CorruptLog: EventLog maps LMDB's own codes on every read.
      out.error = RuntimeError.is(err) ? err : new RuntimeError(ErrorCodes.Internal, String(err));
      if (RuntimeError.is(err, ErrorCodes.CorruptRecord) || RuntimeError.is(err, ErrorCodes.CorruptLog)) out.error = this.#stopPartition(partition, err);
      return out;
    }
    out.actor = actor;
    actor.queued = Math.max(0, actor.queued - 1);
    try {
      if (req.commandId !== undefined) {
        out.digest = commandDigest(req.command);
        const same = this.#inflightCommands.get(actor.key + '\u0000' + req.commandId);
        if (same) {
          if (same.digest !== out.digest) throw keyReused(actor, req.commandId);
          out.sameAs = same;
          return out;
        }
        const seen = this.#log.findCommand(actor.aggregateType, actor.id, req.commandId);
        if (seen) {
          // Records written before digests were stored carry none: those retries are trusted as before.
          if (seen.digest !== undefined && seen.digest !== out.digest) throw keyReused(actor, req.commandId);
          out.result = this.#replayResult(actor, seen.first, seen.last);
          return out;
        }
      }
      if (req.expectedVersion !== undefined && req.expectedVersion !== actor.version) {
        throw errors.versionConflict(req.expectedVersion, actor.version);
      }
      out.result = this.#decideAndAppend(actor, req, out.digest);
      if (req.commandId !== undefined) {
        out.commandKey = actor.key + '\u0000' + req.commandId;
        this.#inflightCommands.set(out.commandKey, out);
      }
    } catch (err) {
      // Only our own errors and domain rejections pass through; anything else a decider throws (a bug,
      // or a Node error whose `code` means nothing to callers, like ENOENT) is DeciderFailed.
      out.error =
        err instanceof RuntimeError || DomainError.isDomain(err)
          ? (err as RuntimeError)
          : new RuntimeError(ErrorCodes.DeciderFailed, `the ${actor.aggregateType} decider threw: ${(err as Error)?.message ?? String(err)}`);
      // A position found taken, or damage met on the way (invariant 10): nothing more is written there.
      if (out.error.code === ErrorCodes.CorruptRecord || out.error.code === ErrorCodes.CorruptLog) out.error = this.#stopPartition(actor.partition, out.error);
    }
    return out;
  }

  #decideAndAppend(actor: Actor, req: CommandRequest, digest: string | undefined): CommandResult {
    const now = Math.max(req.now, actor.lastTs);
    const decided = actor.decider.decide(req.command, actor.state, { now, id: actor.id, version: actor.version });
    if (!Array.isArray(decided)) throw new RuntimeError(ErrorCodes.DeciderFailed, `the ${actor.aggregateType} decider returned no event array`);
    // Fold first, assign offsets after: an `evolve` that throws must not burn partition offsets.
    // Snapshots sit at exact multiples of `snapshotEvery`, even inside a multi-event command, so their
    // versions are known without a read (retention below depends on it).
    const every = this.#config.snapshotEvery;
    let state = actor.state;
    let v = actor.version;
    let snapshots: { version: number; state: unknown }[] | null = null;
    for (const e of decided) {
      state = actor.decider.evolve(state, e);
      if (every > 0 && ++v % every === 0) (snapshots ??= []).push({ version: v, state });
    }
    const meta = req.commandId === undefined && req.correlationId === undefined && req.causationId === undefined ? NO_META : metaOf(req);
    let events: EventEnvelope[] = NO_EVENTS;
    if (decided.length > 0) {
      // The writer assigns positions; encoding may throw (data msgpack cannot hold): the command fails before anything is staged.
      const staged = this.#writer.stageAppend({
        aggregateType: actor.aggregateType, stream: actor.id, partition: actor.partition, expectedVersion: actor.version,
        events: decided, ts: now, meta, ...(req.commandId !== undefined ? { commandId: req.commandId } : {}), ...(digest !== undefined ? { digest } : {}),
      });
      this.#staged.push(staged);
      // The writer's own array, handed over: nothing else keeps it.
      events = staged.events as EventEnvelope[];
      this.#pages.note(events, this.#drainNo);
      actor.state = state;
      actor.version += events.length;
      actor.lastTs = now;
      if (snapshots) {
        for (const s of snapshots) {
          this.#staged.push(this.#writer.stageSnapshot(actor.aggregateType, actor.id, { version: s.version, snapshotVersion: actor.decider.snapshotVersion, state: s.state, ts: now }));
          this.#thinSnapshots(actor, s.version / every);
        }
      }
    }
    return { version: actor.version, events, state };
  }

  /**
   * Retention: the newest ten snapshots stay; older ones only when their interval index is a multiple of
   * `snapshotThinning`. Snapshots sit at exact multiples of snapshotEvery, so writing snapshot number
   * `index` decides the fate of number `index - 10` by arithmetic alone: O(1), no read, and right even
   * when one batch writes many snapshots of a stream.
   */
  #thinSnapshots(actor: Actor, index: number): void {
    const n = this.#config.snapshotThinning;
    const leaving = index - 10;
    if (n <= 1 || leaving < 1 || leaving % n === 0) return;
    this.#staged.push(this.#writer.stageSnapshotRemoval(actor.aggregateType, actor.id, leaving * this.#config.snapshotEvery));
  }

  /** The answer to a command seen before: its events, and the state right after them. */
  #replayResult(actor: Actor, first: number, last: number): CommandResult {
    const events = this.#log.readStream(actor.aggregateType, actor.id, first, last - first + 1);
    return { version: last, events, state: this.#stateAt(actor, last), duplicate: true };
  }

  #stateAt(actor: Actor, version: number): unknown {
    if (version === actor.durableVersion) return actor.durableState;
    return hydrate(this.#log, actor.decider, actor.aggregateType, actor.id, version).state;
  }

  #reply(pending: PendingReply[], failure: RuntimeError | null): void {
    const replies: WireReply[] = [];
    for (const p of pending) {
      if (p.commandKey !== undefined && this.#inflightCommands.get(p.commandKey) === p) this.#inflightCommands.delete(p.commandKey);
      const src = p.sameAs ?? p;
      const result = src.result;
      const err = src.error ?? (failure && result && !result.duplicate ? failure : null);
      if (err) replies.push([p.rid, 0, serializeError(err)]);
      else if (result) {
        const first = result.events[0];
        if (p.sameAs || result.duplicate || !first) {
          replies.push([p.rid, 2, p.sameAs ? { ...result, duplicate: true } : result]);
          continue;
        }
        if (result.events.length === 1) replies.push(withSchemaVersions([p.rid, 3, result.version, result.state, first.ts, first.partition, first.offset, first.type, first.data], result.events));
        else replies.push(withSchemaVersions([p.rid, 1, result.version, result.state, first.ts, first.partition, first.offset, result.events.map(typeOf), result.events.map(dataOf)], result.events));
        // What readers may see now: the state right after this command (a later batch may run ahead).
        if (p.actor && result.version > p.actor.durableVersion) {
          p.actor.durableState = result.state;
          p.actor.durableVersion = result.version;
        }
      }
    }
    // A failed batch: later batches fail too (chained), so forget every actor; they re-hydrate from the log.
    if (failure) this.#actors.clear();
    if (replies.length) this.#sendReplies(replies);
  }

  // ------------------------------------------------------------ actors

  #actor(aggregateType: string, id: string): Actor {
    const live = this.#actors.get(aggregateType, id);
    // Outside a drain (a load) the clock is read here; inside, once per drain.
    const now = this.#inPass ? this.#drainClock : Date.now();
    if (live) {
      live.lastUsed = now;
      live.referenced = true;
      return live;
    }
    const decider = this.#deciders.get(aggregateType);
    if (!decider) throw errors.unknownAggregateType(aggregateType);
    const partition = partitionOf(id, this.#config.totalPartitions);
    if (!this.#owned.has(partition)) {
      throw new RuntimeError(ErrorCodes.Internal, `worker ${this.#config.workerIndex} got ${aggregateType} ${id} of partition ${partition}, which it does not own`);
    }
    const h = hydrate(this.#log, decider, aggregateType, id);
    if (h.staleSnapshot && h.version >= this.#config.snapshotEvery && this.#config.snapshotEvery > 0) {
      // The decider changed its state shape: persist a fresh snapshot so the next cold load is fast again.
      const write = this.#writer.stageSnapshot(aggregateType, id, { version: h.version, snapshotVersion: decider.snapshotVersion, state: h.state, ts: h.ts });
      if (this.#inPass) this.#staged.push(write);
      // Derived data: skipped while writes are refused, so a load never fails for want of it.
      else if (!this.#writeFailure && !this.#log.failure) this.#writer.commit([write]).catch(() => undefined);
    }
    const key = actorKey(aggregateType, id);
    const queued = this.#pendingNew.get(key) ?? 0;
    this.#pendingNew.delete(key);
    const actor: Actor = {
      key, aggregateType, id, partition, decider,
      state: h.state, version: h.version, lastTs: h.ts,
      durableState: h.state, durableVersion: h.version,
      queued, lastUsed: now, referenced: false,
    };
    this.#actors.add(actor);
    return actor;
  }

  #dequeued(key: string): void {
    const n = this.#pendingNew.get(key);
    if (n === undefined) return;
    if (n <= 1) this.#pendingNew.delete(key);
    else this.#pendingNew.set(key, n - 1);
  }

  #load(rid: number, aggregateType: string, id: string): Reply<{ version: number; state: unknown }> {
    try {
      const a = this.#actor(aggregateType, id);
      return { rid, ok: true, result: { version: a.durableVersion, state: a.durableState } };
    } catch (err) {
      return { rid, ok: false, error: serializeError(err) };
    }
  }

  #evictOverflow(): void {
    if (this.#actors.size > this.#config.maxLiveActors) this.#actors.evictOverflow(this.#config.maxLiveActors);
  }

  #passivateIdle(): void {
    if (this.#inFlight === 0) this.#actors.passivateIdle(Date.now() - this.#config.idlePassivateMs);
  }

  async #close(): Promise<void> {
    this.#closing = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    if (this.#inFlight > 0 || this.#queue.length || this.#scheduled) {
      await new Promise<void>((resolve) => (this.#onIdle = resolve));
    }
    // Pages still waiting: their drains are durable by now. Derived data: a failure here loses nothing.
    try {
      const pages = this.#writeFailure ? [] : this.#pages.stageDurable(this.#log, this.#writer, this.#durableDrain, Number.MAX_SAFE_INTEGER);
      if (pages.length) await this.#writer.commit(pages);
    } catch {
      // the events are in the log; hydration reads them one by one
    }
    for (const p of this.#plugins) await p.close?.();
    await this.#log.close();
    this.#send({ kind: 'closed' });
  }
}

function headsOf(pending: PendingReply[]): Map<number, number> {
  const heads = new Map<number, number>();
  for (const p of pending) {
    const events = p.sameAs || p.result?.duplicate ? undefined : p.result?.events;
    const last = events?.[events.length - 1];
    if (last && (heads.get(last.partition) ?? -1) < last.offset + 1) heads.set(last.partition, last.offset + 1);
  }
  return heads;
}

const typeOf = (e: EventEnvelope): string => e.type;
const dataOf = (e: EventEnvelope): unknown => e.data;

/** The events of a command that decided none: shared, never mutated. */
const NO_EVENTS = Object.freeze([]) as unknown as EventEnvelope[];

/** The metadata of events whose command carried no ids: shared, never mutated (worker-internal). */
const NO_META = Object.freeze({});

function keyReused(actor: Actor, commandId: string): RuntimeError {
  return new RuntimeError(
    ErrorCodes.IdempotencyKeyReused,
    `commandId ${JSON.stringify(commandId)} was already used on ${actor.aggregateType} ${actor.id} with a different command; send a new commandId for a new command`,
    { commandId },
  );
}

function actorKey(aggregateType: string, id: string): string {
  return aggregateType + '\u0000' + id;
}

