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
 * The same layer seals and opens personal data (crypto-shredding: personal-data.ts, subject-cipher.ts):
 * appends seal the fields deciders declare personal and snapshots of their types, the view store seals
 * the rows' declared fields, and every read opens them (or reads `null` once the subject is forgotten).
 * So the log port, and every adapter behind it, only ever holds ciphertext of personal data.
 *
 * Gotchas:
 * - Derived copies of events must hold what is stored, not what is decoded: pages (page-writer.ts) are
 *   copied from the stored records by the adapter (`stageStoredPage`, passed through untouched here), or
 *   a page would keep one build's upcast data and disagree with its events (and with `eventide verify`).
 *   Snapshots hold states, which `snapshotVersion` already versions.
 * - When no decider declares `events` or `personalData`, `versionedLog` returns the log itself: no cost at all.
 * - Appends hand on the data as decided (replies, live projections, the feed), not the sealed data the
 *   adapter stored: `stageAppend` puts it back into the staged envelopes after the adapter encoded them.
 * - Idempotent: a log that is already versioned is returned as it is, never wrapped twice. A second
 *   layer would decode every read again, and `storedReads` would peel off only the outer one. Passing a versioned log happens by design with the in-memory
 *   log, whose actor hosts run on the main thread on the very log object createRuntime wrapped
 *   (`ActorHost.start`'s `shared`, inline-thread.ts); both ends load the same domain modules, so the
 *   decoder already there is the one the given deciders would build.
 */
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../kernel/index.js';
import type { AnyDecider } from '../domain/index.js';
import { refusedAfter, type AppendRequest, type BatchWriter, type CommandRecord, type Committed, type Durability, type EventLog, type Evolve, type FoldResult, type LogReader, type PartitionTrim, type PrefixRemoval, type RetentionSettings, type Staged, type StoredSnapshot, type StreamHead, type SubjectKeys, type ViewMeta, type ViewStore } from '../log/index.js';
import { EventDecoder } from './upcast.js';
import { openRow, PersonalFields, sealRow, type RowSeal } from './personal-data.js';

/**
 * `log` as `deciders` see it (checks their `events` and `personalData` declarations: InvalidOptions);
 * `log` itself when none declares any, or when it is versioned already (see the header).
 */
export function versionedLog(log: EventLog, deciders: Iterable<AnyDecider>): EventLog {
  if (isVersioned(log)) return log;
  const all = [...deciders];
  const decoder = EventDecoder.of(all);
  const personal = PersonalFields.of(all);
  if (decoder.identity && personal.none) return log;
  const keys = log.subjectKeys;
  // A log without a key store (JetStream: cluster mode, README) stores personal data as given.
  if (personal.none || keys === undefined) return decoder.identity ? log : new VersionedLog(log, decoder, null);
  return new VersionedLog(log, decoder, { fields: personal, keys });
}

/** The personal fields of the deciders, and the keys they are sealed with (personal-data.ts). */
interface Sealing {
  readonly fields: PersonalFields;
  readonly keys: SubjectKeys;
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
  readonly #sealing: Sealing | null;
  readonly views: ViewStore;

  constructor(log: EventLog, decoder: EventDecoder, sealing: Sealing | null) {
    this.stored = log;
    this.#decoder = decoder;
    this.#sealing = sealing;
    this.views = sealing === null ? log.views : new SealedViewStore(log.views, sealing.keys);
  }

  // ------------------------------------------------------------ reads that hand out events: decoded

  /** True when events of `aggregateType` may need decoding (upcasting or opening). */
  #decodes(aggregateType: string): boolean {
    return this.#decoder.decodes(aggregateType) || (this.#sealing?.fields.declares(aggregateType) ?? false);
  }

  /** One envelope as this build reads it: personal fields opened (or redacted), then upcast. */
  #envelope(e: EventEnvelope): EventEnvelope {
    const s = this.#sealing;
    if (s !== null && s.fields.carries(e.aggregateType, e.type)) {
      const data = s.fields.open(s.keys, e.aggregateType, e.stream, e.type, e.data);
      if (data !== e.data) e = { ...e, data };
    }
    return this.#decoder.envelope(e);
  }

  *iterateStream(aggregateType: string, id: string, from?: number, to?: number): Generator<EventEnvelope> {
    const events = this.stored.iterateStream(aggregateType, id, from, to);
    if (!this.#decodes(aggregateType)) return yield* events;
    for (const e of events) yield this.#envelope(e);
  }

  readStream(aggregateType: string, id: string, from?: number, limit?: number): EventEnvelope[] {
    return this.#decoded(aggregateType, this.stored.readStream(aggregateType, id, from, limit));
  }

  readEvent(aggregateType: string, id: string, seq: number): EventEnvelope | undefined {
    const e = this.stored.readEvent(aggregateType, id, seq);
    return e === undefined ? undefined : this.#envelope(e);
  }

  foldStream<S>(aggregateType: string, id: string, from: number, to: number, state: S, evolve: Evolve<S>): FoldResult<S> {
    const upcasting = this.#decoder.evolve(aggregateType, evolve);
    const s = this.#sealing;
    if (s === null || !s.fields.declares(aggregateType)) return this.stored.foldStream(aggregateType, id, from, to, state, upcasting);
    const { fields, keys } = s;
    // The fold's hot loop: one set lookup per event; only events with personal fields are copied.
    const carrying = fields.typesOf(aggregateType);
    const opening: Evolve<S> = (state, event, schemaVersion) =>
      carrying.has(event.type) ? upcasting(state, { type: event.type, data: fields.open(keys, aggregateType, id, event.type, event.data) }, schemaVersion) : upcasting(state, event, schemaVersion);
    return this.stored.foldStream(aggregateType, id, from, to, state, opening);
  }

  *iteratePartition(partition: number, from?: number, limit?: number): Generator<EventEnvelope> {
    for (const e of this.stored.iteratePartition(partition, from, limit)) yield this.#envelope(e);
  }

  readPartition(partition: number, from?: number, limit?: number): EventEnvelope[] {
    const events = this.stored.readPartition(partition, from, limit);
    for (let i = 0; i < events.length; i++) events[i] = this.#envelope(events[i]!);
    return events;
  }

  #decoded(aggregateType: string, events: EventEnvelope[]): EventEnvelope[] {
    if (!this.#decodes(aggregateType)) return events;
    for (let i = 0; i < events.length; i++) events[i] = this.#envelope(events[i]!);
    return events;
  }

  snapshotAtOrBelow<S>(aggregateType: string, id: string, maxVersion?: number): StoredSnapshot<S> | undefined {
    const snap = this.stored.snapshotAtOrBelow<S>(aggregateType, id, maxVersion);
    const s = this.#sealing;
    if (snap === undefined || s === null || !s.fields.declares(aggregateType)) return snap;
    return s.fields.openSnapshot(s.keys, aggregateType, id, snap);
  }

  // ------------------------------------------------------------ appends: stamped with the current versions, personal fields sealed

  openWriter(writerId: string, epoch: number, partitions: readonly number[]): BatchWriter {
    return new VersionedWriter(this.stored.openWriter(writerId, epoch, partitions), this.#decoder, this.#sealing);
  }

  get subjectKeys(): SubjectKeys | undefined {
    return this.stored.subjectKeys;
  }

  // ------------------------------------------------------------ everything else: as the log answers

  get partitions(): number {
    return this.stored.partitions;
  }
  get durability(): Durability {
    return this.stored.durability;
  }
  get failure() {
    return this.stored.failure;
  }
  refreshReads(): void {
    this.stored.refreshReads();
    // A reader that must see every commit must also see every forget (a key deleted since).
    this.#sealing?.keys.refreshReads();
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
  streamsWithRetention(aggregateType: string): Iterable<string> {
    return this.stored.streamsWithRetention(aggregateType);
  }
  streamStart(aggregateType: string, id: string): number {
    return this.stored.streamStart(aggregateType, id);
  }
  partitionStart(partition: number): number {
    return this.stored.partitionStart(partition);
  }
  removeStreamPrefix(aggregateType: string, id: string, below: number, budget?: number): Promise<PrefixRemoval> {
    return this.stored.removeStreamPrefix(aggregateType, id, below, budget);
  }
  trimPartition(partition: number, upTo: number, budget?: number): Promise<PartitionTrim> {
    return this.stored.trimPartition(partition, upTo, budget);
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

/** A writer whose appends carry each event's current schema version (upcast.ts `stamp`) and personal fields sealed. */
class VersionedWriter implements BatchWriter {
  readonly #writer: BatchWriter;
  readonly #decoder: EventDecoder;
  readonly #sealing: Sealing | null;

  constructor(writer: BatchWriter, decoder: EventDecoder, sealing: Sealing | null) {
    this.#writer = writer;
    this.#decoder = decoder;
    this.#sealing = sealing;
  }

  stageAppend(request: AppendRequest): Staged {
    const stamped = this.#decoder.stamps(request.aggregateType) ? this.#decoder.stamp(request.aggregateType, request.events) : request.events;
    const s = this.#sealing;
    const sealed = s === null ? stamped : s.fields.seal(s.keys, request.aggregateType, request.stream, stamped);
    if (sealed === request.events) return this.#writer.stageAppend(request);
    const staged = this.#writer.stageAppend({ ...request, events: sealed });
    // The log holds the sealed data (the adapter encoded it while staging); what this process hands on
    // (the reply, the state cache, live projections, the feed) is the data as decided.
    if (sealed !== stamped && staged.events) for (let i = 0; i < staged.events.length; i++) (staged.events[i] as { data: unknown }).data = request.events[i]!.data;
    return staged;
  }

  /** A state of a type with personal data is sealed; a forgotten subject's is not kept (its removal is staged instead, a no-op when absent). */
  stageSnapshot(aggregateType: string, id: string, snapshot: StoredSnapshot): Staged {
    const s = this.#sealing;
    if (s === null || !s.fields.declares(aggregateType)) return this.#writer.stageSnapshot(aggregateType, id, snapshot);
    const sealed = s.fields.sealSnapshot(s.keys, aggregateType, id, snapshot);
    return sealed === undefined ? this.#writer.stageSnapshotRemoval(aggregateType, id, snapshot.version) : this.#writer.stageSnapshot(aggregateType, id, sealed);
  }
  stageSnapshotRemoval(aggregateType: string, id: string, version: number): Staged {
    return this.#writer.stageSnapshotRemoval(aggregateType, id, version);
  }
  stagePage(events: readonly EventEnvelope[]): Staged {
    return this.#writer.stagePage(events);
  }
  /** The stored bytes, as a page must hold (see the header): nothing to decode or seal here. */
  stageStoredPage(aggregateType: string, id: string, first: number): Staged | null {
    return this.#writer.stageStoredPage(aggregateType, id, first);
  }
  /**
   * The keys made for this batch's sealed values are made durable first (one synced transaction in the
   * key store, subject-keys.ts): nothing sealed may commit before its key can outlive a crash. When
   * they cannot be, this batch and every later one are refused (the write-chain rule, log/port.ts:
   * their positions follow this batch's, which never reaches the log).
   */
  commit(staged: readonly Staged[], alsoInBatch?: () => void): Promise<Committed> {
    if (this.#failed !== null) return Promise.reject(refusedAfter(this.#failed));
    try {
      this.#sealing?.keys.persist();
    } catch (err) {
      this.#failed = new RuntimeError(ErrorCodes.StorageFailed, `the key store could not record new data-subject keys: ${(err as Error)?.message ?? String(err)}`, { outcome: 'not-applied' }, true);
      return Promise.reject(this.#failed);
    }
    return this.#writer.commit(staged, alsoInBatch);
  }
  head(partition: number): number {
    return this.#writer.head(partition);
  }
  reloadHead(partition: number): number {
    return this.#writer.reloadHead(partition);
  }
  get failure() {
    return this.#failed ?? this.#writer.failure;
  }
  /** The key store's refusal (see `commit`); null while it has not refused. */
  #failed: RuntimeError | null = null;
}

/** A view store whose rows have their declared personal fields sealed (personal-data.ts `sealRow`). */
class SealedViewStore implements ViewStore {
  readonly #views: ViewStore;
  readonly #keys: SubjectKeys;

  constructor(views: ViewStore, keys: SubjectKeys) {
    this.#views = views;
    this.#keys = keys;
  }

  get joinsLogBatch(): boolean {
    return this.#views.joinsLogBatch;
  }
  getRow<R>(view: string, generation: number, id: string): R | undefined {
    const row = this.#views.getRow<R>(view, generation, id);
    return row === undefined ? undefined : openRow(this.#keys, view, id, row);
  }
  *rows<R>(view: string, generation: number, after?: string, limit?: number): Iterable<{ id: string; row: R }> {
    for (const { id, row } of this.#views.rows<R>(view, generation, after, limit)) yield { id, row: openRow(this.#keys, view, id, row) };
  }
  putRow(view: string, generation: number, id: string, row: unknown, seals?: (RowSeal | undefined)[]): Promise<unknown> {
    return this.#views.putRow(view, generation, id, row === undefined ? row : sealRow(this.#keys, view, id, row, seals));
  }
  meta(view: string): ViewMeta {
    return this.#views.meta(view);
  }
  setMeta(view: string, meta: ViewMeta): Promise<void> {
    return this.#views.setMeta(view, meta);
  }
  checkpoint(view: string, generation: number, partition: number): number {
    return this.#views.checkpoint(view, generation, partition);
  }
  putCheckpoint(view: string, generation: number, partition: number, offset: number): Promise<unknown> {
    return this.#views.putCheckpoint(view, generation, partition, offset);
  }
  dropGeneration(view: string, generation: number): Promise<void> {
    return this.#views.dropGeneration(view, generation);
  }
  committed(): Promise<void> {
    return this.#views.committed();
  }
}
