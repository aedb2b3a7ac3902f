/**
 * Current-state loads on the calling thread: `runtime.load(type, id)` when the state cache misses reads
 * the stream from the log right here (its head, the newest snapshot at or below it, the events after it,
 * upcast by the versioned log: hydrate.ts) instead of a round trip to the owning worker. LMDB readers
 * are lock-free and work from any thread; the round trip (postMessage both ways, msgpack, the worker's
 * turn) cost several times the read itself (bench/README.md, "Reads on the calling thread").
 *
 * Why the owning actor's in-memory state need not be asked: it is never newer than the log. The actor
 * host moves an actor's readable state (`durableState`, command-runner.ts) only when it answers a
 * command, after that command's batch is durable, so every event folded into it is in the log; read
 * after `ReadFreshness.fresh` (which renews the snapshot once this thread heard the answer), the log
 * holds everything acknowledged to any caller before the load, and folding it with the same decider
 * and upcasters gives the same state (DESIGN invariant 4). The actor matters in one case only: the
 * log may hold MORE than was acknowledged, a batch committed (visible) but not yet durable or not yet
 * answered, and a load must not show a command before its caller is told it happened (with `sync`
 * durability, it could still be lost to a power cut). So the load first checks the stream's head: the
 * partition's events below `acknowledged[partition]` (the offsets this thread has seen acknowledged,
 * create-runtime.ts) are all answered, since a partition has one writer that commits and answers in
 * offset order. A head at or past it means a command of this stream is in flight: the owner answers,
 * from its durable state, exactly as before.
 *
 * The owner also answers whenever this read cannot be sure to give the answer it would (`undefined`
 * from `current`): the read met damage or failed (the owner may still hold the state live, or fails
 * the same way), and, decided by the caller, a partition stopped on damage or a worker that is not
 * steady (restarting after a crash, writes stopped: commands whose outcome only the log knows may still
 * be landing in it).
 *
 * And it answers a stream with more than MAX_FOLD events after its newest usable snapshot (snapshots
 * off, a long stream not snapshotted yet, a snapshot of an old shape): this thread also routes every
 * command and serves HTTP, and a long fold here would stall all of them, while in the owner it stalls
 * only its own partitions and leaves the actor live for the next command. Streams with the default
 * `snapshotEvery` (100) never have such a tail.
 *
 * Gotchas:
 * - The fold is bounded by the head read first (`hydrateToHead`): the worker may append to the stream
 *   while this thread folds it (LMDB folds iterate without pinning a snapshot).
 * - What this answers may be offered to the state cache (create-runtime.ts): it is the acknowledged
 *   state at the stream's head, and every reply at or below that head was heard already (the head is
 *   below the acknowledged offset), so no later offer can be older.
 * - A stale persisted snapshot (the decider bumped `snapshotVersion`) makes this fold start at seq 1.
 *   Only the owner may write, so the load still answers from here and has the owner load the stream too
 *   (`staleSnapshot`): as before, its hydration persists a snapshot of the current shape, and the next
 *   cold load is fast again.
 */
import { LIVE, type AnyDecider } from '../domain/index.js';
import type { LogReader } from '../log/index.js';
import { hydrateToHead } from './hydrate.js';
import type { ReadFreshness } from './read-freshness.js';
import type { LoadedState } from './protocol.js';

/**
 * The most events a load folds on the calling thread (see the header). Folding one costs about a
 * microsecond (bench/README.md, "Reads on the calling thread"): this bounds a load's stall of the main
 * thread to a few hundred microseconds.
 */
export const MAX_FOLD = 256;

/** A stream's state at its head (version 0: the stream has no events; `life`: deleted, as the owner answers). */
export type CurrentState = LoadedState;

export class LogLoads {
  readonly #log: LogReader;
  readonly #freshness: ReadFreshness;
  readonly #acknowledged: readonly number[];
  readonly #staleSnapshot: (aggregateType: string, id: string, partition: number) => void;

  /**
   * `acknowledged`: per partition, the offset below which every event was answered (read live, never
   * copied). `staleSnapshot`: told of a stream whose newest snapshot has another shape (see the Gotchas).
   */
  constructor(log: LogReader, freshness: ReadFreshness, acknowledged: readonly number[], staleSnapshot: (aggregateType: string, id: string, partition: number) => void) {
    this.#log = log;
    this.#freshness = freshness;
    this.#acknowledged = acknowledged;
    this.#staleSnapshot = staleSnapshot;
  }

  /** The stream's current state from the log, or undefined when its owner must answer (see the header). */
  current(decider: AnyDecider, aggregateType: string, id: string, partition: number): CurrentState | undefined {
    try {
      this.#freshness.fresh(partition);
      const head = this.#log.streamHead(aggregateType, id);
      if (head.version === 0) return { version: 0, state: undefined };
      if (head.offset === undefined || head.offset >= this.#acknowledged[partition]!) return undefined;
      const h = hydrateToHead(this.#log, decider, aggregateType, id, head.version, MAX_FOLD);
      if (h === undefined) return undefined;
      if (h.staleSnapshot) this.#staleSnapshot(aggregateType, id, partition);
      return h.life === LIVE ? { version: h.version, state: h.state } : { version: h.version, state: null, life: h.life };
    } catch {
      // Damage, or anything else this read met: the owner answers as it always has (see the header).
      return undefined;
    }
  }
}
