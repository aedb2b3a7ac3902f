/**
 * The port's `EventLog` in memory: the same contract as the LMDB log (test/log/contract/), for tests,
 * examples and trying the runtime without a data dir. Reads and writes behave as on LMDB: positions
 * assigned at staging by the writer, batches applied whole or not at all, the owner epoch as a fence,
 * the write-chain rule, the view store joining a batch, commits resolving after the call that made them.
 *
 * Not durable: everything is gone when the process ends (`durability` is `commit`: a batch is
 * acknowledged once visible, and there is nothing more to wait for). It lives in one thread: a worker
 * thread cannot open the same memory log (each `openMemoryLog` is a log of its own, empty), so a runtime
 * on a memory log cannot share it with actor workers the way LMDB shares a data dir.
 *
 * What is stored is the bytes LMDB stores (`encodeRecord`: msgpack, framed): what LMDB cannot hold fails
 * here too, at staging, and what comes back is a fresh object on every read (a caller changing an event
 * it read, or data it appended, never changes the log).
 *
 * Gotchas:
 * - Reads see a batch once it applied (write-queue.ts: a microtask after `commit`); `refreshReads` has
 *   nothing to do, as memory reads keep no snapshot.
 * - A failure is the log's, as on LMDB: after a refused batch every commit of every writer of this log
 *   is refused until `probeWrite` succeeds (and a writer whose chain broke stays refused: open a new one).
 */
import { MemorySubjectKeys } from './memory-subject-keys.js';
import { ErrorCodes, RuntimeError, errors, type EventEnvelope } from '../../kernel/index.js';
import { decodeRecord, encodeRecord } from '../record-codec.js';
import { EVENT_PAGE } from '../event-page.js';
import { refusedAfter } from '../storage-failure.js';
import type { BatchWriter, CommandRecord, Durability, EventLog, Evolve, FoldResult, PartitionTrim, PrefixRemoval, RetentionSettings, Staged, StoredSnapshot, StreamHead } from '../port.js';
import { byKey, MemoryStore, REMOVED, type StoreOp, type StreamData, type WriteChain } from './memory-store.js';
import { toEnvelope, type StoredEvent } from '../stored-event.js';
import { MemoryViewStore, type ViewBatch } from './memory-view-store.js';
import { MemoryBatchWriter, MemoryStaged, type WriterBackend } from './memory-writer.js';
import { WriteQueue } from './write-queue.js';
import { foldPage, PAGE_PART_MIN, pageStart, scavenged, take, versionAt } from '../read-helpers.js';

export interface MemoryLogOptions {
  /** Partition count (default 16, like a new LMDB data dir). */
  partitions?: number;
}

export class MemoryLog implements EventLog {
  readonly partitions: number;
  /** Acknowledged once visible: memory has no disk to wait for, and keeps nothing past the process. */
  readonly durability: Durability = 'commit';
  readonly views: MemoryViewStore;
  /** This log's subject keys (crypto-shredding): in memory, like everything else here. */
  readonly subjectKeys = new MemorySubjectKeys();
  readonly #store: MemoryStore;
  readonly #queue = new WriteQueue();
  readonly #backend: WriterBackend;
  #failure: RuntimeError | null = null;
  #lastDone: Promise<unknown> | null = null;
  #closed = false;
  /** Retention settings by `type\u0000id` ('' for the type's), encoded as LMDB stores them. */
  readonly #retention = new Map<string, Buffer>();

  constructor(options: MemoryLogOptions = {}) {
    const partitions = options.partitions ?? 16;
    if (!Number.isInteger(partitions) || partitions < 1) throw new RuntimeError(ErrorCodes.InvalidOptions, `partitions must be a positive integer, got ${String(partitions)}`);
    this.partitions = partitions;
    this.#store = new MemoryStore(partitions);
    this.views = new MemoryViewStore(this.#queue);
    const failure = (): RuntimeError | null => this.#failure;
    this.#backend = {
      store: this.#store,
      get failure() {
        return failure();
      },
      commit: (chain, staged, alsoInBatch) => this.#commit(chain, staged, alsoInBatch),
    };
  }

  // ---------------------------------------------------------------- reads

  refreshReads(): void {
    // Nothing to renew: reads look at the store itself, which a batch changes in one step.
  }

  streamHead(aggregateType: string, id: string): StreamHead {
    const events = this.#store.stream(aggregateType, id)?.events;
    const last = events?.[events.length - 1];
    if (!events || !last) return { version: 0, ts: 0 };
    const r = decodeRecord<StoredEvent>(last, 'events', [aggregateType, id, events.length]);
    return { version: events.length, ts: r[2], offset: r[4] };
  }

  *iterateStream(aggregateType: string, id: string, from = 1, to = Number.MAX_SAFE_INTEGER): Generator<EventEnvelope> {
    const stream = this.#store.stream(aggregateType, id);
    if (!stream) return;
    const events = stream.events;
    for (let seq = Math.max(1, from, stream.start); seq <= to && seq <= events.length; seq++) yield this.#envelope(aggregateType, id, seq, events[seq - 1]!);
  }

  readStream(aggregateType: string, id: string, from = 1, limit = Number.MAX_SAFE_INTEGER): EventEnvelope[] {
    return take(this.iterateStream(aggregateType, id, from), limit);
  }

  readEvent(aggregateType: string, id: string, seq: number): EventEnvelope | undefined {
    const record = Number.isInteger(seq) && seq >= 1 ? this.#store.stream(aggregateType, id)?.events[seq - 1] : undefined;
    return record && record !== REMOVED ? this.#envelope(aggregateType, id, seq, record) : undefined;
  }

  /** As LMDB folds: pages over `from..to` (parts of at least PAGE_PART_MIN events) from the pages, every other event one by one; `evolve` gets the stored schema version third. */
  foldStream<S>(aggregateType: string, id: string, from: number, to: number, state: S, evolve: Evolve<S>): FoldResult<S> {
    const out: FoldResult<S> = { state, version: 0, ts: 0, folded: 0, paged: 0 };
    const stream = this.#store.stream(aggregateType, id);
    if (!stream) return out;
    let next = Math.max(1, from);
    if (next < stream.start && to >= next) throw scavenged(aggregateType, id, stream.start);
    const firsts = [...stream.pages.keys()].filter((first) => first >= pageStart(next) && first <= to).sort((a, b) => a - b);
    for (const first of firsts) {
      const lo = Math.max(first, next);
      const hi = Math.min(first + EVENT_PAGE - 1, to);
      if (hi - lo + 1 < PAGE_PART_MIN) continue;
      if (lo > next && foldEvents(stream, aggregateType, id, next, lo - 1, out, evolve) !== lo) return out;
      const key = [aggregateType, id, first];
      foldPage(out, decodeRecord<StoredEvent[]>(stream.pages.get(first)!, 'pages', key), first, evolve, key, lo, hi);
      next = hi + 1;
    }
    foldEvents(stream, aggregateType, id, next, to, out, evolve);
    return out;
  }

  versionAt(aggregateType: string, id: string, at: number): number {
    return versionAt(this, aggregateType, id, at);
  }

  partitionHead(partition: number): number {
    return this.#store.partition(partition).length;
  }

  /** As on LMDB: from the partition's start, skipping events a scavenge removed; `limit` bounds offsets. */
  *iteratePartition(partition: number, from = 0, limit = Number.MAX_SAFE_INTEGER): Generator<EventEnvelope> {
    const refs = this.#store.partition(partition);
    const end = Math.min(refs.length, from + Math.max(0, limit));
    for (let offset = Math.max(0, from, this.#store.partitionStarts[partition] ?? 0); offset < end; offset++) {
      const [aggregateType, id, seq] = refs[offset]!;
      const record = this.#store.stream(aggregateType, id)!.events[seq - 1]!;
      if (record !== REMOVED) yield this.#envelope(aggregateType, id, seq, record);
    }
  }

  partitionStart(partition: number): number {
    return this.#store.partitionStarts[partition] ?? 0;
  }

  streamStart(aggregateType: string, id: string): number {
    return this.#store.stream(aggregateType, id)?.start ?? 1;
  }

  *streamsWithRetention(aggregateType: string): Generator<string> {
    const prefix = aggregateType + '\u0000';
    const ids = [...this.#retention.keys()].filter((k) => k.startsWith(prefix) && k.length > prefix.length).map((k) => k.slice(prefix.length));
    yield* ids.sort(byKey);
  }

  /** At most `limit` (default 1000, as on LMDB) events of a partition from offset `from`. */
  readPartition(partition: number, from = 0, limit = 1000): EventEnvelope[] {
    return [...this.iteratePartition(partition, from, limit)];
  }

  findCommand(aggregateType: string, id: string, commandId: string): CommandRecord | undefined {
    const record = this.#store.stream(aggregateType, id)?.commands.get(commandId);
    if (!record) return undefined;
    const [first, last, digest] = decodeRecord<[number, number, string?]>(record, 'commands', [aggregateType, id, commandId]);
    return digest === undefined ? { first, last } : { first, last, digest };
  }

  snapshotAtOrBelow<S>(aggregateType: string, id: string, maxVersion = Number.MAX_SAFE_INTEGER): StoredSnapshot<S> | undefined {
    const snapshots = this.#store.stream(aggregateType, id)?.snapshots;
    let version = 0;
    for (const v of snapshots?.keys() ?? []) if (v > version && v <= maxVersion) version = v;
    if (!snapshots || version === 0) return undefined;
    const [snapshotVersion, state, ts] = decodeRecord<[number, S, number]>(snapshots.get(version)!, 'snapshots', [aggregateType, id, version]);
    return { version, snapshotVersion, state, ts };
  }

  snapshotVersions(aggregateType: string, id: string, limit = Number.MAX_SAFE_INTEGER): number[] {
    const versions = [...(this.#store.stream(aggregateType, id)?.snapshots.keys() ?? [])].filter((v) => v > 0);
    return versions.sort((a, b) => b - a).slice(0, Math.max(0, limit));
  }

  *iterateStreamIds(aggregateType: string): Generator<string> {
    yield* this.#store.streamIds(aggregateType);
  }

  retention(aggregateType: string, id?: string): RetentionSettings | undefined {
    const key = [aggregateType, id ?? ''];
    const record = this.#retention.get(key.join('\u0000'));
    return record ? decodeRecord<RetentionSettings>(record, 'stream_meta', key) : undefined;
  }

  #envelope(aggregateType: string, stream: string, seq: number, record: Buffer): EventEnvelope {
    return toEnvelope(aggregateType, stream, seq, decodeRecord<StoredEvent>(record, 'events', [aggregateType, stream, seq]));
  }

  // ---------------------------------------------------------------- owner, writers, commits

  get failure(): RuntimeError | null {
    return this.#failure;
  }

  claimOwnership(holder: string): number {
    if (this.#closed) throw errors.closed();
    return this.#store.claim(holder);
  }

  ownerEpoch(): number {
    return this.#store.ownerEpoch;
  }

  openWriter(writerId: string, epoch: number, partitions: readonly number[]): BatchWriter {
    if (this.#closed) throw errors.closed();
    return new MemoryBatchWriter(this.#backend, this.#store.chainOf(writerId, epoch), partitions);
  }

  /**
   * A writer's commit: refused at once when the log has failed (nothing runs, as on LMDB); otherwise
   * `alsoInBatch` runs now, gathering its view writes into the batch, and the batch takes the next
   * version of the writer's chain and is queued. When its turn comes it applies whole, with those view
   * writes, or is refused whole (fenced, an earlier batch of the chain failed, a position taken); a
   * refused batch fails the log, and every later batch of its writer is refused by the chain.
   */
  #commit(chain: WriteChain, staged: readonly Staged[], alsoInBatch: (() => void) | undefined): Promise<void> {
    if (this.#closed) return Promise.reject(errors.closed());
    if (this.#failure) return Promise.reject(this.#failure.code === ErrorCodes.Fenced ? this.#failure : refusedAfter(this.#failure));
    const ops: StoreOp[] = [];
    for (const s of staged) {
      if (!(s instanceof MemoryStaged) || s.store !== this.#store) return Promise.reject(new RuntimeError(ErrorCodes.Internal, 'a memory log commits only what its own writers staged'));
      for (const op of s.ops) ops.push(op);
    }
    const version = chain.version++;
    let views: ViewBatch | null = null;
    let broken: { err: unknown } | null = null;
    try {
      if (alsoInBatch) views = this.views.collect(alsoInBatch);
    } catch (err) {
      // Applies nothing, yet takes its place in the chain: the batches after it are refused too.
      broken = { err };
    }
    const done = this.#queue
      .push(() => {
        if (broken) throw broken.err;
        this.#store.apply(chain, version, ops);
        if (views) this.views.apply(views.ops);
      })
      .then(
        () => views?.settle(true),
        (err: unknown) => {
          views?.settle(false);
          this.#failure ??= RuntimeError.is(err) ? err : new RuntimeError(ErrorCodes.Internal, `a batch failed: ${String(err)}`);
          throw err;
        },
      );
    done.catch(() => undefined);
    this.#lastDone = done;
    return done;
  }

  /** Resolves when every batch committed so far has applied (rejects with the last one's failure). */
  async durable(): Promise<void> {
    const done = this.#lastDone;
    this.#lastDone = null;
    if (done) await done;
  }

  /** Memory cannot fail to write: once the writes queued before it are through, writes are accepted again. */
  async probeWrite(): Promise<void> {
    if (this.#closed) throw errors.closed();
    await this.#queue.push(() => undefined);
    this.#failure = null;
  }

  /** As on LMDB: outside every chain, refused while the log has failed; visible to reads once resolved. */
  async setRetention(aggregateType: string, id: string | undefined, settings: RetentionSettings | null): Promise<void> {
    if (this.#closed) throw errors.closed();
    if (this.#failure) throw this.#failure.code === ErrorCodes.Fenced ? this.#failure : refusedAfter(this.#failure);
    const key = [aggregateType, id ?? ''];
    const record = settings === null ? null : encodeRecord(settings, 'stream_meta', key);
    await this.#queue.push(() => {
      if (record === null) this.#retention.delete(key.join('\u0000'));
      else this.#retention.set(key.join('\u0000'), record);
    });
  }

  /** As on LMDB (lmdb/prefix-removal.ts): one bounded step, queued after the writes before it. */
  async removeStreamPrefix(aggregateType: string, id: string, below: number, budget = 512): Promise<PrefixRemoval> {
    this.#assertWritable();
    return this.#queue.push(() => this.#store.removePrefix(aggregateType, id, below, Math.max(1, budget)));
  }

  async trimPartition(partition: number, upTo: number, budget = 512): Promise<PartitionTrim> {
    this.#assertWritable();
    return this.#queue.push(() => this.#store.trimPartition(partition, upTo, Math.max(1, budget) * 512));
  }

  #assertWritable(): void {
    if (this.#closed) throw errors.closed();
    if (this.#failure) throw this.#failure.code === ErrorCodes.Fenced ? this.#failure : refusedAfter(this.#failure);
  }

  /** Refuses new writes; lets those already queued apply. The data stays readable until dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue.settled();
  }
}

/** Opens an empty log in memory (see the header: not durable, one thread). */
export function openMemoryLog(options: MemoryLogOptions = {}): MemoryLog {
  return new MemoryLog(options);
}

/** Folds events `from..to` one by one into `out`; returns the seq after the last one folded. */
function foldEvents<S>(stream: StreamData, aggregateType: string, id: string, from: number, to: number, out: FoldResult<S>, evolve: Evolve<S>): number {
  let next = from;
  for (; next <= to && next <= stream.events.length; next++) {
    // A fold never starts below the stream's start (foldStream checks): no REMOVED is met here.
    const r = decodeRecord<StoredEvent>(stream.events[next - 1]!, 'events', [aggregateType, id, next]);
    out.state = evolve(out.state, { type: r[0], data: r[1] }, r[6]);
    out.version = next;
    out.ts = r[2];
    out.folded++;
  }
  return next;
}
