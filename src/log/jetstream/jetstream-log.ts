/**
 * `JetStreamLog`: the port's `EventLog` (port.ts) with NATS JetStream as the log of record and a local
 * `LmdbLog` as the node's cache. The second adapter of the port: it passes the same contract suite
 * (test/log/contract/jetstream.contract.int.test.ts).
 *
 * ## JetStream is the log of record, a local LmdbLog the cache
 * The port's reads are synchronous (hydration, folds, findCommand, snapshots, view rows), so they cannot
 * go to the network. Every read is the local LmdbLog's (composed through its public API, not forked):
 * events, partition index, command ids, snapshots, pages, views. A commit is acknowledged only once
 * JetStream acknowledged it (stored on a quorum of the stream's replicas), and only then is it written
 * to the cache (record-committer.ts). The cache knows, per partition, the last JetStream sequence it
 * holds (local-cache.ts); `open` catches up from there before handing the log out, so a missing or
 * wiped local dir is rebuilt from JetStream: events, partition order and command ids come back. Snapshots,
 * pages and view rows do not: they are derived (a fold, a page writer, a projection make them again),
 * kept only where they are used.
 *
 * ## One stream per partition
 * `EVT_<log>_P<n>`, subject `evt.<log>.p.<n>` (partition-streams.ts). Each stream is its own Raft
 * group with its own leader, so partitions' appends spread over the servers instead of all going
 * through one stream leader, and the fencing condition is the stream-level `Nats-Expected-Last-Sequence`,
 * which is not subject to nats-server issue #4320 (two concurrent publishes with the same
 * `Nats-Expected-Last-Subject-Sequence` both accepted, 2.9.15-2.9.20). The trade-off against one stream
 * with a subject per partition: P streams cost P Raft groups (memory, heartbeats, more to watch), there
 * is no single ordered stream of everything (the feed merges partitions, as it already does), and the
 * partition count is fixed by the set of streams. One stream would give one leader for every write
 * (the throughput of one node) and a per-subject condition exposed to #4320.
 *
 * ## One message per partition per batch
 * A batch touching k partitions publishes k messages, in parallel, each conditional on its stream's last
 * sequence as this node knows it (partition-message.ts for the format). The ack must name exactly the
 * expected sequence + 1; another writer's message there is `Fenced`, anything else `CorruptLog`. A
 * batch that lands in some partitions only, and what the cache then does: record-committer.ts.
 *
 * ## Ownership
 * `claimOwnership` / `ownerEpoch` are the cache's (the process epoch, as on LMDB): a writer of an earlier
 * epoch is refused before it sends anything. Across nodes the cluster layer passes `leases`: every
 * message then carries the partition's lease epoch, a partition this node holds no lease on is refused
 * (`Fenced`) before anything is sent, and a catch-up that meets a lease epoch lower than an earlier
 * message's reports a foreign write instead of applying it.
 *
 * ## Following
 * In cluster mode a node follows the partitions it does not write (`follow`, partition-follower.ts):
 * their part of the cache is kept caught up in the background, so reads of every partition on every
 * node see the log of record, at the same offsets. A new owner stops following the partition, then
 * `confirmTip` catches it up from where the follower stopped and confirms the stream's tip with a
 * takeover marker (record-committer.ts) before it serves. `onApplied` hears of every local commit of
 * messages from the log of record (follower, catch-up, re-sync): the runtime passes their events on.
 *
 * Gotchas:
 * - Only this folder imports `@nats-io/*`.
 * - One JetStreamLog per local dir (per process, not per worker thread): two catching up the same cache
 *   at once would apply messages twice.
 * - The cache's owner epoch is the node's: a wiped local dir starts again from epoch 0.
 * - `durability` is the cache's; the log of record's is JetStream's (an ack means stored on a quorum,
 *   fsynced by the server every `sync_interval`: docs/cluster.md).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../../kernel/index.js';
import { LmdbLog } from '../lmdb/index.js';
import type { BatchWriter, CommandRecord, Durability, EventLog, Evolve, FoldResult, PartitionTrim, PrefixRemoval, RetentionSettings, StoredSnapshot, StreamHead, ViewStore } from '../port.js';
import { JetStreamBatchWriter } from './batch-writer.js';
import { LocalCache, type AppliedListener, type PartitionTip } from './local-cache.js';
import { PartitionFollower } from './partition-follower.js';
import { PartitionStreams, reasonOf } from './partition-streams.js';
import { RecordCommitter, type PartitionLeases } from './record-committer.js';

export type { PartitionLeases } from './record-committer.js';
export type { AppliedListener } from './local-cache.js';

export interface JetStreamLogOptions {
  /** NATS server URL(s), when the log makes its own connection (closed by `close`). */
  servers?: string | string[];
  /** A connection to use instead (left open by `close`; see `open` for the ping and connect timeouts it should have). */
  connection?: NatsConnection;
  /** The log's name: its streams are `EVT_<name>_P<n>`. Letters, digits, `_` and `-`. */
  name: string;
  /** Partition count of a new log (16 by default); an existing log keeps its own, another value is `PartitionMismatch`. */
  partitions?: number;
  /** Replicas of each partition stream when it is created: 3 in a 3-node cluster, 1 on one server (default). */
  replicas?: number;
  /** The node's cache: a local LMDB data dir (rebuilt from JetStream when missing). */
  localDir: string;
  /** The cache's durability (port.ts); the log of record's is JetStream's. */
  durability?: Durability;
  /** The cluster layer's partition leases (see the header). */
  leases?: PartitionLeases;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

export class JetStreamLog implements EventLog {
  readonly partitions: number;
  readonly durability: Durability;
  readonly name: string;
  readonly #local: LmdbLog;
  readonly #committer: RecordCommitter;
  readonly #connection: NatsConnection;
  readonly #ownConnection: boolean;
  readonly #cache: LocalCache;
  readonly #follower: PartitionFollower;
  /** Partitions to follow (`follow`), started once the batches handed over before are through. */
  readonly #followed = new Set<number>();
  #followFailed: ((partition: number, err: RuntimeError) => void) | null = null;
  #followRecovered: ((partition: number) => void) | null = null;

  private constructor(name: string, local: LmdbLog, committer: RecordCommitter, connection: NatsConnection, ownConnection: boolean, cache: LocalCache, streams: PartitionStreams) {
    this.name = name;
    this.#local = local;
    this.#cache = cache;
    this.#follower = new PartitionFollower(streams, cache, {
      applied: (p, tip) => committer.followed(p, tip),
      failed: (p, err) => this.#followFailed?.(p, RuntimeError.is(err) ? (err as RuntimeError) : new RuntimeError(ErrorCodes.Unavailable, `following partition ${p}: ${reasonOf(err)}`, { partition: p }, true)),
      recovered: (p) => this.#followRecovered?.(p),
    });
    this.partitions = local.partitions;
    this.durability = local.durability;
    this.#committer = committer;
    this.#connection = connection;
    this.#ownConnection = ownConnection;
  }

  /**
   * Opens (or creates) log `name` on JetStream and its cache in `localDir`, and catches the cache up with
   * the log of record before answering.
   */
  static async open(options: JetStreamLogOptions): Promise<JetStreamLog> {
    const { name, localDir, replicas = 1 } = options;
    if (typeof name !== 'string' || !NAME.test(name)) throw new RuntimeError(ErrorCodes.InvalidOptions, `a JetStream log name is 1 to 64 letters, digits, '_' or '-' (got ${JSON.stringify(name)})`);
    if (typeof localDir !== 'string' || localDir === '') throw new RuntimeError(ErrorCodes.InvalidOptions, 'no local dir given for the JetStream log\'s cache');
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new RuntimeError(ErrorCodes.InvalidOptions, `replicas is 1 to 5 (got ${String(replicas)})`);
    if (options.partitions !== undefined && (!Number.isInteger(options.partitions) || options.partitions < 1)) throw new RuntimeError(ErrorCodes.InvalidOptions, `partitions is a positive integer (got ${String(options.partitions)})`);
    if (!options.connection && !options.servers) throw new RuntimeError(ErrorCodes.InvalidOptions, 'the JetStream log needs `servers` or `connection`');
    let nc = options.connection;
    const ownConnection = !nc;
    let local: LmdbLog | undefined;
    try {
      // A server that stopped answering (SIGSTOP, a hung host) keeps its TCP connections open and even
      // accepts new ones: with the defaults (a ping every 2 min, 20 s to connect) the client would stay
      // with it for minutes. Pings every 2 s and a 2 s connect timeout move it to another server in about
      // 10 s, inside the 30 s a request is retried (partition-streams.ts).
      nc ??= await connect({ servers: options.servers!, maxReconnectAttempts: -1, pingInterval: 2_000, maxPingOut: 3, timeout: 2_000, name: `eventide ${name}` });
      const streams = await PartitionStreams.open(nc, name, options.partitions, replicas);
      local = LmdbLog.open(localDir, { partitions: streams.partitions, ...(options.durability ? { durability: options.durability } : {}) });
      const cache = new LocalCache(local);
      const tips = await catchUpAll(cache, streams);
      const committer = new RecordCommitter(streams, cache, tips, options.leases, nc.info?.max_payload ?? 1024 * 1024);
      return new JetStreamLog(name, local, committer, nc, ownConnection, cache, streams);
    } catch (err) {
      await local?.close().catch(() => undefined);
      if (ownConnection) await nc?.close().catch(() => undefined);
      if (RuntimeError.is(err) && typeof err.code === 'string' && err.code in ErrorCodes) throw err;
      throw new RuntimeError(ErrorCodes.Unavailable, `cannot open JetStream log ${name}: ${reasonOf(err)}`, { name });
    }
  }

  // ---------------------------------------------------------------- reads: the cache's

  get views(): ViewStore {
    return this.#local.views;
  }

  refreshReads(): void {
    this.#local.refreshReads();
  }

  streamHead(aggregateType: string, id: string): StreamHead {
    return this.#local.streamHead(aggregateType, id);
  }

  iterateStream(aggregateType: string, id: string, from?: number, to?: number): Iterable<EventEnvelope> {
    return this.#local.iterateStream(aggregateType, id, from, to);
  }

  readStream(aggregateType: string, id: string, from?: number, limit?: number): EventEnvelope[] {
    return this.#local.readStream(aggregateType, id, from, limit);
  }

  readEvent(aggregateType: string, id: string, seq: number): EventEnvelope | undefined {
    return this.#local.readEvent(aggregateType, id, seq);
  }

  foldStream<S>(aggregateType: string, id: string, from: number, to: number, state: S, evolve: Evolve<S>): FoldResult<S> {
    return this.#local.foldStream(aggregateType, id, from, to, state, evolve);
  }

  versionAt(aggregateType: string, id: string, at: number): number {
    return this.#local.versionAt(aggregateType, id, at);
  }

  partitionHead(partition: number): number {
    return this.#local.partitionHead(partition);
  }

  iteratePartition(partition: number, from?: number, limit?: number): Iterable<EventEnvelope> {
    return this.#local.iteratePartition(partition, from, limit);
  }

  readPartition(partition: number, from?: number, limit?: number): EventEnvelope[] {
    return this.#local.readPartition(partition, from, limit);
  }

  findCommand(aggregateType: string, id: string, commandId: string): CommandRecord | undefined {
    return this.#local.findCommand(aggregateType, id, commandId);
  }

  snapshotAtOrBelow<S>(aggregateType: string, id: string, maxVersion?: number): StoredSnapshot<S> | undefined {
    return this.#local.snapshotAtOrBelow<S>(aggregateType, id, maxVersion);
  }

  snapshotVersions(aggregateType: string, id: string, limit?: number): number[] {
    return this.#local.snapshotVersions(aggregateType, id, limit);
  }

  iterateStreamIds(aggregateType: string): Iterable<string> {
    return this.#local.iterateStreamIds(aggregateType);
  }

  /** None is ever stored in cluster mode (`setRetention` refuses): the cache's answer, which is none. */
  retention(aggregateType: string, id?: string): RetentionSettings | undefined {
    return this.#local.retention(aggregateType, id);
  }

  streamsWithRetention(aggregateType: string): Iterable<string> {
    return this.#local.streamsWithRetention(aggregateType);
  }

  /** Nothing is ever scavenged in cluster mode (retention is refused): the cache's marks, which are none. */
  streamStart(aggregateType: string, id: string): number {
    return this.#local.streamStart(aggregateType, id);
  }

  partitionStart(partition: number): number {
    return this.#local.partitionStart(partition);
  }

  // ---------------------------------------------------------------- writes

  /**
   * Refused: settings must reach every node (they would be a record of the log of record, replicated
   * like events), and a cache-only setting would hide events on one node only. docs/cluster.md, "Left to do".
   */
  async setRetention(): Promise<void> {
    throw new RuntimeError(ErrorCodes.NotImplemented, 'retention settings are not available in cluster mode yet (the JetStream log does not replicate them): docs/cluster.md, "Left to do"');
  }

  /** Refused, as retention is (nothing is ever cut in cluster mode). */
  async removeStreamPrefix(): Promise<PrefixRemoval> {
    throw new RuntimeError(ErrorCodes.NotImplemented, 'a scavenge is not available in cluster mode yet (retention is not): docs/cluster.md, "Left to do"');
  }

  async trimPartition(): Promise<PartitionTrim> {
    throw new RuntimeError(ErrorCodes.NotImplemented, 'a scavenge is not available in cluster mode yet (retention is not): docs/cluster.md, "Left to do"');
  }

  claimOwnership(holder: string): number {
    return this.#local.claimOwnership(holder);
  }

  ownerEpoch(): number {
    return this.#local.ownerEpoch();
  }

  openWriter(writerId: string, epoch: number, partitions: readonly number[]): BatchWriter {
    return new JetStreamBatchWriter(this.#local, this.#committer, writerId, epoch, () => this.#local.ownerEpoch(), partitions);
  }

  /**
   * Brings the cache up to the log of record for `partitions` (all by default): what a new owner does
   * before it takes commands for a partition another node wrote. Waits for this log's own batches first.
   */
  catchUp(partitions?: readonly number[]): Promise<void> {
    return this.#committer.resync(partitions);
  }

  /**
   * A new owner's catch-up of `partition`: stops following it, catches it up from the cache's checkpoint
   * and confirms the stream's tip with a takeover marker carrying `leaseEpoch()` (record-committer.ts).
   * Resolves with the partition's tip once the cache holds all of it; the owner may serve it then.
   */
  confirmTip(partition: number, leaseEpoch: () => number | null): Promise<PartitionTip> {
    this.unfollow(partition);
    return this.#committer.confirmTip(partition, leaseEpoch);
  }

  /**
   * Keeps `partition` caught up in the background (a partition this node does not write: see the
   * header). Starts once every batch handed over before is through, so that a handed-over partition's
   * last batches are applied by their writer, not read back by the follower.
   */
  follow(partition: number): void {
    if (this.#followed.has(partition)) return;
    this.#followed.add(partition);
    void this.#committer.settled().then(() => {
      if (this.#followed.has(partition)) this.#follower.follow(partition);
    });
  }

  /** Stops following `partition` at once (this node is about to write it). */
  unfollow(partition: number): void {
    this.#followed.delete(partition);
    this.#follower.unfollow(partition);
  }

  /** Messages of a followed partition's stream this node has not applied yet, as far as it knows (null: not followed). */
  followLag(partition: number): number | null {
    return this.#follower.lag(partition);
  }

  /** Told when following a partition failed (a foreign write, damage, the connection); it is tried again after a pause. */
  onFollowFailed(listener: ((partition: number, err: RuntimeError) => void) | null): void {
    this.#followFailed = listener;
  }

  /** Told when following a partition works again after a failure it reported (`onFollowFailed`). */
  onFollowRecovered(listener: ((partition: number) => void) | null): void {
    this.#followRecovered = listener;
  }

  /** Told of every local commit of messages read from the log of record (see the header). */
  onApplied(listener: AppliedListener | null): void {
    this.#cache.onApplied = listener;
  }

  /** Where a partition of the log of record is, as this node knows it (tests, `/partitions`). */
  tip(partition: number): PartitionTip {
    return this.#committer.tip(partition);
  }

  get failure(): RuntimeError | null {
    return this.#committer.failure;
  }

  async durable(): Promise<void> {
    await this.#committer.settled();
    await this.#local.durable();
  }

  /**
   * A durable write of the cache, then a re-sync of every partition from the log of record; on success
   * the log accepts writes again (from the log of record's heads as they are now).
   */
  async probeWrite(): Promise<void> {
    await this.#committer.settled();
    await this.#local.probeWrite();
    await this.#committer.resync();
    this.#committer.clearFailure();
  }

  async close(): Promise<void> {
    this.#followed.clear();
    await this.#follower.close();
    await this.#committer.settled();
    await this.#local.close();
    if (this.#ownConnection) await this.#connection.close().catch(() => undefined);
  }
}

/** Catches every partition of the cache up with the log of record (a few at a time). */
async function catchUpAll(cache: LocalCache, streams: PartitionStreams): Promise<PartitionTip[]> {
  const created: string[] = [];
  const last: number[] = [];
  for (let p = 0; p < streams.partitions; p++) {
    const tip = await streams.tip(p);
    created.push(tip.created);
    last.push(tip.seq);
  }
  const identity = { name: streams.name, partitions: streams.partitions, created };
  const cached = cache.identity();
  if (!cached) {
    // A local dir that already holds events is somebody's log (an embedded data dir?), not an empty cache.
    for (let p = 0; p < streams.partitions; p++) {
      if (cache.local.partitionHead(p) > 0) throw new RuntimeError(ErrorCodes.InvalidOptions, `the local dir ${cache.local.path} holds an event log that is not a cache of JetStream log ${streams.name}: give the JetStream log a dir of its own`, { path: cache.local.path });
    }
    await cache.recordIdentity(identity);
  }
  else if (cached.name !== identity.name || cached.created.join() !== created.join()) {
    throw new RuntimeError(ErrorCodes.InvalidOptions, `the local dir ${cache.local.path} caches log ${cached.name} as created at ${cached.created[0] ?? '?'}; the log of record ${identity.name} was created at ${created[0] ?? '?'} (another log, or its streams were recreated): delete the local dir to rebuild it`, { path: cache.local.path });
  }
  // Catch-ups of different partitions commit to the cache one after the other (see local-cache.ts).
  const tips: PartitionTip[] = [];
  for (let p = 0; p < streams.partitions; p++) tips.push(await cache.catchUp(streams, p, last[p]!));
  return tips;
}
