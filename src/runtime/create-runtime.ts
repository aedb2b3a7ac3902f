/**
 * `createRuntime()`: the embedded API (its types: runtime-api.ts), composed from modules with one job each:
 * - command-validation.ts checks a command on the main thread and makes the request a worker runs;
 * - worker-slot.ts routes it to the worker that owns the aggregate's partition and supervises that worker;
 * - state-cache.ts answers a plain `load` from the last acknowledged state this thread saw; log-loads.ts
 *   answers a miss from the log on this thread (the owning worker only when the stream has a command in
 *   flight or its partition is not steady); read-freshness.ts says when this thread's reads must renew
 *   their snapshot to see every acknowledged commit;
 * - time-machine.ts answers version/at loads, diffs and history from the log (lock-free LMDB readers that
 *   see every acknowledged commit), within the streams' retention cuts (retention.ts; settings stored by
 *   retention-settings.ts);
 * - cluster-node.ts (cluster mode) makes this runtime one node of a partition group: the worker serves
 *   only the partitions the group holds leases for, and every call on another partition is `NotOwner`;
 *   followed-events.ts hands subscribers the events the cache followed from other nodes' partitions;
 * - plugin-channel.ts is the main-thread end of worker plugins; health.ts says why the runtime is not
 *   fully serving; storage-recovery.ts resumes writes after a full disk.
 *
 * The runtime knows no read model: the projection engine is a worker plugin, passed in `workerPlugins` by
 * a composition root (`createEventide` in src/app/, which `npm start` uses too).
 *
 * Gotchas:
 * - Request ids (`rid`) come from one counter for commands, loads, stats and plugin requests: a slot
 *   matches replies by id.
 * - The state cache must hear of every commit before any subscriber does, and must forget a worker's
 *   share whenever that worker may have lost replies (see the hooks below and state-cache.ts).
 * - `offsets` is also the acknowledged watermark of calling-thread loads (log-loads.ts): it may only move
 *   forward, and only past events whose outcome is settled (answered, or read back by a fresh worker).
 *   `freshness` must hear of every answer before anyone can act on it (before subscribers, before the
 *   caller's execute resumes).
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, RuntimeError, assertValidId, errors, type EventEnvelope } from '../kernel/index.js';
import { LmdbLog, lockDataDir, openMemoryLog, type DirLock, type EventLog, type SubjectKeys } from '../log/index.js';
import { AUDIT_STREAM, AUDIT_TYPE, LIVE, isLifecycleType, isSystemType, lifecycleAfter, type AnyDecider, type AuditState } from '../domain/index.js';
import { ownerOf, partitionOf, partitionsOwnedBy } from '../partition/index.js';
import { CommandValidation } from './command-validation.js';
import { loadDeciders } from './domain-registry.js';
import { versionedLog } from './versioned-log.js';
import { HealthBook, type FollowFailure } from './health.js';
import { defaultWorkers, resolveOptions, type ResolvedOptions, type RuntimeOptions } from './options.js';
import { PluginChannels } from './plugin-channel.js';
import type { ActorHostConfig, CommandRequest, CommandResult, LoadedState, PartitionResumeResult } from './protocol.js';
import type { ClusterLink, CommittedListener, ExecuteOptions, ExecuteResult, ForgetResult, LastScavenge, LoadOptions, Runtime, StreamLifecycleOptions } from './runtime-api.js';
import { deepFreeze, StateCache } from './state-cache.js';
import { StorageRecovery } from './storage-recovery.js';
import { TimeMachine } from './time-machine.js';
import { WorkerSlot, type SlotHooks } from './worker-slot.js';
import { InlineThread } from './inline-thread.js';
import { LogLoads } from './log-loads.js';
import { ReadFreshness } from './read-freshness.js';
import { disableTrace, enableTrace, mergeByStart, traceSince, type TraceSpans } from './trace.js';
import { ClusterNode } from './cluster-node.js';
import { FollowedEvents } from './followed-events.js';
import { auditOnce } from './audit-once.js';
import { RetentionRules, checkTarget, type RetentionTarget } from './retention.js';
import { applyRetention, retentionInfo, type RetentionParts } from './retention-settings.js';
import { Scavenger, type ScavengeOptions, type ScavengeReport } from './scavenge.js';
import { StorageGuard } from './storage-guard.js';
import { deletedMark, lifecycleError, lifecycleOfMark, lifecycleAudit, type StreamLifecycleCommand } from './stream-deletion-api.js';

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const o = resolveOptions(options);
  const { log, lock, ownerEpoch, deciders, validation } = await openOwned(o);
  const P = log.partitions;
  const W = Math.min(o.workers ?? defaultWorkers(P, o.log), P);

  /** Per partition, the next offset after the last acknowledged event (see the Gotchas). */
  const offsets = new Array<number>(P).fill(0);
  const listeners = new Set<CommittedListener>();
  const cache = new StateCache(o.stateCacheSize);
  const health = new HealthBook();
  const slots: WorkerSlot[] = [];
  const recovery = new StorageRecovery({ log, dataDir: o.dataDir, reserveBytes: o.storageReserveBytes, restart: (w, reason) => slots[w]!.restart(reason) });
  let rid = 0;
  const nextRid = (): number => ++rid;
  const plugins = new PluginChannels(slots, nextRid);
  let closed = false;
  /** `close()` began (forwarded requests are still answered until `closed`). */
  let closing = false;
  /** Cluster mode: this node's membership in the partition group (null for the embedded runtime). */
  let cluster: ClusterNode | null = null;

  const freshness = new ReadFreshness(log);
  // A stream whose snapshot has an old shape: its owner loads it too, and persists a fresh one as before.
  const logLoads = o.coldLoads === 'log' ? new LogLoads(log, freshness, offsets, (type, id, p) => void askOwner(slotOf(p), type, id).catch(() => undefined)) : null;
  const retentionRules = new RetentionRules(log, o.clock);
  const timeMachine = new TimeMachine(log, freshness, (type, id, opts) => runtime.load(type, id, opts), retentionRules);
  const retentionParts: RetentionParts = {
    log,
    rules: retentionRules,
    fresh: (id) => freshness.fresh(partitionOf(id, P)),
    audit: (kind, record, opts) => runtime.audit(kind, record, opts),
  };
  const reserveGuard = new StorageGuard(o.dataDir, o.storageReserveBytes);
  const scavenger = new Scavenger({
    log,
    rules: retentionRules,
    deciders,
    snapshotEvery: o.snapshotEvery,
    snapshotThinning: o.snapshotThinning,
    pluginModules: o.plugins.map((p) => p.module),
    // The log's head, not `offsets`: those start at 0 in a runtime that committed nothing yet.
    acknowledged: (p) => Math.max(offsets[p]!, log.partitionHead(p)),
    audit: (kind, record) => runtime.audit(kind, record),
    open: () => !closing,
    // A pass records what it removes: it runs only while the log takes writes (scavenge.ts, "Disk full").
    writable: () => {
      const stopped = recovery.status();
      if (stopped) throw new RuntimeError(ErrorCodes.StorageFailed, recovery.reason()!, { cause: stopped.cause, freeBytes: stopped.freeBytes, mount: stopped.mount, outcome: 'not-applied' }, true);
      reserveGuard.check(performance.now());
    },
  });
  let lastScavenge: LastScavenge | null = null;
  const scavenge = (opts: ScavengeOptions): Promise<ScavengeReport> => {
    const at = o.clock.now();
    const pass = scavenger.run(opts);
    pass.then(
      (report) => void (lastScavenge = { at, report }),
      (err: unknown) => void (lastScavenge = { at, error: RuntimeError.is(err) ? err.message : String(err) }),
    );
    return pass;
  };
  // The background schedule (scavenge.ts): not in cluster mode, where retention is refused. A tick while
  // a pass runs is skipped, never queued: queued passes would pile up behind a slow one (bench/README.md,
  // "Data lifecycle": 151 of them waited in a run before this).
  const scavengeTimer =
    o.scavengeEveryMs > 0 && o.cluster === undefined
      ? setInterval(() => {
          if (!scavenger.busy) void scavenge({}).catch(() => undefined);
        }, o.scavengeEveryMs)
      : null;
  scavengeTimer?.unref();
  let ownerLoads = 0;
  const counters = {
    commandsOk: 0,
    commandsFailed: 0,
    eventsAppended: 0,
    get timeMachineFolded() {
      return timeMachine.folded;
    },
    get stateCacheHits() {
      return cache.hits;
    },
    get stateCacheMisses() {
      return cache.misses;
    },
    get stateCacheEntries() {
      return cache.size;
    },
    get ownerLoads() {
      return ownerLoads;
    },
  };

  const announce = (events: EventEnvelope[]): void => {
    for (const l of listeners) {
      try {
        l(events);
      } catch {
        // A subscriber's bug must not fail the command that was already committed.
      }
    }
  };
  const followed = new FollowedEvents(log, offsets, freshness, announce);

  const hooks: SlotHooks = {
    onCommitted(result: CommandResult) {
      const events = result.events;
      if (events.length === 0) return;
      counters.eventsAppended += events.length;
      const last = events[events.length - 1]!;
      if (last.offset + 1 > offsets[last.partition]!) offsets[last.partition] = last.offset + 1;
      freshness.touched(last.partition);
      // Into the cache before any subscriber hears of the events: a subscriber that loads the aggregate
      // on its own event must see at least that version (the caller's execute resumes only later). A
      // deleted stream's entry is a mark, so a later load answers "not found" (stream-deletion-api.ts).
      const life = isLifecycleType(last.type) ? lifecycleAfter(last.type) : LIVE;
      cache.offer(last.aggregateType, last.stream, last.partition, result.version, life === LIVE ? result.state : deletedMark(life));
      announce(events);
    },
    // Cluster mode: what the cache applied from the log of record (followed-events.ts).
    onApplied: (partition, _from, to, lag) => followed.applied(partition, to, lag),
    onFollowFailed: (partition, error) => followed.failed(partition, error),
    onFollowRecovered: (partition) => followed.recovered(partition),
    // A dead worker may have committed commands whose replies never arrived (each of them also fails
    // its execute, which drops that aggregate's entry at once); forgetting the whole worker's share on
    // restart and on fatal is the backstop. Its actors re-hydrate from the log, which is the truth.
    onFatal(index, error) {
      health.workerFailed(index, error);
      cache.dropPartitions((p) => ownerOf(p, W) === index);
      freshness.touchedAll();
      // Cluster mode: a batch refused for want of a lease (it lapsed or moved under a batch in flight)
      // stops the JetStream log until it is re-synced; a fresh worker opens it again, caught up, and is
      // given the partitions this node still holds (onRestart).
      if (cluster !== null && !closed && (error.code === ErrorCodes.Fenced || error.code === ErrorCodes.NotOwner)) {
        void slots[index]!.restart(`fenced: ${error.message}`).catch(() => undefined);
      }
    },
    onRestart(index, reason) {
      health.workerRestarted(index);
      cache.dropPartitions((p) => ownerOf(p, W) === index);
      freshness.touchedAll();
      // The fresh worker read its heads back from the log: every event below them is settled, whether
      // its command was answered or lost with the old thread.
      void slots[index]!.ready.then((heads) => {
        for (const [p, head] of Object.entries(heads)) {
          // Cluster mode: what the fresh worker's opening catch-up applied is announced (followed-events.ts).
          if (cluster !== null) followed.applied(Number(p), head, null);
          else if (head > offsets[Number(p)]!) offsets[Number(p)] = head;
        }
        // A fresh worker serves nothing: it is given again what the group holds.
        cluster?.reacquire();
      }, () => undefined);
      o.onWorkerRestart?.(index, reason);
    },
    onPartitionStopped(partition, error) {
      health.partitionStopped(partition, error);
      freshness.touched(partition);
      // Loads of a stopped partition go back to its worker, which answers (or fails) as it did before.
      cache.dropPartitions((p) => p === partition);
    },
    onPluginEvent: (index, plugin, payload) => plugins.dispatch(index, plugin, payload),
    // The state cache keeps serving: it holds only acknowledged states, and failed commands already
    // dropped their aggregate's entry (execute's catch).
    onStorageFailed(index, error) {
      freshness.touchedAll();
      recovery.failed(index, error);
    },
  };

  const clusterHooks = {
    served(partition: number, offset: number) {
      // Caught up from JetStream by the worker: this thread's reads must see it, from a fresh cache.
      // The worker also lifted a stop on damage (it reads the partition afresh, as `resumePartition` does).
      health.partitionResumed(partition);
      // Not followed while served: a failure from before is no longer this node's (a later follow reports afresh).
      followed.recovered(partition);
      if (offset > offsets[partition]!) offsets[partition] = offset;
      cache.dropPartitions((p) => p === partition);
      freshness.touched(partition);
    },
    unserved(partition: number) {
      // Another node writes it from now on: nothing cached of it may be answered any more.
      cache.dropPartitions((p) => p === partition);
      freshness.touched(partition);
    },
  };
  /** Cluster mode: `NotOwner` for a call on a partition this node does not serve (never a stale read). */
  const checkServed = (partition: number): void => {
    if (cluster !== null && !cluster.serves(partition)) throw cluster.refusal(partition);
  };

  if (o.trace) enableTrace('main');
  // The memory log lives in this thread: its actor hosts run here too, behind the same slot interface.
  const inline = o.log === 'memory' ? (config: ActorHostConfig) => new InlineThread(config, log) : undefined;
  for (let w = 0; w < W; w++) slots.push(new WorkerSlot(slotConfig(o, w, P, W, ownerEpoch), hooks, o.maxInFlightPerWorker, o.maxRestartsPerMinute, inline));
  try {
    for (const s of slots) {
      const ready = await s.ready;
      for (const [p, off] of Object.entries(ready)) offsets[Number(p)] = off;
    }
    // Cluster mode: the worker is up and serves nothing yet; the group gives it its partitions.
    if (o.cluster) cluster = await ClusterNode.join(o.cluster, P, slots[0]!, nextRid, clusterHooks);
  } catch (err) {
    await Promise.allSettled(slots.map((s) => s.close(2000)));
    await log.close();
    lock.release();
    if (o.trace) disableTrace();
    throw err;
  }

  const slotOf = (partition: number): WorkerSlot => slots[ownerOf(partition, W)]!;
  const askOwner = (slot: WorkerSlot, aggregateType: string, id: string): Promise<LoadedState> => {
    const r = nextRid();
    return slot.request(r, { kind: 'load', rid: r, aggregateType, id });
  };
  const loadFromOwner = (slot: WorkerSlot, aggregateType: string, id: string): Promise<LoadedState> => {
    ownerLoads++;
    return askOwner(slot, aggregateType, id);
  };
  /** A retention target's checks: closed, a domain's type (never a system one), the id; cluster mode refuses. */
  const retentionTarget = (target: RetentionTarget): void => {
    if (closed) throw errors.closed();
    if (typeof target !== 'object' || target === null || typeof target.aggregateType !== 'string' || isSystemType(target.aggregateType)) {
      throw errors.unknownAggregateType(String((target as RetentionTarget | null)?.aggregateType));
    }
    validation.decider(target.aggregateType);
    checkTarget(target);
    if (cluster !== null) throw new RuntimeError(ErrorCodes.NotImplemented, 'retention settings are not available in cluster mode yet: docs/cluster.md, "Left to do"');
  };

  /**
   * After a subject's key is gone: every cache of a state that may hold its plaintext is dropped (its
   * stream's partition's entries here, that partition's live actors in its worker, once no batch of it
   * is in flight), so every later load re-hydrates with the fields redacted.
   */
  const dropPlaintext = async (keys: SubjectKeys, subject: string): Promise<void> => {
    const partition = partitionOf(subject, P);
    keys.refreshReads();
    log.refreshReads();
    cache.dropPartitions((p) => p === partition);
    const r = nextRid();
    await slotOf(partition).request(r, { kind: 'forget', rid: r, partition });
    // Again: a reply of a command decided before the forget may have fed the cache meanwhile.
    cache.dropPartitions((p) => p === partition);
    freshness.touched(partition);
  };

  /** The checks every call on a stream starts with, in this order (closed, type, id). */
  const openStream = (aggregateType: string, id: string): AnyDecider => {
    if (closed) throw errors.closed();
    const decider = validation.decider(aggregateType);
    assertValidId(id);
    return decider;
  };

  /**
   * A checked command on its aggregate's single writer (execute, and the lifecycle commands): the state
   * cache and the read freshness hear of its outcome before the caller does.
   */
  const submit = async <S>(req: CommandRequest): Promise<ExecuteResult<S>> => {
    const { aggregateType, id } = req;
    const partition = partitionOf(id, P);
    checkServed(partition);
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
      // A lifecycle command that changed nothing says nothing about readers (its state may be a deleted one's).
      if (result.events.length === 0 && !isLifecycleType(req.command.type)) cache.offer(aggregateType, id, partition, result.version, result.state);
      return { id, type: aggregateType, version: result.version, events: result.events, state: result.state as S };
    } catch (err) {
      counters.commandsFailed++;
      // Whatever the error, forget the aggregate: with WorkerCrashed or StorageFailed the command may
      // be in the log without its reply, and the next load must see whether it is.
      cache.delete(aggregateType, id);
      freshness.touched(partition);
      throw cluster === null ? err : cluster.withOwner(err, partition);
    }
  };

  /** Deletes, tombstones or undeletes a stream through its owner, then records it in the audit stream. */
  const changeLifecycle = async (aggregateType: string, id: string, command: StreamLifecycleCommand, opts: StreamLifecycleOptions) => {
    if (closed) throw errors.closed();
    if (typeof aggregateType === 'string' && isSystemType(aggregateType)) throw errors.unknownAggregateType(aggregateType);
    const req = validation.lifecycleRequest(nextRid(), aggregateType, id, command, opts);
    const result = await submit(req);
    const changed = result.events.length > 0 && result.duplicate !== true;
    const audit = lifecycleAudit(aggregateType, id, command, result.version, opts.by ?? null);
    const local = () => runtime.audit(audit.kind, audit.record, { commandId: audit.commandId });
    // Cluster mode: the audit stream's partition may be another member's (cluster-node.ts `recordAudit`).
    await auditOnce(cluster === null ? local() : cluster.recordAudit(partitionOf(AUDIT_STREAM, P), { kind: audit.kind, ...audit.record }, audit.commandId, local));
    return { id, type: aggregateType, version: result.version, changed };
  };

  /** Cluster mode: the partitions this node follows (does not serve) whose following fails now. */
  const followFailures = (node: ClusterNode): FollowFailure[] => {
    const failing: FollowFailure[] = [];
    for (let p = 0; p < P; p++) {
      const f = followed.failureOf(p);
      if (f !== null && !node.serves(p)) failing.push({ partition: p, ...f });
    }
    return failing;
  };

  const runtime: Runtime = {
    dataDir: o.dataDir,
    partitionCount: P,
    workerCount: W,
    // System types (the audit stream's) are the runtime's own: not listed, so no route is made for them.
    aggregateTypes: [...deciders.keys()].filter((t) => !isSystemType(t)),
    workerPlugins: o.plugins,
    domainModules: o.domainModules,
    log,
    counters,
    decider: (t) => deciders.get(t),

    audit(kind, record, opts) {
      return runtime.execute<AuditState>(AUDIT_TYPE, AUDIT_STREAM, { type: 'Record', data: { kind, ...record } }, opts);
    },

    // Crypto-shredding (subject-cipher.ts): the key first (from then on nothing can open the data), the
    // caches next, the audit record last. A crash anywhere in between leaves the tombstone, which says
    // the audit record may be missing: the next call, or the next start, completes it with the same id.
    async forget(subject: string, opts: { by?: string | null } = {}): Promise<ForgetResult> {
      if (closed) throw errors.closed();
      assertValidId(subject);
      // Cluster mode: the workers' log (JetStream) keeps no keys, so there is nothing to forget with.
      const keys = cluster === null ? log.subjectKeys : undefined;
      if (keys === undefined) throw new RuntimeError(ErrorCodes.NotImplemented, 'forget is not available in cluster mode: personal data is not sealed there (its keys would have to be replicated with the log): docs/cluster.md, "Left to do"', { subject });
      const outcome = await keys.forget(subject, { commandId: `forget-${randomUUID()}`, by: opts.by ?? null });
      await dropPlaintext(keys, subject);
      // The first forget's id and asker, from the tombstone: a retry is the same command, recorded once.
      const audit = await runtime.audit('SubjectForgotten', { target: { subject }, by: outcome.by }, { commandId: outcome.commandId });
      keys.markAudited(subject);
      return { subject, deleted: outcome.deleted, scrubbed: outcome.scrubbed, audit: { version: audit.version, duplicate: audit.duplicate === true } };
    },

    async execute<S>(aggregateType: string, id: string, command: { type: string; data?: unknown }, opts: ExecuteOptions = {}) {
      if (closed) throw errors.closed();
      return submit<S>(validation.request(nextRid(), aggregateType, id, command, opts));
    },

    deleteStream(aggregateType, id, opts = {}) {
      return changeLifecycle(aggregateType, id, opts.hard === true ? 'tombstone' : 'delete', opts);
    },

    undeleteStream(aggregateType, id, opts = {}) {
      return changeLifecycle(aggregateType, id, 'undelete', opts);
    },

    async load<S>(aggregateType: string, id: string, opts: LoadOptions = {}) {
      const decider = openStream(aggregateType, id);
      checkServed(partitionOf(id, P));
      if (opts.version !== undefined || opts.at !== undefined) return timeMachine.stateAt<S>(decider, aggregateType, id, opts);
      const hit = cache.get(aggregateType, id);
      if (hit !== undefined) {
        const life = lifecycleOfMark(hit.state);
        if (life !== LIVE) throw lifecycleError(life, aggregateType, id);
        return { id, type: aggregateType, version: hit.version, state: hit.state as S };
      }
      const partition = partitionOf(id, P);
      const slot = slotOf(partition);
      // On this thread, from the log, unless only the owner can answer as it would (log-loads.ts).
      const read = logLoads !== null && slot.steady && !health.isStopped(partition) ? logLoads.current(decider, aggregateType, id, partition) : undefined;
      const res = read ?? (await loadFromOwner(slot, aggregateType, id));
      if (res.version === 0) throw errors.streamNotFound(aggregateType, id);
      if (res.life !== undefined && res.life !== LIVE) {
        cache.offer(aggregateType, id, partition, res.version, deletedMark(res.life));
        throw lifecycleError(res.life, aggregateType, id);
      }
      // The log or the worker answers the acknowledged state. A reply acknowledged while a worker's answer
      // was on its way may have fed a newer entry: `offer` then answers that one (both are true; newer is
      // never wrong).
      const newest = cache.offer(aggregateType, id, partition, res.version, res.state);
      return { id, type: aggregateType, version: newest.version, state: newest.state as S };
    },

    async history(aggregateType, id, opts = {}) {
      openStream(aggregateType, id);
      checkServed(partitionOf(id, P));
      return timeMachine.history(aggregateType, id, opts);
    },

    async setRetention(target, settings, opts) {
      retentionTarget(target);
      return applyRetention(retentionParts, target, settings, opts);
    },

    retention(target) {
      retentionTarget(target);
      return retentionInfo(retentionParts, target);
    },

    async scavenge(opts = {}) {
      if (closed || closing) throw errors.closed();
      if (cluster !== null) throw new RuntimeError(ErrorCodes.NotImplemented, 'a scavenge is not available in cluster mode yet (retention is not): docs/cluster.md, "Left to do"');
      if (opts.aggregateType !== undefined) retentionTarget(opts.id === undefined ? { aggregateType: opts.aggregateType } : { aggregateType: opts.aggregateType, id: opts.id });
      else if (opts.id !== undefined) throw new RuntimeError(ErrorCodes.InvalidQuery, 'a scavenge of one stream names its aggregateType too');
      return scavenge(opts);
    },

    get lastScavenge() {
      return lastScavenge;
    },

    guardScavenge: (guard) => scavenger.guard(guard),

    // Its end point comes from `load`, which refuses a partition this node does not serve.
    diff: (aggregateType, id, from, to) => timeMachine.diff(aggregateType, id, from, to),

    workerOf: (partition) => ownerOf(partition, W),

    plugin: (name) => plugins.channel(name),

    partitions: () =>
      offsets.map((offset, partition) => {
        const stopped = health.stoppedReason(partition);
        const info = stopped === undefined ? { partition, worker: ownerOf(partition, W), offset } : { partition, worker: ownerOf(partition, W), offset, stopped };
        if (cluster === null) return info;
        const ownership = cluster.ownership(partition);
        const lag = ownership.served ? null : followed.lag(partition);
        const followError = ownership.served ? null : followed.failure(partition);
        return { ...info, ...ownership, ...(lag === null ? {} : { lag }), ...(followError === null ? {} : { followError }) };
      }),

    ...(cluster === null ? {} : { cluster: clusterLink(cluster) }),

    async resumePartition(partition) {
      if (!Number.isSafeInteger(partition) || partition < 0 || partition >= P) {
        throw new RuntimeError(ErrorCodes.InvalidQuery, `partition must be an integer in [0, ${P - 1}], got ${JSON.stringify(partition)}`);
      }
      const r = nextRid();
      const result = await slotOf(partition).request<PartitionResumeResult>(r, { kind: 'resume', rid: r, partition });
      health.partitionResumed(partition);
      cache.dropPartitions((p) => p === partition);
      if (result.offset > offsets[partition]!) offsets[partition] = result.offset;
      freshness.touched(partition);
      return result;
    },

    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    stats: () => Promise.all(slots.map((s) => s.stats(nextRid()))),

    async traceSpans(sinceMs = 0): Promise<TraceSpans> {
      const parts = [traceSince(sinceMs), ...(await Promise.all(slots.map((s) => s.trace(nextRid(), sinceMs))))];
      return { spans: mergeByStart(parts.map((p) => p.spans)), dropped: parts.reduce((n, p) => n + p.dropped, 0) };
    },

    health: () => health.report({ slots, storage: recovery, closed, followFailures: cluster === null ? [] : followFailures(cluster) }),

    resumeWrites() {
      if (closed) throw errors.closed();
      return recovery.resumeNow();
    },

    async close() {
      if (closed || closing) return;
      closing = true;
      // Cluster mode: answer the requests other members forwarded here before anything stops (new ones
      // get no responders, `NotOwner`, and go elsewhere once this node has left).
      await cluster?.stopForwarding().catch(() => undefined);
      closed = true;
      recovery.close();
      if (scavengeTimer) clearInterval(scavengeTimer);
      await scavenger.idle();
      // Cluster mode: hand the partitions over first (the others take them at once, not after a lease),
      // while the worker can still finish its batches in flight.
      await cluster?.leave().catch(() => undefined);
      await Promise.allSettled(slots.map((s) => s.close()));
      cache.clear();
      listeners.clear();
      await log.close();
      lock.release();
      if (o.trace) disableTrace();
    },
  };
  await completeForgets(runtime, log, deciders);
  return runtime;
}

/** The runtime's `cluster`: what a layer above needs of the node (its id, the members, forwarding). */
function clusterLink(node: ClusterNode): ClusterLink {
  return {
    nodeId: node.nodeId,
    group: node.group,
    members: () => node.members(),
    serve: (handler) => node.serve(handler),
    forward: (nodeId, request) => node.forward(nodeId, request),
  };
}

/**
 * Forgets a crash cut short between the key's deletion and its audit record (the tombstone says which):
 * completed now, with the first call's command id, so the audit stream records each forget once.
 * Best effort: what fails here (a partition not served in cluster mode) is completed by a later start
 * or a later `forget` of the same subject.
 */
async function completeForgets(runtime: Runtime, log: EventLog, deciders: Map<string, AnyDecider>): Promise<void> {
  // A log opens its key store on first use: not for domains without personal data.
  if (![...deciders.values()].some((d) => d.personalData !== undefined)) return;
  for (const { subject } of log.subjectKeys?.unaudited() ?? []) await runtime.forget(subject).catch(() => undefined);
}

/**
 * The data dir, locked to this process (DESIGN invariant 9: the lock keeps a second process out; the owner
 * epoch fences one that got in anyway), its log, the deciders and their compiled command schemas.
 * Whatever fails (a decider module that does not load, a schema Ajv refuses) releases what was taken.
 */
async function openOwned(o: ResolvedOptions): Promise<{ log: EventLog; lock: DirLock; ownerEpoch: number; deciders: Map<string, AnyDecider>; validation: CommandValidation }> {
  // A memory log belongs to this runtime alone: there is nothing another process could open.
  const lock: DirLock = o.log === 'memory' ? { file: '', release: () => undefined } : lockDataDir(o.dataDir, 'runtime');
  let log: EventLog;
  let ownerEpoch: number;
  try {
    const partitions = o.partitions !== undefined ? { partitions: o.partitions } : {};
    log = o.log === 'memory' ? openMemoryLog(partitions) : LmdbLog.open(o.dataDir, { ...partitions, durability: o.durability });
    ownerEpoch = log.claimOwnership('runtime');
  } catch (err) {
    lock.release();
    throw err;
  }
  try {
    const deciders = await loadDeciders(o.domainModules);
    // Every read of the main thread (time machine, history, diff, `runtime.log`: the feed, views) sees events at the deciders' current versions.
    log = versionedLog(log, deciders.values());
    return { log, lock, ownerEpoch, deciders, validation: new CommandValidation(deciders, o.clock) };
  } catch (err) {
    await log.close();
    lock.release();
    throw err;
  }
}

function slotConfig(o: ResolvedOptions, w: number, P: number, W: number, ownerEpoch: number): ActorHostConfig {
  return {
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
    trace: o.trace,
    ...(o.cluster ? { cluster: { servers: o.cluster.servers, logName: o.cluster.logName, replicas: o.cluster.replicas } } : {}),
  };
}
