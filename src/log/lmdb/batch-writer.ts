/**
 * The port's `BatchWriter` on LMDB: one per actor host. It assigns positions when an append is staged
 * (see port.ts, "Who assigns positions"): seqs from the expected version, offsets from the head of each
 * owned partition, read once from the log and then counted here. Every commit goes through the writer's
 * chain (fenced by the owner epoch), which is how LMDB keeps the write-chain rule.
 */
import type { EventEnvelope, RuntimeError } from '../../kernel/index.js';
import { WriterHeads, committedHeads, positionEvents } from '../writer-heads.js';
import type { LmdbLog } from './lmdb-log.js';
import type { StagedWrite, WriteChain } from './write-chain.js';
import type { AppendRequest, BatchWriter, Committed, Staged, StoredSnapshot } from '../port.js';

export class LmdbBatchWriter implements BatchWriter {
  readonly #log: LmdbLog;
  readonly #chain: WriteChain;
  readonly #heads: WriterHeads;

  constructor(log: LmdbLog, chain: WriteChain, partitions: readonly number[]) {
    this.#log = log;
    this.#chain = chain;
    this.#heads = new WriterHeads(partitions, (p) => log.partitionHead(p));
  }

  head(partition: number): number {
    return this.#heads.head(partition);
  }

  reloadHead(partition: number): number {
    this.#log.refreshReads();
    return this.#heads.reload(partition);
  }

  stageAppend(r: AppendRequest): Staged {
    const events = positionEvents(r, this.head(r.partition));
    // Encoding may throw (data msgpack cannot hold): then no offset is consumed.
    const staged = this.#log.stageAppend(events, r.commandId, r.digest, this.#chain);
    this.#heads.advance(r.partition, events.length);
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
    const heads = committedHeads(staged);
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
