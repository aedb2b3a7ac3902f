/**
 * The main thread's cache of the last ACKNOWLEDGED `{ version, state }` per aggregate, so that
 * `runtime.load(type, id)` (no version/at) answers without a round trip to the owning worker (a
 * postMessage round trip costs ~130 us on the reference machine; a hit here costs well under 1 us).
 *
 * Why it is correct: acknowledged means durable (invariant 2) and the log is the only truth, so the
 * state a command reply carried is the true state at that version. Every command of an aggregate goes
 * through this process's router (single writer, invariant 1), so the newest reply we saw IS the
 * stream's head, unless a reply went missing (see Gotchas). Entries only move forward: an offer with a
 * lower version than the entry's is ignored, so replies, duplicates and load answers arriving in any
 * order never make a load return a version older than one already acknowledged to any caller.
 *
 * Why freeze: the object a hit returns is the one the cache holds (and the one `execute` returned):
 * a caller that mutated it would change what every later load returns. So offered states are deeply
 * frozen in place (plain objects and arrays: the shapes msgpackr and structured clone produce for plain
 * data). Measured on the reference machine (msgpackr-decoded states, 200k of each, timed in a loop):
 * deepFreeze costs ~0.01-0.03 us for an account state and ~0.02-0.05 us for a video state with 3
 * renditions, once per reply; a `structuredClone` per load would cost 1.4 us and 5.6 us, and reads of
 * frozen objects are no slower. A state holding something
 * `Object.freeze` cannot make immutable (Map, Set, Date, typed array, class instance) is not shared
 * instead: the cache keeps a private `structuredClone` and hands a fresh clone to each hit.
 *
 * Bounded by entry count, least recently used first. Entries live in one `Map` per aggregate type, keyed
 * by id (a `${type}:${id}` key string costs a concatenation and a fresh hash per call: a lookup took
 * 0.3-0.6 us that way, 0.05-0.09 us this way); each Map's insertion order is its recency order and a
 * global stamp orders the few Maps' oldest entries against each other. Moving an entry to the back
 * (`delete` + `set`) on every hit and every reply is wasted work for hot aggregates, so an entry moves
 * only once it has drifted into the older half (stamp age >= max / 2); anything newer is at least
 * max / 2 insertions away from eviction anyway (an approximate LRU, in the spirit of CLOCK).
 *
 * Gotchas:
 * - A worker that dies may have committed a command whose reply never reached this thread. The router
 *   must drop the aggregate's entry when a command fails for any reason (its outcome may be unknown:
 *   `WorkerCrashed`, `StorageFailed`), and drop the worker's entries on restart and on fatal. Skip this
 *   and a load after a crash returns the state from before a command that is in the log.
 * - Only the router's own replies, the owning worker's `load` answers and calling-thread reads of a
 *   stream whose head is acknowledged (log-loads.ts) may feed the cache. Anything else that appends to
 *   the log while the runtime runs would make entries stale; today nothing does (the data dir is locked
 *   to one process; worker plugins write view rows, not events).
 * - A duplicate reply (`commandId` seen before) carries the state after the FIRST attempt, which may
 *   be older than the head: it must not be offered (an evicted newer entry could not veto it).
 * - Offers are ordered per aggregate by the worker's message order (replies leave in batch order, a
 *   `load` answer is the durable state when the worker handled it), so "only forward" suffices. A
 *   calling-thread read keeps that order: it answers the state at an acknowledged head, and every reply
 *   at or below that head was offered before. Do not add a path that offers a state computed otherwise
 *   (e.g. a time-machine fold: it may stop below the head, or include a command not acknowledged yet).
 * - Freezing is in place: the states `execute` and `load` return are frozen even when the cache is
 *   disabled (size 0), so the contract does not depend on an option.
 * - A worker that stays down (restart budget spent) without a `fatal` message keeps its entries: they
 *   are still true (every command whose reply was lost failed, and dropped its own entry), so loads of
 *   its aggregates keep answering while its commands fail fast.
 */
import { ErrorCodes, RuntimeError } from '../kernel/index.js';

export interface CachedState {
  version: number;
  state: unknown;
}

interface Entry {
  version: number;
  state: unknown;
  partition: number;
  /** True when `state` could not be frozen: it is a private copy, and each read gets a fresh copy. */
  copied: boolean;
  /** The cache's insertion count when this entry was last moved to the back of the recency order. */
  stamp: number;
}

export class StateCache {
  readonly #max: number;
  /**
   * Per aggregate type, then by id: no key string is built per call (a concatenated key must be
   * flattened and hashed every time, while an id string caches its hash). Each inner Map's insertion
   * order is its recency order; stamps order entries across types.
   */
  readonly #byType = new Map<string, Map<string, Entry>>();
  #size = 0;
  /** Insertions (and moves to the back) so far: an entry's age in the recency order is `#stamp - stamp`. */
  #stamp = 0;
  #hits = 0;
  #misses = 0;

  /** @param maxEntries entries kept before the least recently used is dropped; 0 disables the cache. */
  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) throw new RuntimeError(ErrorCodes.InvalidOptions, `maxEntries must be a non-negative integer, got ${maxEntries}`);
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#size;
  }

  get maxEntries(): number {
    return this.#max;
  }

  get hits(): number {
    return this.#hits;
  }

  get misses(): number {
    return this.#misses;
  }

  /** The acknowledged state of an aggregate, or undefined (a miss: ask the worker). Marks it recently used. */
  get(aggregateType: string, id: string): CachedState | undefined {
    const ids = this.#byType.get(aggregateType);
    const e = ids?.get(id);
    if (e === undefined) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    this.#touch(ids!, id, e);
    return read(e);
  }

  /**
   * Offers an acknowledged state (a command reply, or the owning worker's answer to a load). Freezes
   * `state` in place. Keeps it only if it is not older than the entry's. Returns the newest state known
   * for the aggregate after the offer: the offered one (the caller's own object) unless the entry was
   * newer, in which case a view of the entry.
   */
  offer(aggregateType: string, id: string, partition: number, version: number, state: unknown): CachedState {
    const immutable = deepFreeze(state);
    if (this.#max === 0) return { version, state };
    let ids = this.#byType.get(aggregateType);
    if (ids === undefined) this.#byType.set(aggregateType, (ids = new Map()));
    const e = ids.get(id);
    if (e !== undefined) {
      if (e.version > version) return read(e);
      e.version = version;
      e.state = immutable ? state : structuredClone(state);
      e.copied = !immutable;
      this.#touch(ids, id, e);
      return { version, state };
    }
    ids.set(id, { version, state: immutable ? state : structuredClone(state), partition, copied: !immutable, stamp: ++this.#stamp });
    if (++this.#size > this.#max) this.#evictOldest();
    return { version, state };
  }

  /** Forgets one aggregate (a command on it failed: its outcome may be unknown). */
  delete(aggregateType: string, id: string): void {
    if (this.#byType.get(aggregateType)?.delete(id)) this.#size--;
  }

  /** Forgets every aggregate whose partition matches (a worker restarted or died, a partition stopped). */
  dropPartitions(matches: (partition: number) => boolean): void {
    for (const ids of this.#byType.values()) {
      for (const [id, e] of ids) {
        if (matches(e.partition)) {
          ids.delete(id);
          this.#size--;
        }
      }
    }
  }

  clear(): void {
    this.#byType.clear();
    this.#size = 0;
  }

  /** Moves an entry to the back of the recency order, unless it is in the newer half already. */
  #touch(ids: Map<string, Entry>, id: string, e: Entry): void {
    if (this.#stamp - e.stamp < this.#max >>> 1) return;
    e.stamp = ++this.#stamp;
    ids.delete(id);
    ids.set(id, e);
  }

  /** The oldest entry is the first of one of the per-type Maps: there are only a few types. */
  #evictOldest(): void {
    let oldest: { ids: Map<string, Entry>; id: string; stamp: number } | null = null;
    for (const ids of this.#byType.values()) {
      const first = ids.entries().next();
      if (!first.done && (oldest === null || first.value[1].stamp < oldest.stamp)) oldest = { ids, id: first.value[0], stamp: first.value[1].stamp };
    }
    if (oldest !== null) {
      oldest.ids.delete(oldest.id);
      this.#size--;
    }
  }
}

function read(e: Entry): CachedState {
  return { version: e.version, state: e.copied ? structuredClone(e.state) : e.state };
}

/**
 * Freezes plain objects and arrays in place, depth first. Returns false when the value holds something
 * freezing cannot make immutable (Map, Set, Date, typed arrays, class instances, functions): the plain
 * parts are frozen all the same. Already-frozen objects are skipped, which also ends cycles.
 */
export function deepFreeze(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return typeof value !== 'function';
  if (Object.isFrozen(value)) return true;
  if (Array.isArray(value)) {
    Object.freeze(value);
    let all = true;
    for (let i = 0; i < value.length; i++) if (!deepFreeze(value[i])) all = false;
    return all;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  Object.freeze(value);
  let all = true;
  for (const k in value) if (!deepFreeze((value as Record<string, unknown>)[k])) all = false;
  return all;
}
