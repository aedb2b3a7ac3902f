/**
 * The time machine (main thread): a stream's state as of a version or a moment, the diff between two
 * points, and its history in pages. Answered straight from the log through the port's `LogReader`, never
 * by the owning worker: the log's readers are lock-free and see every acknowledged commit once the read
 * snapshot is renewed (read-freshness.ts), and folding an old version does not queue behind the
 * aggregate's commands.
 *
 * A version/at load folds from the nearest persisted snapshot at or below the target (hydrate.ts), so its
 * cost is bounded by `snapshotEvery` x `snapshotThinning` events (`folded` counts them, for the tests
 * that bound it). It returns a fresh, mutable state: unlike the current state, nothing else shares it.
 *
 * A deleted stream (domain/stream-lifecycle.ts) reads as its current state does: not found when soft
 * deleted, `StreamDeleted` when tombstoned, whatever version or time is asked for.
 *
 * Retention (retention.ts): a version, a time, a history page or a diff start before the stream's cut
 * is `Gone` (410) with the first readable version; a history page asked for without `from` starts at
 * the cut. The current state is not affected (a plain `load` never comes here).
 *
 * Gotchas:
 * - `fresh(partition)` before every read: lmdb-js renews a thread's read snapshot only on a timer, and a
 *   caller that was just acknowledged a command must see it (read-your-writes).
 * - These reads may see a command committed but not yet acknowledged (its version is at most the head
 *   they read); a plain `load` never does (log-loads.ts).
 * - `diff` loads its end point with the runtime's own `load` (a plain `to` is the current state, from the
 *   state cache or the worker), so it is handed that function rather than reimplementing it.
 */
import { ErrorCodes, RuntimeError, errors, type EventEnvelope } from '../kernel/index.js';
import type { LogReader } from '../log/index.js';
import { LIVE, isLifecycleType, lifecycleAfter, type AnyDecider } from '../domain/index.js';
import { partitionOf } from '../partition/index.js';
import { hydrate } from './hydrate.js';
import type { ReadFreshness } from './read-freshness.js';
import type { RetentionRules } from './retention.js';
import { lifecycleError } from './stream-deletion-api.js';
import type { DiffResult, HistoryOptions, LoadOptions, LoadResult } from './runtime-api.js';

/** The largest history page one call answers. */
export const MAX_HISTORY_PAGE = 10_000;

export type Load = <S>(aggregateType: string, id: string, options: LoadOptions) => Promise<LoadResult<S>>;

export class TimeMachine {
  readonly #log: LogReader;
  readonly #freshness: ReadFreshness;
  readonly #load: Load;
  readonly #retention: RetentionRules;
  #folded = 0;

  constructor(log: LogReader, freshness: ReadFreshness, load: Load, retention: RetentionRules) {
    this.#log = log;
    this.#freshness = freshness;
    this.#load = load;
    this.#retention = retention;
  }

  /** Events folded by version/at loads so far (`Runtime.counters.timeMachineFolded`). */
  get folded(): number {
    return this.#folded;
  }

  /** The state right after `options.version`, or as of `options.at` (one of them is set). */
  stateAt<S>(decider: AnyDecider, aggregateType: string, id: string, options: LoadOptions): LoadResult<S> {
    const log = this.#log;
    this.#fresh(id);
    const head = log.streamHead(aggregateType, id).version;
    if (head === 0) throw errors.streamNotFound(aggregateType, id);
    this.#assertLive(aggregateType, id, head);
    let target: number;
    if (options.version !== undefined) {
      if (!Number.isSafeInteger(options.version) || options.version < 1) throw new RuntimeError(ErrorCodes.InvalidQuery, 'version must be a positive integer');
      if (options.version > head) throw new RuntimeError(ErrorCodes.NotFound, `${aggregateType} ${id} has ${head} events; there is no version ${options.version}`, { head });
      target = options.version;
    } else {
      const at = toEpochMs(options.at!);
      target = log.versionAt(aggregateType, id, at);
      if (target === 0) throw new RuntimeError(ErrorCodes.NotFound, `${aggregateType} ${id} had no event yet at ${new Date(at).toISOString()}`, { at });
    }
    this.#retention.assertReadable(aggregateType, id, target, head);
    const h = hydrate(log, decider, aggregateType, id, target);
    this.#folded += h.folded;
    return { id, type: aggregateType, version: h.version, state: h.state as S };
  }

  /**
   * A page of a stream's events from `from`, at most `limit` (default 1000). Without `from`: from the
   * first readable version (1 unless retention cut the stream); a `from` before the cut is `Gone`.
   */
  history(aggregateType: string, id: string, options: HistoryOptions): EventEnvelope[] {
    const limit = options.limit ?? 1000;
    if (options.from !== undefined && (!Number.isSafeInteger(options.from) || options.from < 1)) throw new RuntimeError(ErrorCodes.InvalidQuery, 'from must be a positive integer');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_HISTORY_PAGE) throw new RuntimeError(ErrorCodes.InvalidQuery, `limit must be an integer in [1, ${MAX_HISTORY_PAGE}]`);
    this.#fresh(id);
    const head = this.#log.streamHead(aggregateType, id).version;
    if (head === 0) throw errors.streamNotFound(aggregateType, id);
    this.#assertLive(aggregateType, id, head);
    const first = this.#retention.firstVersion(aggregateType, id, head);
    const from = options.from ?? first;
    if (from < first) throw errors.gone(aggregateType, id, first, head);
    return this.#log.readStream(aggregateType, id, from, limit);
  }

  async diff<S>(aggregateType: string, id: string, from: LoadOptions, to: LoadOptions): Promise<DiffResult<S>> {
    const b = await this.#load<S>(aggregateType, id, to);
    let a: LoadResult<S> | null = null;
    try {
      // Version 0 is the empty state before the first event.
      if (from.version !== 0) a = await this.#load<S>(aggregateType, id, from);
    } catch (err) {
      // A start time before the stream's first event is the empty state: every event up to `to` is the
      // diff. A version the stream does not have stays an error.
      if (!RuntimeError.is(err, ErrorCodes.NotFound) || from.at === undefined) throw err;
      a = null;
    }
    const start = (a?.version ?? 0) + 1;
    if (a && a.version > b.version) throw new RuntimeError(ErrorCodes.InvalidQuery, `from (version ${a.version}) is after to (version ${b.version})`);
    this.#fresh(id);
    // Both ends were readable; the events between them are too, unless `from` is the empty start.
    if (a === null) this.#retention.assertReadable(aggregateType, id, 1, this.#log.streamHead(aggregateType, id).version);
    const events = b.version >= start ? this.#log.readStream(aggregateType, id, start, b.version - start + 1) : [];
    return { from: a, to: b, events };
  }

  /** Not found (soft) or `StreamDeleted` (tombstoned) when the stream's last event deleted it. */
  #assertLive(aggregateType: string, id: string, head: number): void {
    const last = this.#log.readEvent(aggregateType, id, head);
    if (last === undefined || !isLifecycleType(last.type)) return;
    const life = lifecycleAfter(last.type);
    if (life !== LIVE) throw lifecycleError(life, aggregateType, id);
  }

  /** Renews the read snapshot if the stream's partition may have moved since (read-your-writes). */
  #fresh(id: string): void {
    this.#freshness.fresh(partitionOf(id, this.#log.partitions));
  }
}

/** Epoch ms from a number, a Date, a string of digits or an ISO-8601 time; `InvalidQuery` otherwise. */
export function toEpochMs(at: number | Date | string): number {
  const ms = at instanceof Date ? at.getTime() : typeof at === 'number' ? at : /^\d+$/.test(at) ? Number(at) : Date.parse(at);
  if (!Number.isFinite(ms)) throw new RuntimeError(ErrorCodes.InvalidQuery, `at must be epoch ms or an ISO-8601 time, got ${JSON.stringify(String(at).slice(0, 64))}`);
  return ms;
}
