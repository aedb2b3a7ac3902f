/**
 * Commits: staged writes queued into LMDB, each writer's batches fenced by the owner epoch and chained
 * in order, and the log's failure state once a write failed.
 *
 * Writes are plain async puts issued in one synchronous run: lmdb-js batches every write of one event
 * turn into one transaction (`eventTurnBatching`), which makes all events of a command (indeed all
 * commands of one actor-host drain) commit atomically, and turns many concurrent commands into one
 * group commit. `durable()` then waits for the flush, not just the commit (DESIGN invariant 2: with
 * `overlappingSync`, the write promise resolves when the commit is visible, before it is on disk).
 */
import type { Key, RootDatabase } from 'lmdb';
import { ErrorCodes, RuntimeError, Span, spanEnd, spanStart, type EventEnvelope } from '../../kernel/index.js';
import { diagnoseWriteError, refusedAfter, storageFailed } from '../storage-failure.js';
import { OWNER_KEY, type OwnerFence } from './fence.js';
import type { LmdbEnvironment, LogDb } from './environment.js';
import type { PartitionIndex } from './partition-index.js';
import type { Durability, Staged } from '../port.js';

/** A put, or a removal when `value` is null; `append`: the key must not exist yet (invariant 10). */
export type StagedPut = [db: LogDb, key: Key[], value: Buffer | null, append?: true];
/** Encoded records of one command (or one snapshot), ready to be queued by `commit`. */
export interface StagedWrite extends Staged {
  readonly puts: readonly StagedPut[];
  /** The command's events: `commit` writes their partition-index refs, one record per run. */
  readonly events?: readonly EventEnvelope[];
}

/** The write chain of one writer: its marker key, the next batch's version, and the owner epoch that fences it. */
export interface WriteChain {
  key: Key[];
  version: number;
  epoch: number;
}

const WRITER_MARK = Buffer.from([1]);
const NO_OVERWRITE = { noOverwrite: true } as const;
/** The key the resume probe writes (in `writers`, never a writer id: those are `actor-host-<n>`). */
const PROBE_KEY = ['storage-probe'];

export class LogCommitter {
  readonly #env: LmdbEnvironment;
  readonly #fence: OwnerFence;
  readonly #index: PartitionIndex;
  readonly #durability: Durability;
  readonly #root: RootDatabase;
  readonly #writers: LogDb;
  #failure: RuntimeError | null = null;
  #lastDone: Promise<void> | null = null;
  /** A write of this thread failed and none succeeded since (see `LmdbEnvironment.close`). */
  #unsettledWrite = false;

  constructor(env: LmdbEnvironment, fence: OwnerFence, index: PartitionIndex, durability: Durability) {
    this.#env = env;
    this.#fence = fence;
    this.#index = index;
    this.#durability = durability;
    this.#root = env.root;
    this.#writers = env.writers;
  }

  /**
   * The write-chain rule of the port, in LMDB: batch N+1 of a writer may be queued while batch N is still
   * committing, yet N+1 must never commit when N did not. Each batch is written inside
   * `ifVersion(marker, n)` and bumps the marker to n+1, so LMDB itself skips every batch after a failed
   * one (lmdb-js resolves the condition to `false`). `epoch` is the owner epoch this process claimed
   * (`claimOwnership`): the fence around every batch.
   */
  startWriteChain(writerId: string, epoch: number): WriteChain {
    const key = [writerId];
    const entry = this.#writers.getEntry(key);
    let version = entry?.version ?? 0;
    if (!entry) {
      this.#writers.putSync(key, WRITER_MARK, 1);
      version = 1;
    }
    return { key, version, epoch };
  }

  /**
   * Queues staged writes into the current write batch, in order. Every call made in the same event turn
   * lands in the same LMDB transaction. Without `chain` (tools), call `durable()` afterwards; writers
   * (batch-writer.ts) pass their chain and await the result.
   *
   * Why staged: lmdb-js opens the write transaction early once a turn has queued a few thousand writes;
   * a thread that died after that (a decider calling process.exit, say) would leave the native writer
   * waiting forever with the lock held. So the actor host runs every decider of a drain first, and only
   * then commits what they staged, in one short synchronous run.
   */
  commit(staged: readonly StagedWrite[], alsoInTransaction?: () => void, chain?: WriteChain): Promise<void> {
    this.#assertWritable();
    const t = spanStart();
    let last: Promise<unknown> | null = null;
    // lmdb-js may split one turn's writes into several transactions, each with its own promise: all are
    // awaited (an unawaited one that rejects is an unhandled rejection, which kills a worker thread).
    const earlier: Promise<unknown>[] = [];
    const track = (p: Promise<unknown>): void => {
      if (p === last) return;
      if (last) earlier.push(last);
      last = p;
    };
    let index: StagedPut[];
    try {
      index = this.#index.indexPuts(staged, chain);
    } catch (err) {
      // A taken offset found while assembling a chained batch: the batch fails, and so must every later
      // batch of the writer (the port's write-chain rule), whose offsets would follow this one's.
      if (chain && RuntimeError.is(err)) this.#failure ??= err;
      throw err;
    }
    /** No-overwrite puts resolve `false` when their key exists (lmdb-js), instead of replacing it. */
    const appends: Promise<boolean>[] = [];
    const appendKeys: Key[][] = [];
    const put = (db: LogDb, key: Key[], value: Buffer | null, append: true | undefined) => {
      if (value === null) track(db.remove(key));
      // Not inside a chain: lmdb-js applies a no-overwrite put even when the `ifVersion` block around it
      // is skipped (found by the log contract suite, lmdb-js 3.5.6), so a fenced batch would leave its
      // index runs behind. Chained batches rely on the free-position reads made while staging
      // (partition-index.ts, streams.ts) and on the fence; only unchained tool commits use the flag.
      else if (append && !chain) {
        const p = db.put(key, value, NO_OVERWRITE as never);
        track(p);
        appends.push(p);
        appendKeys.push(key);
      } else track(db.put(key, value));
    };
    const write = () => {
      for (const s of staged) for (const [db, key, value, append] of s.puts) put(db, key, value, append);
      for (const [db, key, value, append] of index) put(db, key, value, append);
      alsoInTransaction?.();
    };
    if (chain) {
      // Fenced and chained: these writes apply only while this process still owns the log (owner epoch)
      // and only if the writer's previous batch committed (see startWriteChain). Nested conditions:
      // lmdb-js skips the inner block when the outer condition fails.
      const version = chain.version++;
      let chained: Promise<boolean> = Promise.resolve(false);
      const fenced = this.#writers.ifVersion(OWNER_KEY, chain.epoch, () => {
        chained = this.#writers.ifVersion(chain.key, version, () => {
          write();
          this.#writers.put(chain.key, WRITER_MARK, version + 1).catch(() => undefined);
        });
      });
      // The writes inside the guard settle with the guard: observe them here, the guard below.
      for (const p of [...earlier, ...(last ? [last] : []), ...appends]) p.catch(() => undefined);
      earlier.length = 0;
      // Both resolve `false` when skipped (the inner one too when the outer condition failed).
      last = Promise.all([fenced, chained]).then(([owned, inOrder]) => {
        if (!owned || !inOrder) throw this.#fence.notApplied(chain, version);
      });
    } else write();
    if (!last) return Promise.resolve();
    // Read `flushed` now, in the turn that queued the writes: it then covers exactly them.
    const durable = this.#durability === 'sync' ? this.#root.flushed : this.#root.committed;
    if (t !== 0) traceCommit(t, last, durable, staged.length);
    const done = Promise.all([Promise.all([...earlier, last, durable]), Promise.all(appends)]).then(
      ([, appended]) => {
        for (let i = 0; i < appended.length; i++) {
          if (appended[i] === false) {
            const key = appendKeys[i]!;
            throw (this.#failure ??= new RuntimeError(ErrorCodes.CorruptLog, `an append found its position taken at ${JSON.stringify(key)}: the record there was kept and this process stops writing; run \`eventide verify\``, { where: JSON.stringify(key) }));
          }
        }
      },
      (err: unknown) => {
        // Refused by the fence, or skipped after an earlier failed batch: not a storage fault. A skipped
        // batch was not applied: once the failed one is diagnosed, it says so with that failure's cause
        // (until then the caller, drain-pipeline.ts, waits for the failed batch and says it there).
        if (RuntimeError.is(err) && (err.code === ErrorCodes.Fenced || err.code === ErrorCodes.StorageFailed)) {
          const first = (this.#failure ??= err);
          throw skippedOnly(err) && first !== err && !skippedOnly(first) ? refusedAfter(first) : first;
        }
        return this.#failWrites(err);
      },
    );
    done.catch(() => undefined);
    this.#lastDone = done;
    return done;
  }

  /**
   * Resolves when every write queued so far is committed and, with `sync` durability, flushed to disk.
   * A failed commit puts the log into a failed state: an fsync error must not be retried as if nothing
   * happened ("fsyncgate"), so every later write is refused with `StorageFailed` until reopen, or until
   * a successful `probeWrite` (runtime/storage-recovery.ts decides when that is safe).
   */
  async durable(): Promise<void> {
    const done = this.#lastDone;
    this.#lastDone = null;
    if (done) await done;
  }

  get failure(): RuntimeError | null {
    return this.#failure;
  }

  get unsettledWrite(): boolean {
    return this.#unsettledWrite;
  }

  #assertWritable(): void {
    if (this.#failure) throw refusedAfter(this.#failure);
  }

  /**
   * A write failed inside LMDB: from now on this object refuses writes. The error names the cause
   * (storage-failure.ts) and says the outcome is unknown: a commit whose flush failed may or may not be
   * on disk, so it is never acknowledged, and its caller is told to retry with the same commandId.
   */
  async #failWrites(err: unknown): Promise<never> {
    this.#unsettledWrite = true;
    const failure = storageFailed(await diagnoseWriteError(this.#env.path, err), 'unknown');
    // While the diagnosis ran, the batch queued behind this one may have been skipped ("not applied":
    // no cause) and recorded first: the cause is this failure, and this batch's outcome is unknown.
    if (!this.#failure || skippedOnly(this.#failure)) this.#failure = failure;
    throw this.#failure;
  }

  /**
   * The resume probe (runtime/storage-recovery.ts): one small write to a dedicated key, outside every
   * writer's chain, awaited until flushed. Throws the diagnosed `StorageFailed` when it fails. On success
   * this object accepts writes again; whether that is safe for a given failure is the caller's decision
   * (only "no space" failures are resumed: see storage-recovery.ts).
   */
  async probeWrite(): Promise<void> {
    try {
      await Promise.all([this.#writers.put(PROBE_KEY, WRITER_MARK), this.#root.flushed]);
    } catch (err) {
      this.#unsettledWrite = true;
      throw storageFailed(await diagnoseWriteError(this.#env.path, err), 'not-applied');
    }
    this.#unsettledWrite = false;
    this.#failure = null;
  }
}

/** The trace's split of a commit's wait (kernel/trace-spans.ts): until the transaction is visible, then until it is on disk. */
function traceCommit(t0: number, visible: Promise<unknown>, durable: Promise<unknown>, writes: number): void {
  visible.then(
    () => {
      const t1 = spanStart();
      spanEnd(Span['log-commit'], t0, writes);
      durable.then(() => spanEnd(Span.fsync, t1, writes), () => undefined);
    },
    () => undefined,
  );
}

/** A batch skipped by the write chain because an earlier one failed: says nothing of why. */
function skippedOnly(e: RuntimeError): boolean {
  return e.code === ErrorCodes.StorageFailed && e.details.outcome === 'not-applied' && e.details.cause === undefined;
}
