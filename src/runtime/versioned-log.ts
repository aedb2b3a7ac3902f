/**
 * The log as this build's deciders see it: a decorator of any `EventLog` (log/port.ts) whose reads hand
 * out events at their decider's current schema version and whose appends store the version decided
 * (the decoding itself is upcast.ts). The runtime wraps its log once per thread, right where it opens
 * it (createRuntime on the main thread, the actor host in each worker), so everything that reads
 * through the runtime gets decoded events without knowing versions exist: hydration and the time
 * machine (`foldStream`), history and diff (`readStream`), command retries (`readStream`), the feed's
 * catch-up and the views' catch-up, rebuild and reconcile (`iteratePartition`, handed to worker plugins
 * as `ctx.log`, and `runtime.log` on the main thread).
 *
 * Why one decorator rather than a decode call at each read site: the sites are many and grow (decoding
 * used to live in three places); a read path that forgets to decode would hand an old shape to code
 * written for the new one, silently. Wrapping the log makes decoding the default and raw reads the
 * exception (`storedReads`).
 *
 * Gotchas:
 * - Derived copies of events must hold what is stored, not what is decoded: pages (page-writer.ts) read
 *   through `storedReads`, or a page would keep one build's upcast data and disagree with its events
 *   (and with `eventide verify`). Snapshots hold states, which `snapshotVersion` already versions.
 * - When no decider declares `events`, `versionedLog` returns the log itself: no cost at all.
 * - Idempotent: a log that is already versioned is returned as it is, never wrapped twice. A second
 *   layer would decode every read again, and `storedReads` would peel off only the outer one, so pages
 *   would be written from decoded events. Passing a versioned log happens by design with the in-memory
 *   log, whose actor hosts run on the main thread on the very log object createRuntime wrapped
 *   (`ActorHost.start`'s `shared`, inline-thread.ts); both ends load the same domain modules, so the
 *   decoder already there is the one the given deciders would build.
 */
import type { EventEnvelope } from '../kernel/index.js';
import type { AnyDecider } from '../domain/index.js';
import type { AppendRequest, BatchWriter, CommandRecord, Committed, Durability, EventLog, Evolve, FoldResult, LogReader, RetentionSettings, Staged, StoredSnapshot, StreamHead, ViewStore } from '../log/index.js';
import { EventDecoder } from './upcast.js';

/**
 * `log` as `deciders` see it (checks their `events` declarations: InvalidOptions); `log` itself when
 * none declares any, or when it is versioned already (see the header).
 */
export function versionedLog(log: EventLog, deciders: Iterable<AnyDecider>): EventLog {
  if (isVersioned(log)) return log;
  const decoder = EventDecoder.of(deciders);
  return decoder.identity ? log : new VersionedLog(log, decoder);
}

/** True when `log` is a log `versionedLog` made (its reads are decoded already). */
export function isVersioned(log: LogReader): boolean {
  return log instanceof VersionedLog;
}

/** The reads of `log` exactly as stored (for derived copies of events, such as pages). */
export function storedReads(log: LogReader): LogReader {
  return log instanceof VersionedLog ? log.stored : log;
}

class VersionedLog implements EventLog {
  /** The undecorated log. */
  readonly stored: EventLog;
  readonly #decoder: EventDecoder;

  constructor(log: EventLog, decoder: EventDecoder) {
    this.stored = log;
    this.#decoder = decoder;
  }

  // ------------------------------------------------------------ reads that hand out events: decoded

  *iterateStream(aggregateType: string, id: string, from?: number, to?: number): Generator<EventEnvelope> {
    const events = this.stored.iterateStream(aggregateType, id, from, to);
    if (!this.#decoder.decodes(aggregateType)) return yield* events;
    for (const e of events) yield this.#decoder.envelope(e);
  }

  readStream(aggregateType: string, id: string, from?: number, limit?: number): EventEnvelope[] {
    return this.#decoded(aggregateType, this.stored.readStream(aggregateType, id, from, limit));
  }

  readEvent(aggregateType: string, id: string, seq: number): EventEnvelope | undefined {
    const e = this.stored.readEvent(aggregateType, id, seq);
    return e === undefined ? undefined : this.#decoder.envelope(e);
  }

  foldStream<S>(aggregateType: string, id: string, from: number, to: number, state: S, evolve: Evolve<S>): FoldResult<S> {
    return this.stored.foldStream(aggregateType, id, from, to, state, this.#decoder.evolve(aggregateType, evolve));
  }

  *iteratePartition(partition: number, from?: number, limit?: number): Generator<EventEnvelope> {
    for (const e of this.stored.iteratePartition(partition, from, limit)) yield this.#decoder.envelope(e);
  }

  readPartition(partition: number, from?: number, limit?: number): EventEnvelope[] {
    const events = this.stored.readPartition(partition, from, limit);
    for (let i = 0; i < events.length; i++) events[i] = this.#decoder.envelope(events[i]!);
    return events;
  }

  #decoded(aggregateType: string, events: EventEnvelope[]): EventEnvelope[] {
    if (!this.#decoder.decodes(aggregateType)) return events;
    for (let i = 0; i < events.length; i++) events[i] = this.#decoder.envelope(events[i]!);
    return events;
  }

  // ------------------------------------------------------------ appends: stamped with the current versions

  openWriter(writerId: string, epoch: number, partitions: readonly number[]): BatchWriter {
    return new VersionedWriter(this.stored.openWriter(writerId, epoch, partitions), this.#decoder);
  }

  // ------------------------------------------------------------ everything else: as the log answers

  get partitions(): number {
    return this.stored.partitions;
  }
  get views(): ViewStore {
    return this.stored.views;
  }
  get durability(): Durability {
    return this.stored.durability;
  }
  get failure() {
    return this.stored.failure;
  }
  refreshReads(): void {
    this.stored.refreshReads();
  }
  streamHead(aggregateType: string, id: string): StreamHead {
    return this.stored.streamHead(aggregateType, id);
  }
  versionAt(aggregateType: string, id: string, at: number): number {
    return this.stored.versionAt(aggregateType, id, at);
  }
  partitionHead(partition: number): number {
    return this.stored.partitionHead(partition);
  }
  findCommand(aggregateType: string, id: string, commandId: string): CommandRecord | undefined {
    return this.stored.findCommand(aggregateType, id, commandId);
  }
  snapshotAtOrBelow<S>(aggregateType: string, id: string, maxVersion?: number): StoredSnapshot<S> | undefined {
    return this.stored.snapshotAtOrBelow<S>(aggregateType, id, maxVersion);
  }
  snapshotVersions(aggregateType: string, id: string, limit?: number): number[] {
    return this.stored.snapshotVersions(aggregateType, id, limit);
  }
  iterateStreamIds(aggregateType: string): Iterable<string> {
    return this.stored.iterateStreamIds(aggregateType);
  }
  retention(aggregateType: string, id?: string): RetentionSettings | undefined {
    return this.stored.retention(aggregateType, id);
  }
  setRetention(aggregateType: string, id: string | undefined, settings: RetentionSettings | null): Promise<void> {
    return this.stored.setRetention(aggregateType, id, settings);
  }
  claimOwnership(holder: string): number {
    return this.stored.claimOwnership(holder);
  }
  ownerEpoch(): number {
    return this.stored.ownerEpoch();
  }
  durable(): Promise<void> {
    return this.stored.durable();
  }
  probeWrite(): Promise<void> {
    return this.stored.probeWrite();
  }
  close(): Promise<void> {
    return this.stored.close();
  }
}

/** A writer whose appends carry each event's current schema version (upcast.ts `stamp`). */
class VersionedWriter implements BatchWriter {
  readonly #writer: BatchWriter;
  readonly #decoder: EventDecoder;

  constructor(writer: BatchWriter, decoder: EventDecoder) {
    this.#writer = writer;
    this.#decoder = decoder;
  }

  stageAppend(request: AppendRequest): Staged {
    if (!this.#decoder.stamps(request.aggregateType)) return this.#writer.stageAppend(request);
    return this.#writer.stageAppend({ ...request, events: this.#decoder.stamp(request.aggregateType, request.events) });
  }

  stageSnapshot(aggregateType: string, id: string, snapshot: StoredSnapshot): Staged {
    return this.#writer.stageSnapshot(aggregateType, id, snapshot);
  }
  stageSnapshotRemoval(aggregateType: string, id: string, version: number): Staged {
    return this.#writer.stageSnapshotRemoval(aggregateType, id, version);
  }
  stagePage(events: readonly EventEnvelope[]): Staged {
    return this.#writer.stagePage(events);
  }
  commit(staged: readonly Staged[], alsoInBatch?: () => void): Promise<Committed> {
    return this.#writer.commit(staged, alsoInBatch);
  }
  head(partition: number): number {
    return this.#writer.head(partition);
  }
  reloadHead(partition: number): number {
    return this.#writer.reloadHead(partition);
  }
  get failure() {
    return this.#writer.failure;
  }
}
