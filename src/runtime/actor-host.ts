/**
 * The worker side: hosts the aggregates (actors) of the partitions this worker owns.
 *
 * Each actor has a mailbox; commands for one aggregate run one at a time in arrival order, while many
 * aggregates are in flight at once. The host drains every queued command in one synchronous pass:
 * hydrate (in-memory state, else persisted snapshot + tail, else full fold), decide, evolve, and stage
 * the events for the log. All writes of one pass commit as one batch, then the host waits for the
 * flush and only then replies: acknowledged means durable.
 *
 * This file composes the parts, each in its own module:
 * - mailbox.ts: commands waiting, in arrival order, and each aggregate's bound;
 * - drain-pipeline.ts: when a drain runs, its batch's commit, pipelining, replies in batch order, and
 *   the stop after a storage failure;
 * - command-runner.ts: one command in a drain (idempotency, decide, the plan staged) and its reply,
 *   with append-planner.ts (the pure rules: state, snapshots, retention) and reply-codec.ts (the wire);
 * - plugin-host.ts: the worker plugins (live projections);
 * - served-partitions.ts: in cluster mode, the partitions served and their leases (`acquire`, `lease`,
 *   `revoke` from the main thread's partition group);
 * - here: the actors themselves (hydration, passivation), loads, partition resume, stats and close.
 */
import { getHeapStatistics } from 'node:v8';
import { ErrorCodes, RuntimeError, errors, serializeError, systemClock } from '../kernel/index.js';
import { LmdbLog, openJetStreamLog, type BatchWriter, type EventLog, type JetStreamLog } from '../log/index.js';
import { LIVE, type AnyDecider } from '../domain/index.js';
import { partitionOf } from '../partition/index.js';
import { CommandRunner } from './command-runner.js';
import { loadDeciders } from './domain-registry.js';
import { DrainPipeline } from './drain-pipeline.js';
import { hydrate } from './hydrate.js';
import { versionedLog } from './versioned-log.js';
import { LiveActors, type Actor } from './live-actors.js';
import { Mailbox, actorKey } from './mailbox.js';
import { PageWriter } from './page-writer.js';
import { PluginHost } from './plugin-host.js';
import { errorReply, ReplyKind, type WireReply } from './reply-codec.js';
import { StoppedPartitions } from './stopped-partitions.js';
import { ServedPartitions } from './served-partitions.js';
import { StorageGuard } from './storage-guard.js';
import { canEncode, createDecoder, createEncoder } from './wire.js';
import { Span, disableTrace, enableTrace, spanEnd, spanStart, traceColumnsSince } from './trace.js';
import type { PartitionResumeResult, ActorHostConfig, ActorStats, CommandRequest, FromWorker, LoadedState, Reply, ToWorker } from './protocol.js';

/** Cluster mode: the partitions served, and the JetStream log they are caught up from. */
interface ClusterLog {
  served: ServedPartitions;
  log: JetStreamLog;
}

export class ActorHost {
  readonly #config: ActorHostConfig;
  readonly #log: EventLog;
  readonly #writer: BatchWriter;
  readonly #deciders: Map<string, AnyDecider>;
  readonly #send: (m: FromWorker) => void;
  readonly #owned: Set<number>;
  readonly #actors = new LiveActors();
  readonly #mailbox: Mailbox;
  readonly #stopped: StoppedPartitions;
  readonly #runner: CommandRunner;
  readonly #pipeline: DrainPipeline;
  readonly #plugins: PluginHost;
  /** Cluster mode: what this host serves, and the JetStream log it catches partitions up from. */
  readonly #cluster: ClusterLog | null;
  #sweeper: NodeJS.Timeout | null = null;
  #encoder = createEncoder();
  readonly #decoder = createDecoder();

  private constructor(config: ActorHostConfig, log: EventLog, deciders: Map<string, AnyDecider>, send: (m: FromWorker) => void, cluster: ClusterLog | null = null) {
    this.#config = config;
    this.#cluster = cluster;
    this.#log = log;
    this.#writer = log.openWriter(`actor-host-${config.workerIndex}`, config.ownerEpoch, config.ownedPartitions);
    this.#deciders = deciders;
    this.#send = send;
    this.#owned = new Set(config.ownedPartitions);
    this.#mailbox = new Mailbox(this.#actors, config.mailboxCapacity);
    this.#stopped = new StoppedPartitions(send);
    this.#plugins = new PluginHost(send);
    const pages = new PageWriter();
    this.#runner = new CommandRunner({
      config, log, writer: this.#writer, mailbox: this.#mailbox, actors: this.#actors, pages, stopped: this.#stopped,
      actor: (aggregateType, id) => this.#actor(aggregateType, id),
      sendReplies: (replies) => this.#sendReplies(replies),
      refuse: cluster ? (p) => cluster.served.refusal(p) : undefined,
    });
    this.#pipeline = new DrainPipeline({
      log, writer: this.#writer, mailbox: this.#mailbox, runner: this.#runner, pages, plugins: this.#plugins,
      guard: new StorageGuard(config.dataDir, config.storageReserveBytes), actors: this.#actors, maxLiveActors: config.maxLiveActors, send,
    });
    if (config.idlePassivateMs > 0) {
      this.#sweeper = setInterval(() => this.#passivateIdle(), Math.max(1000, config.idlePassivateMs / 4));
      this.#sweeper.unref();
    }
  }

  /**
   * `shared`: a log this thread already has open (the in-memory log, whose actor hosts run on the main
   * thread: inline-thread.ts); by default the host opens the data dir's LMDB log in its own thread.
   */
  static async start(config: ActorHostConfig, send: (m: FromWorker) => void, shared?: EventLog): Promise<ActorHost> {
    const deciders = await loadDeciders(config.domainModules);
    // Cluster mode: JetStream is the log of record and the data dir its cache, which `open` catches up
    // (every partition) before answering; the leases hook fences each partition's messages.
    const cluster = config.cluster ? await openClusterLog(config) : null;
    // Every read of this host (hydration, retries, the views' catch-up) sees events at the deciders' current
    // versions. A shared log the runtime already wrapped is used as it is (versionedLog is idempotent).
    const log = versionedLog(shared ?? cluster?.log ?? LmdbLog.open(config.dataDir, { partitions: config.totalPartitions, durability: config.durability }), deciders.values());
    const host = new ActorHost(config, log, deciders, send, cluster);
    host.#ownsLog = shared === undefined;
    // An inline host (memory log) records into the main thread's trace, which the runtime reads itself.
    if (config.trace) enableTrace(shared === undefined ? `worker-${config.workerIndex}` : 'main');
    await host.#plugins.load(config.plugins, {
      workerIndex: config.workerIndex,
      ownedPartitions: config.ownedPartitions,
      totalPartitions: config.totalPartitions,
      log,
      // Cluster mode: a partition this host does not write is as far as the cache followed it.
      head: (p) => (!host.#owned.has(p) ? 0 : cluster !== null && !cluster.served.holds(p) ? log.partitionHead(p) : host.#writer.head(p)),
      exclusive: (fn) => host.#pipeline.exclusive(fn),
    });
    send({ kind: 'ready', offsets: host.#heads(), now: performance.now() });
    if (cluster) followAll(cluster, config.totalPartitions, send, host.#plugins);
    return host;
  }

  handle(msg: ToWorker): void {
    switch (msg.kind) {
      case 'commands':
        this.#enqueue(this.#decoder.unpack<CommandRequest[]>(msg.packed));
        return;
      case 'load': {
        const t = spanStart();
        this.#send({ kind: 'loaded', reply: this.#load(msg.rid, msg.aggregateType, msg.id) });
        spanEnd(Span.load, t, 1);
        return;
      }
      case 'stats':
        this.#send({ kind: 'stats', rid: msg.rid, stats: this.stats() });
        return;
      case 'trace':
        this.#send({ kind: 'reply', reply: { rid: msg.rid, ok: true, result: this.#ownsLog ? traceColumnsSince(msg.since) : null } });
        return;
      case 'plugin':
        void this.#plugins.request(msg.rid, msg.plugin, msg.payload);
        return;
      case 'resume':
        void this.#resume(msg.rid, msg.partition);
        return;
      case 'forget':
        void this.#forget(msg.rid, msg.partition);
        return;
      case 'acquire':
        void this.#acquire(msg.rid, msg.partition, msg.epoch, msg.until);
        return;
      case 'lease':
        this.#cluster?.served.renew(msg.partition, msg.epoch, msg.until);
        return;
      case 'revoke':
        void this.#revoke(msg.partition, msg.epoch, msg.rid);
        return;
      case 'close':
        void this.#close();
        return;
    }
  }

  stats(): ActorStats {
    return {
      workerIndex: this.#config.workerIndex,
      liveActors: this.#actors.size,
      queued: this.#mailbox.length,
      offsets: this.#heads(),
      commandsProcessed: this.#runner.commandsProcessed,
      batchesCommitted: this.#pipeline.batchesCommitted,
      heapUsed: getHeapStatistics().used_heap_size,
    };
  }

  #heads(): Record<number, number> {
    return Object.fromEntries(this.#config.ownedPartitions.map((p) => [p, this.#writer.head(p)]));
  }

  /** One `replies` message: command replies always go through this one encoder, in order (wire.ts). */
  #sendReplies(wire: WireReply[]): void {
    let packed: Uint8Array<ArrayBuffer>;
    try {
      packed = this.#encoder.pack(wire);
    } catch {
      // A reply msgpack cannot hold: a decider's evolve made a state with a BigInt past 64 bits, say. The
      // encoder is out of step now (wire.ts): a fresh one, and the main thread is told to start afresh.
      // The replies that cannot be sent say what happened: their events are committed.
      this.#encoder = createEncoder();
      this.#send({ kind: 'replies', packed: this.#encoder.pack(wire.map(sendable)), fresh: true });
      return;
    }
    this.#send({ kind: 'replies', packed });
  }

  #enqueue(batch: CommandRequest[]): void {
    const rejected = this.#mailbox.enqueue(batch);
    if (rejected.length) this.#sendReplies(rejected);
    this.#pipeline.schedule();
  }

  /**
   * An operator's "resume" after repairing the damage that stopped a partition: with no batch in flight,
   * forget every live actor (they re-hydrate from the log as it is now) and read the partition's head
   * again. If the damage is still there, the next command that meets it stops the partition again.
   */
  async #resume(rid: number, partition: number): Promise<void> {
    try {
      if (!this.#owned.has(partition)) throw new RuntimeError(ErrorCodes.Internal, `worker ${this.#config.workerIndex} does not own partition ${partition}`);
      const result = await this.#pipeline.exclusive(async (): Promise<PartitionResumeResult> => {
        const wasStopped = this.#stopped.resume(partition);
        const offset = this.#writer.reloadHead(partition);
        this.#actors.clear();
        return { partition, wasStopped, offset };
      });
      this.#send({ kind: 'reply', reply: { rid, ok: true, result } });
    } catch (err) {
      this.#send({ kind: 'reply', reply: { rid, ok: false, error: serializeError(err) } });
    }
  }

  /**
   * A subject of `partition` was forgotten (runtime `forget`): with no batch in flight (a command decided
   * before the forget has committed, sealed with the old key, and been answered), forget that
   * partition's live actors, whose states hold the subject's plaintext; they re-hydrate with it redacted.
   */
  async #forget(rid: number, partition: number): Promise<void> {
    try {
      await this.#pipeline.exclusive(async () => {
        this.#log.subjectKeys?.refreshReads();
        this.#log.refreshReads();
        this.#actors.dropPartition(partition);
      });
      this.#send({ kind: 'reply', reply: { rid, ok: true, result: null } });
    } catch (err) {
      this.#send({ kind: 'reply', reply: { rid, ok: false, error: serializeError(err) } });
    }
  }

  /**
   * Cluster mode: this node took `partition` with `epoch`. Catch its cache up from the log of record
   * (another node may have written it since the follower last applied) and confirm the stream's tip
   * (JetStreamLog.confirmTip: a stale stream-info answer must not let it serve short), read the writer's
   * head again, forget its
   * actors (they re-hydrate from what was caught up), and only then serve it. No drain pauses for it: the
   * partition has no command staged (it is not served), and the catch-up is queued after this log's own
   * batches (JetStreamLog.catchUp). A revoke meanwhile wins: the partition is then not served.
   */
  async #acquire(rid: number, partition: number, epoch: number, until: number): Promise<void> {
    try {
      const cluster = this.#cluster;
      if (cluster === null) throw new RuntimeError(ErrorCodes.Internal, `worker ${this.#config.workerIndex} is not a cluster node`);
      cluster.served.acquire(partition, epoch, until);
      // Stops following it, catches up from where the follower was, and appends a takeover marker
      // conditional on that tip: served only once the log of record confirmed the cache holds all of it.
      await cluster.log.confirmTip(partition, () => cluster.served.heldEpoch(partition, epoch));
      const offset = this.#writer.reloadHead(partition);
      this.#actors.dropPartition(partition);
      const wasStopped = this.#stopped.resume(partition);
      if (!cluster.served.serve(partition, epoch)) throw new RuntimeError(ErrorCodes.NotOwner, `partition ${partition} was revoked while it caught up`, { partition }, true);
      this.#send({ kind: 'reply', reply: { rid, ok: true, result: { partition, wasStopped, offset } satisfies PartitionResumeResult } });
    } catch (err) {
      this.#send({ kind: 'reply', reply: { rid, ok: false, error: serializeError(err) } });
    }
  }

  /**
   * Cluster mode: stop serving `partition` at once (commands queued for it, and new ones, are refused by
   * the runner from now on) and forget its live actors, so a later acquire hydrates them from the caught-up
   * cache. A handover (`rid` given) keeps the lease until the batches in flight are through: they were
   * decided under it, and a lease dropped under them would fence them (and stop the whole log).
   */
  async #revoke(partition: number, epoch: number, rid: number | undefined): Promise<void> {
    const served = this.#cluster?.served;
    if (served === undefined) return;
    this.#actors.dropPartition(partition);
    if (rid === undefined) {
      served.revoke(partition, epoch);
      return this.#followIfFree(partition);
    }
    served.drain(partition, epoch);
    try {
      await this.#pipeline.exclusive(async () => undefined);
    } finally {
      served.revoke(partition, epoch);
      this.#followIfFree(partition);
      this.#send({ kind: 'reply', reply: { rid, ok: true, result: null } });
    }
  }

  /** Cluster mode: follows `partition` again once this host holds no lease on it (another node writes it). */
  #followIfFree(partition: number): void {
    const cluster = this.#cluster;
    // The log starts following once this host's batches handed over before are through (jetstream-log.ts).
    if (cluster !== null && !cluster.served.holds(partition)) cluster.log.follow(partition);
  }

  // ------------------------------------------------------------ actors

  /** The live actor of an aggregate, hydrated from the log first if it has none. */
  #actor(aggregateType: string, id: string): Actor {
    const live = this.#actors.get(aggregateType, id);
    // Outside a drain (a load) the clock is read here; inside, once per drain.
    const inPass = this.#pipeline.inPass;
    const now = inPass ? this.#pipeline.clock : systemClock.now();
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
    const t = spanStart();
    const h = hydrate(this.#log, decider, aggregateType, id);
    spanEnd(Span.hydrate, t, h.version);
    // Only of a live stream: a snapshot is read as one (domain/stream-lifecycle.ts, Gotchas).
    if (h.staleSnapshot && h.life === LIVE && h.version >= this.#config.snapshotEvery && this.#config.snapshotEvery > 0) {
      // The decider changed its state shape: persist a fresh snapshot so the next cold load is fast again.
      const ts = spanStart();
      const write = this.#writer.stageSnapshot(aggregateType, id, { version: h.version, snapshotVersion: decider.snapshotVersion, state: h.state, ts: h.ts });
      spanEnd(Span.snapshot, ts, 1);
      if (inPass) this.#pipeline.stage(write);
      // Derived data: skipped while writes are refused, so a load never fails for want of it.
      else if (!this.#pipeline.writeFailure && !this.#log.failure) this.#writer.commit([write]).catch(() => undefined);
    }
    const key = actorKey(aggregateType, id);
    const actor: Actor = {
      key, aggregateType, id, partition, decider,
      state: h.state, version: h.version, lastTs: h.ts, life: h.life,
      durableState: h.state, durableVersion: h.version, durableLife: h.life,
      queued: this.#mailbox.adopt(key), lastUsed: now, referenced: false,
    };
    this.#actors.add(actor);
    return actor;
  }

  #load(rid: number, aggregateType: string, id: string): Reply<LoadedState> {
    try {
      const refused = this.#cluster?.served.refusal(partitionOf(id, this.#config.totalPartitions));
      if (refused) throw refused;
      const a = this.#actor(aggregateType, id);
      return { rid, ok: true, result: a.durableLife === LIVE ? { version: a.durableVersion, state: a.durableState } : { version: a.durableVersion, state: null, life: a.durableLife } };
    } catch (err) {
      return { rid, ok: false, error: serializeError(err) };
    }
  }

  /** False for a log this thread shares with the runtime (see `start`). */
  #ownsLog = true;

  #passivateIdle(): void {
    if (this.#pipeline.inFlight > 0) return;
    const t = spanStart();
    spanEnd(Span.passivate, t, this.#actors.passivateIdle(systemClock.now() - this.#config.idlePassivateMs));
  }

  async #close(): Promise<void> {
    this.#mailbox.close();
    if (this.#sweeper) clearInterval(this.#sweeper);
    await this.#pipeline.finish();
    await this.#plugins.close();
    // A shared log is the runtime's to close.
    if (this.#ownsLog) await this.#log.close();
    if (this.#config.trace) disableTrace();
    this.#send({ kind: 'closed' });
  }
}

/** Cluster mode's log: JetStream, with `dataDir` as its cache and the served partitions' leases as its fencing. */
async function openClusterLog(config: ActorHostConfig): Promise<ClusterLog> {
  const c = config.cluster!;
  const served = new ServedPartitions();
  const log = await openJetStreamLog({
    servers: c.servers,
    name: c.logName,
    partitions: config.totalPartitions,
    replicas: c.replicas,
    localDir: config.dataDir,
    durability: config.durability,
    leases: served,
  });
  return { served, log };
}

/**
 * Cluster mode: follows every partition (this host serves none yet; each acquire stops following its
 * partition) and tells the main thread of every batch applied from the log of record, so that its
 * subscribers (the feed) see every partition's events, in offset order (protocol.ts, `applied`), and
 * the worker plugins (the projection engine: views on every node).
 */
function followAll(cluster: ClusterLog, partitions: number, send: (m: FromWorker) => void, plugins: PluginHost): void {
  cluster.log.onApplied((partition, from, to) => {
    send({ kind: 'applied', partition, from, to, lag: cluster.log.followLag(partition) });
    // The projection engine's views catch up from the cache, so every node's views hold every partition.
    plugins.followed(partition, to);
  });
  cluster.log.onFollowFailed((partition, err) => send({ kind: 'follow-failed', partition, error: serializeError(err) }));
  cluster.log.onFollowRecovered((partition) => send({ kind: 'follow-recovered', partition }));
  for (let p = 0; p < partitions; p++) if (!cluster.served.holds(p)) cluster.log.follow(p);
}

/** `reply` if it can be packed; otherwise an error that says the command committed, and at which version. */
function sendable(reply: WireReply): WireReply {
  if (canEncode(reply)) return reply;
  const version = reply[1] === ReplyKind.Full ? reply[2].version : reply[1] === ReplyKind.Error ? undefined : reply[2];
  return errorReply(reply[0], new RuntimeError(ErrorCodes.DeciderFailed, `the command's events are committed${version === undefined ? '' : ` (the stream is at version ${version})`}, but its reply cannot be sent: the decider's evolve made a state that cannot be encoded (a BigInt past 64 bits, a symbol?)`, { committed: true, ...(version === undefined ? {} : { version }) }));
}
