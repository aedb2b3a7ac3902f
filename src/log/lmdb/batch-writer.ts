/**
 * The port's `BatchWriter` on LMDB: one per actor host. It assigns positions when an append is staged
 * (see port.ts, "Who assigns positions"): seqs from the expected version, offsets from the head of each
 * owned partition, read once from the log and then counted here. Every commit goes through the writer's
 * chain (fenced by the owner epoch), which is how LMDB keeps the write-chain rule.
 */
import { ErrorCodes, RuntimeError, type EventEnvelope } from '../../kernel/index.js';
import type { LmdbLog } from './lmdb-log.js';
import type { StagedWrite, WriteChain } from './write-chain.js';
import type { AppendRequest, BatchWriter, Committed, Staged, StoredSnapshot } from '../port.js';

export class LmdbBatchWriter implements BatchWriter {
  readonly #log: LmdbLog;
  readonly #chain: WriteChain;
  readonly #heads = new Map<number, number>();

  constructor(log: LmdbLog, chain: WriteChain, partitions: readonly number[]) {
    this.#log = log;
    this.#chain = chain;
    for (const p of partitions) this.#heads.set(p, log.partitionHead(p));
  }

  head(partition: number): number {
    const head = this.#heads.get(partition);
    if (head === undefined) throw new RuntimeError(ErrorCodes.Internal, `this writer does not own partition ${partition}`);
    return head;
  }

  reloadHead(partition: number): number {
    this.head(partition);
    this.#log.refreshReads();
    const head = this.#log.partitionHead(partition);
    this.#heads.set(partition, head);
    return head;
  }

  stageAppend(r: AppendRequest): Staged {
    const offset = this.head(r.partition);
    const n = r.events.length;
    const events: EventEnvelope[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const e = r.events[i]!;
      events[i] = { aggregateType: r.aggregateType, stream: r.stream, type: e.type, seq: r.expectedVersion + i + 1, data: e.data, ts: r.ts, partition: r.partition, offset: offset + i, meta: r.meta };
      if (e.schemaVersion !== undefined && e.schemaVersion > 1) events[i]!.schemaVersion = e.schemaVersion;
    }
    // Encoding may throw (data msgpack cannot hold): then no offset is consumed.
    const staged = this.#log.stageAppend(events, r.commandId, r.digest, this.#chain);
    this.#heads.set(r.partition, offset + n);
    return staged;
  }

  stageSnapshot(aggregateType: string, id: string, snapshot: StoredSnapshot): Staged {
    return this.#log.stageSnapshot(aggregateType, id, snapshot);
  }

  stageSnapshotRemoval(aggregateType: string, id: string, version: number): Staged {
    return this.#log.stageSnapshotRemoval(aggregateType, id, version);
  }

  stagePage(events: readonly EventEnvelope[]): Staged {
    return this.#log.stagePage(events);
  }

  commit(staged: readonly Staged[], alsoInBatch?: () => void): Promise<Committed> {
    const heads = new Map<number, number>();
    for (const s of staged) {
      const last = s.events?.[s.events.length - 1];
      if (last && (heads.get(last.partition) ?? -1) < last.offset + 1) heads.set(last.partition, last.offset + 1);
    }
    let done: Promise<void>;
    try {
      done = this.#log.commit(staged as readonly StagedWrite[], alsoInBatch, this.#chain);
    } catch (err) {
      // The port answers every refusal through the promise (the log had failed, an offset was taken).
      return Promise.reject(err as Error);
    }
    return done.then(() => ({ heads }));
  }

  get failure(): RuntimeError | null {
    return this.#log.failure;
  }
}
