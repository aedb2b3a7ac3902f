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

/** Streams whose last staged seq a writer remembers; past it, it forgets them all and reads again. */
const TAILS_CAP = 65_536;

/**
 * The last seq this writer staged per stream. A position right after one the writer staged itself was
 * counted, not read from the log, so it is not read again (fence.ts, "Why appends cannot overwrite"): the
 * read was a tenth of a worker's time in the throughput probe (bench/README.md, "Sealed view rows").
 */
class StagedTails {
  readonly #byType = new Map<string, Map<string, number>>();
  #size = 0;

  follows(aggregateType: string, stream: string, seq: number): boolean {
    return this.#byType.get(aggregateType)?.get(stream) === seq - 1;
  }

  /** The log may have changed under the writer (an operator's repair): every position is read again. */
  clear(): void {
    this.#byType.clear();
    this.#size = 0;
  }

  staged(aggregateType: string, stream: string, seq: number): void {
    let tails = this.#byType.get(aggregateType);
    if (tails === undefined) this.#byType.set(aggregateType, (tails = new Map()));
    const size = tails.size;
    tails.set(stream, seq);
    if (tails.size === size) return;
    if (++this.#size > TAILS_CAP) this.clear();
  }
}

export class LmdbBatchWriter implements BatchWriter {
  readonly #log: LmdbLog;
  readonly #chain: WriteChain;
  readonly #heads: WriterHeads;
  readonly #tails = new StagedTails();

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
    this.#tails.clear();
    return this.#heads.reload(partition);
  }

  stageAppend(r: AppendRequest): Staged {
    const events = positionEvents(r, this.head(r.partition));
    const counted = this.#tails.follows(r.aggregateType, r.stream, r.expectedVersion + 1);
    // Encoding may throw (data msgpack cannot hold): then no offset is consumed.
    const staged = this.#log.stageAppend(events, r.commandId, r.digest, this.#chain, counted);
    this.#heads.advance(r.partition, events.length);
    if (events.length > 0) this.#tails.staged(r.aggregateType, r.stream, r.expectedVersion + events.length);
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

  stageStoredPage(aggregateType: string, id: string, first: number): Staged | null {
    return this.#log.stageStoredPage(aggregateType, id, first);
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
