/**
 * The port's `BatchWriter` on the memory log: assigns positions when an append is staged (port.ts, "Who
 * assigns positions"): seqs from the expected version, offsets from its own head of each partition it
 * owns (read from the log when opened, then counted here). Staging encodes everything the batch will
 * store, exactly as LMDB does (`encodeRecord`), so data the log cannot hold fails its own command at
 * staging, before anything is consumed, and the log keeps bytes, never the caller's objects.
 */
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../../kernel/index.js';
import { corruptRecord, encodeRecord } from '../record-codec.js';
import { EVENT_PAGE } from '../event-page.js';
import type { AppendRequest, BatchWriter, Committed, Staged, StoredSnapshot } from '../port.js';
import { WriterHeads, committedHeads } from '../writer-heads.js';
import type { MemoryStore, StoreOp, WriteChain } from './memory-store.js';
import { hasMeta, toStored, type StoredEvent, type StreamRef } from '../stored-event.js';
import { StoredPageBuilder } from '../stored-page.js';

/** What a memory writer staged: encoded store operations. Only the log whose store made it may commit it. */
export class MemoryStaged implements Staged {
  readonly store: MemoryStore;
  readonly ops: readonly StoreOp[];
  readonly events?: readonly EventEnvelope[];

  constructor(store: MemoryStore, ops: readonly StoreOp[], events?: readonly EventEnvelope[]) {
    this.store = store;
    this.ops = ops;
    if (events) this.events = events;
  }
}

/** What a writer needs of its log (memory-log.ts): its store, its failure, and the ordered commit. */
export interface WriterBackend {
  readonly store: MemoryStore;
  readonly failure: RuntimeError | null;
  commit(chain: WriteChain, staged: readonly Staged[], alsoInBatch: (() => void) | undefined): Promise<void>;
}

export class MemoryBatchWriter implements BatchWriter {
  readonly #log: WriterBackend;
  readonly #chain: WriteChain;
  readonly #heads: WriterHeads;

  constructor(log: WriterBackend, chain: WriteChain, partitions: readonly number[]) {
    this.#log = log;
    this.#chain = chain;
    for (const p of partitions) {
      if (!Number.isInteger(p) || p < 0 || p >= log.store.partitionCount) throw new RuntimeError(ErrorCodes.Internal, `partition ${p} is outside 0..${log.store.partitionCount - 1}`);
    }
    this.#heads = new WriterHeads(partitions, (p) => log.store.partition(p).length);
  }

  head(partition: number): number {
    return this.#heads.head(partition);
  }

  reloadHead(partition: number): number {
    return this.#heads.reload(partition);
  }

  stageAppend(r: AppendRequest): Staged {
    const offset = this.head(r.partition);
    const store = this.#log.store;
    // Invariant 10, checked where the port says: a position this owner assigns is free unless another
    // owner wrote there (then this one is fenced) or the head was read short. Checked again when the
    // batch applies (memory-store.ts), where a pipelined batch's positions are finally known.
    const streamHead = store.stream(r.aggregateType, r.stream)?.events.length ?? 0;
    if (r.events.length > 0 && streamHead > r.expectedVersion) {
      const key: StreamRef = [r.aggregateType, r.stream, r.expectedVersion + 1];
      throw this.#taken('events', key, `position ${r.aggregateType}/${r.stream}#${key[2]} already holds an event; the stream's head was read short`, r.partition);
    }
    if (r.events.length > 0 && store.partition(r.partition).length > offset) {
      throw this.#taken('partitions', [r.partition, offset], `partition ${r.partition} offset ${offset} is already indexed; the partition head was read short`, r.partition);
    }
    const meta = hasMeta(r.meta) ? r.meta : null;
    const events: EventEnvelope[] = [];
    const ops: StoreOp[] = [];
    for (let i = 0; i < r.events.length; i++) {
      const e = r.events[i]!;
      const ref: StreamRef = [r.aggregateType, r.stream, r.expectedVersion + i + 1];
      const rec: StoredEvent = [e.type, e.data, r.ts, r.partition, offset + i, meta];
      const event: EventEnvelope = { aggregateType: r.aggregateType, stream: r.stream, type: e.type, seq: ref[2], data: e.data, ts: r.ts, partition: r.partition, offset: offset + i, meta: r.meta };
      // The schema version only when > 1, as LMDB stores it (port.ts, "Schema versions").
      if (e.schemaVersion !== undefined && e.schemaVersion > 1) rec[6] = event.schemaVersion = e.schemaVersion;
      // Encoding may throw (data msgpack cannot hold): then nothing is consumed.
      ops.push({ kind: 'event', ref, partition: r.partition, offset: offset + i, record: encodeRecord(rec, 'events', ref) });
      events.push(event);
    }
    const first = events[0];
    const last = events[events.length - 1];
    if (r.commandId !== undefined && first && last) {
      const key = [r.aggregateType, r.stream, r.commandId];
      const value = r.digest === undefined ? [first.seq, last.seq] : [first.seq, last.seq, r.digest];
      ops.push({ kind: 'command', aggregateType: r.aggregateType, id: r.stream, commandId: r.commandId, record: encodeRecord(value, 'commands', key) });
    }
    this.#heads.advance(r.partition, events.length);
    return new MemoryStaged(store, ops, events);
  }

  stageSnapshot(aggregateType: string, id: string, snap: StoredSnapshot): Staged {
    const ref: StreamRef = [aggregateType, id, snap.version];
    return new MemoryStaged(this.#log.store, [{ kind: 'snapshot', ref, record: encodeRecord([snap.snapshotVersion, snap.state, snap.ts], 'snapshots', ref) }]);
  }

  stageSnapshotRemoval(aggregateType: string, id: string, version: number): Staged {
    return new MemoryStaged(this.#log.store, [{ kind: 'snapshot', ref: [aggregateType, id, version], record: null }]);
  }

  /** The same shape check as LMDB's; the events are taken as given (the caller read them back durable). */
  stagePage(events: readonly EventEnvelope[]): Staged {
    const first = events[0];
    const contiguous = first !== undefined && events.every((e, i) => e.seq === first.seq + i && e.stream === first.stream && e.aggregateType === first.aggregateType);
    if (!first || events.length !== EVENT_PAGE || (first.seq - 1) % EVENT_PAGE !== 0 || !contiguous) {
      throw new RuntimeError(ErrorCodes.Internal, `a page is ${EVENT_PAGE} consecutive events of one stream from seq k*${EVENT_PAGE}+1`);
    }
    const page = events.map(toStored);
    const ref: StreamRef = [first.aggregateType, first.stream, first.seq];
    return new MemoryStaged(this.#log.store, [{ kind: 'page', ref, record: encodeRecord(page, 'pages', ref) }]);
  }

  /** As LMDB's: the stored records copied (../stored-page.ts), from what the store holds now. */
  stageStoredPage(aggregateType: string, id: string, first: number): Staged | null {
    const page = new StoredPageBuilder(aggregateType, id, first);
    const stream = this.#log.store.stream(aggregateType, id);
    if (!stream || stream.start > first || stream.events.length < first - 1 + EVENT_PAGE) return null;
    for (let seq = first; seq < first + EVENT_PAGE; seq++) page.add(seq, stream.events[seq - 1]!);
    const ref: StreamRef = [aggregateType, id, first];
    // Kept by the store: copied to its exact size (the builder's buffer may be larger).
    return new MemoryStaged(this.#log.store, [{ kind: 'page', ref, record: Buffer.from(page.record()) }]);
  }

  commit(staged: readonly Staged[], alsoInBatch?: () => void): Promise<Committed> {
    const heads = committedHeads(staged);
    return this.#log.commit(this.#chain, staged, alsoInBatch).then(() => ({ heads }));
  }

  get failure(): RuntimeError | null {
    return this.#log.failure;
  }

  /** Like LMDB: a taken position of a deposed owner is its fence, not damage. */
  #taken(db: string, key: unknown[], why: string, partition: number): RuntimeError {
    const refused = this.#log.store.refusal(this.#chain, this.#chain.version);
    return refused?.code === ErrorCodes.Fenced ? refused : corruptRecord(db, key, why, partition);
  }
}
