/**
 * `LmdbLog`: the port's `EventLog` (port.ts) on LMDB, composed of one object per concern, each in its
 * own module with its own header:
 * - environment.ts     the environment and its databases (the list of them and what they hold), the
 *                      format record, the manifest, the partition count, LMDB damage as our errors;
 * - fence.ts           the owner epoch (`claimOwnership`) and why appends never overwrite;
 * - streams.ts         stream reads (head, iterate, fold with pages, one event, time index, command ids)
 *                      and the staging of a command's events;
 * - partition-index.ts partition heads, partition reads, the index runs a commit writes;
 * - snapshots.ts, pages.ts   derived data: snapshots, event pages;
 * - stream-meta.ts     retention settings per stream and per type;
 * - write-chain.ts     commits (fenced and chained), durability, the failure state, the resume probe;
 * - batch-writer.ts    the port's `BatchWriter` over this class; view-store.ts the port's `ViewStore`.
 *
 * This class only delegates: a call costs one more method call than before the split, no allocation.
 * It keeps the wide surface that tools, tests and the bench use (`append`, `putSnapshot`, `stageAppend`
 * with envelopes, `commit` with a chain or none, `stagePage`...), besides the port's.
 */
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../../kernel/index.js';
import { LmdbEnvironment } from './environment.js';
import { OwnerFence } from './fence.js';
import { StreamStore } from './streams.js';
import { PartitionIndex } from './partition-index.js';
import { SnapshotStore } from './snapshots.js';
import { PageStore } from './pages.js';
import { StreamMetaStore } from './stream-meta.js';
import { PrefixRemover } from './prefix-removal.js';
import { LogCommitter, type StagedWrite, type WriteChain } from './write-chain.js';
import { LmdbBatchWriter } from './batch-writer.js';
import type { LmdbViewStore } from './view-store.js';
import { LmdbSubjectKeys } from './subject-keys.js';
import type { BatchWriter, CommandRecord, PartitionTrim, PrefixRemoval, Durability, EventLog, EventLogOptions, Evolve, FoldResult, RetentionSettings, StoredSnapshot, StreamHead, SubjectKeys } from '../port.js';

export class LmdbLog implements EventLog {
  readonly partitions: number;
  readonly durability: Durability;
  readonly path: string;
  /** Read-model rows and checkpoints, in the same environment (see view-store.ts). */
  readonly views: LmdbViewStore;
  readonly #env: LmdbEnvironment;
  readonly #fence: OwnerFence;
  readonly #streams: StreamStore;
  readonly #index: PartitionIndex;
  readonly #snapshots: SnapshotStore;
  readonly #pages: PageStore;
  readonly #meta: StreamMetaStore;
  readonly #removals: PrefixRemover;
  readonly #writes: LogCommitter;
  readonly #readOnly: boolean;
  #keys: LmdbSubjectKeys | null = null;

  private constructor(path: string, options: EventLogOptions) {
    this.path = path;
    this.#readOnly = options.readOnly ?? false;
    this.durability = options.durability ?? 'sync';
    const env = (this.#env = new LmdbEnvironment(path, options));
    this.views = env.views;
    this.partitions = env.partitions;
    this.#fence = new OwnerFence(env);
    this.#meta = new StreamMetaStore(env);
    this.#streams = new StreamStore(env, this.#fence, this.#meta);
    this.#index = new PartitionIndex(env, this.#fence, this.#streams, this.#meta);
    this.#snapshots = new SnapshotStore(env);
    this.#pages = new PageStore(env);
    this.#removals = new PrefixRemover(env, this.#streams, this.#meta);
    this.#writes = new LogCommitter(env, this.#fence, this.#index, this.durability);
  }

  /** Opens (or creates) the log in `dataDir`. Throws `PartitionMismatch` when P differs from the stored one. */
  static open(dataDir: string, options: EventLogOptions = {}): LmdbLog {
    // '' would be the working directory: a log nobody meant to create (a memory runtime has no data dir).
    if (typeof dataDir !== 'string' || dataDir === '') throw new RuntimeError(ErrorCodes.InvalidOptions, 'no data dir given for the LMDB log');
    return new LmdbLog(dataDir, options);
  }

  // ---------------------------------------------------------------- reads

  refreshReads(): void {
    this.#env.refreshReads();
  }

  streamHead(aggregateType: string, id: string): StreamHead {
    return this.#streams.streamHead(aggregateType, id);
  }

  iterateStream(aggregateType: string, id: string, from?: number, to?: number): Generator<EventEnvelope> {
    return this.#streams.iterateStream(aggregateType, id, from, to);
  }

  foldStream<S>(aggregateType: string, id: string, from: number, to: number, state: S, evolve: Evolve<S>): FoldResult<S> {
    return this.#streams.foldStream(aggregateType, id, from, to, state, evolve);
  }

  readStream(aggregateType: string, id: string, from?: number, limit?: number): EventEnvelope[] {
    return this.#streams.readStream(aggregateType, id, from, limit);
  }

  readEvent(aggregateType: string, id: string, seq: number): EventEnvelope | undefined {
    return this.#streams.readEvent(aggregateType, id, seq);
  }

  versionAt(aggregateType: string, id: string, at: number): number {
    return this.#streams.versionAt(aggregateType, id, at);
  }

  findCommand(aggregateType: string, id: string, commandId: string): CommandRecord | undefined {
    return this.#streams.findCommand(aggregateType, id, commandId);
  }

  iterateStreamIds(aggregateType: string): Generator<string> {
    return this.#streams.iterateStreamIds(aggregateType);
  }

  partitionHead(partition: number): number {
    return this.#index.partitionHead(partition);
  }

  iteratePartition(partition: number, from?: number, limit?: number): Generator<EventEnvelope> {
    return this.#index.iteratePartition(partition, from, limit);
  }

  readPartition(partition: number, from?: number, limit?: number): EventEnvelope[] {
    return this.#index.readPartition(partition, from, limit);
  }

  snapshotAtOrBelow<S>(aggregateType: string, id: string, maxVersion?: number): StoredSnapshot<S> | undefined {
    return this.#snapshots.snapshotAtOrBelow<S>(aggregateType, id, maxVersion);
  }

  snapshotVersions(aggregateType: string, id: string, limit?: number): number[] {
    return this.#snapshots.snapshotVersions(aggregateType, id, limit);
  }

  retention(aggregateType: string, id?: string): RetentionSettings | undefined {
    return this.#meta.retention(aggregateType, id);
  }

  streamsWithRetention(aggregateType: string): Generator<string> {
    return this.#meta.streamsWithRetention(aggregateType);
  }

  streamStart(aggregateType: string, id: string): number {
    return this.#streams.streamStart(aggregateType, id);
  }

  partitionStart(partition: number): number {
    return this.#index.partitionStart(partition);
  }

  // ---------------------------------------------------------------- writes (single owner per partition)

  /** One scavenge step on a stream (prefix-removal.ts): its own transaction, outside every chain, durable when resolved. */
  async removeStreamPrefix(aggregateType: string, id: string, below: number, budget?: number): Promise<PrefixRemoval> {
    this.#assertMetaWritable();
    const { puts, removed } = this.#removals.streamStep(aggregateType, id, below, budget);
    if (puts.length > 0) await this.#writes.commit([{ puts }]);
    return removed;
  }

  /** One scavenge step on a partition's index (prefix-removal.ts), as `removeStreamPrefix`. */
  async trimPartition(partition: number, upTo: number, budget?: number): Promise<PartitionTrim> {
    this.#assertMetaWritable();
    const { puts, trimmed } = this.#removals.partitionStep(partition, upTo, budget);
    if (puts.length > 0) await this.#writes.commit([{ puts }]);
    return trimmed;
  }

  #assertMetaWritable(): void {
    if (this.#env.streamMeta === undefined) throw new RuntimeError(ErrorCodes.InvalidOptions, 'the log is open read-only');
  }

  /** Outside every chain (stream-meta.ts says why), durable when resolved. */
  async setRetention(aggregateType: string, id: string | undefined, settings: RetentionSettings | null): Promise<void> {
    this.#assertMetaWritable();
    await this.#writes.commit([this.#meta.stageRetention(aggregateType, id, settings)]);
  }

  stageAppend(events: readonly EventEnvelope[], commandId?: string, commandDigest?: string, chain?: WriteChain, counted = false): StagedWrite {
    return this.#streams.stageAppend(events, commandId, commandDigest, chain, counted);
  }

  stagePage(events: readonly EventEnvelope[]): StagedWrite {
    return this.#pages.stagePage(events);
  }

  stageStoredPage(aggregateType: string, id: string, first: number): StagedWrite | null {
    return this.#pages.stageStoredPage(aggregateType, id, first);
  }

  stageSnapshot(aggregateType: string, id: string, snap: StoredSnapshot): StagedWrite {
    return this.#snapshots.stageSnapshot(aggregateType, id, snap);
  }

  /** A stream's start mark (tools: salvage of a scavenged stream; the scavenge writes its own). */
  stageStreamStart(aggregateType: string, id: string, seq: number): StagedWrite {
    return { puts: [this.#meta.stageStreamStart(aggregateType, id, seq)] };
  }

  /** A snapshot record as another log stored it (tools: salvage; its checksum binds it to the same address). */
  stageRawSnapshot(aggregateType: string, id: string, version: number, record: Buffer): StagedWrite {
    return this.#snapshots.stageRaw(aggregateType, id, version, record);
  }

  stageSnapshotRemoval(aggregateType: string, id: string, version: number): StagedWrite {
    return this.#snapshots.stageSnapshotRemoval(aggregateType, id, version);
  }

  /** See `LogCommitter.commit` (write-chain.ts): without `chain` (tools), call `durable()` afterwards. */
  commit(staged: readonly StagedWrite[], alsoInTransaction?: () => void, chain?: WriteChain): Promise<void> {
    return this.#writes.commit(staged, alsoInTransaction, chain);
  }

  /** Stage and commit in one step (tools and tests; the actor host stages first, see `commit`). */
  append(events: readonly EventEnvelope[], commandId?: string): void {
    this.commit([this.stageAppend(events, commandId)]);
  }

  putSnapshot(aggregateType: string, id: string, snap: StoredSnapshot): void {
    this.commit([this.stageSnapshot(aggregateType, id, snap)]);
  }

  claimOwnership(holder: string): number {
    return this.#fence.claimOwnership(holder);
  }

  ownerEpoch(): number {
    return this.#fence.ownerEpoch();
  }

  /** A writer whose batches are chained and fenced (see `LogCommitter.startWriteChain`). */
  openWriter(writerId: string, epoch: number, partitions: readonly number[]): BatchWriter {
    return new LmdbBatchWriter(this, this.#writes.startWriteChain(writerId, epoch), partitions);
  }

  durable(): Promise<void> {
    return this.#writes.durable();
  }

  get failure(): RuntimeError | null {
    return this.#writes.failure;
  }

  probeWrite(): Promise<void> {
    return this.#writes.probeWrite();
  }

  /** The key store (subject-keys.ts), opened on first use: a data dir without personal data has none. */
  get subjectKeys(): SubjectKeys {
    return (this.#keys ??= new LmdbSubjectKeys(this.path, this.#readOnly));
  }

  async close(): Promise<void> {
    await this.#keys?.close();
    return this.#env.close(this.#writes.unsettledWrite);
  }
}
