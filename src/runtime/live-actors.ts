/**
 * The actors a worker holds in memory, and the bound on how many (`maxLiveActors`).
 *
 * Why nested maps (type -> id -> actor): a lookup by a `${type}\0${id}` key string costs a concatenation
 * plus flattening and hashing a fresh string on every command (0.3-0.6 us in the profile, more than the
 * rest of the lookup); an id decoded from the wire is a flat string, hashed once.
 *
 * Why CLOCK instead of a strict LRU: a strict LRU re-inserts the actor into the Map on every command.
 * Here using an actor only stamps it (`referenced`, `lastUsed`); the cost of choosing whom to evict is
 * paid only when over the bound: walking from the oldest insertion, an actor used since the walk last
 * passed it gets a second chance (bit cleared, moved to the back); the others are passivated unless
 * they have commands queued or in flight.
 */
import type { AnyDecider, Lifecycle } from '../domain/index.js';

export interface Actor {
  /** `${type}\0${id}`: the key of its in-flight commandIds (built once, here). */
  readonly key: string;
  readonly aggregateType: string;
  readonly id: string;
  readonly partition: number;
  readonly decider: AnyDecider;
  /** Runs ahead of `durable*` while a batch commits (the next command of the drain decides on it). */
  state: unknown;
  version: number;
  lastTs: number;
  /** Live, soft-deleted or tombstoned (domain/stream-lifecycle.ts); runs ahead with `state`. */
  life: Lifecycle;
  /** What readers may see: the state of the last answered command. */
  durableState: unknown;
  durableVersion: number;
  durableLife: Lifecycle;
  /** Commands in the mailbox, not yet decided. */
  queued: number;
  /** Clock time (ms) of the drain that last used the actor: read once per drain, not per command. */
  lastUsed: number;
  /** CLOCK's reference bit: used since the eviction walk last passed it. */
  referenced: boolean;
}

export class LiveActors {
  readonly #byType = new Map<string, Map<string, Actor>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(aggregateType: string, id: string): Actor | undefined {
    return this.#byType.get(aggregateType)?.get(id);
  }

  add(actor: Actor): void {
    let ids = this.#byType.get(actor.aggregateType);
    if (!ids) this.#byType.set(actor.aggregateType, (ids = new Map()));
    if (!ids.has(actor.id)) this.#size++;
    ids.set(actor.id, actor);
  }

  clear(): void {
    this.#byType.clear();
    this.#size = 0;
  }

  /** Forgets every actor of `partition` (cluster mode: it moved to another node). Returns how many. */
  dropPartition(partition: number): number {
    const before = this.#size;
    for (const ids of this.#byType.values()) {
      for (const [id, a] of ids) {
        if (a.partition === partition) {
          ids.delete(id);
          this.#size--;
        }
      }
    }
    return before - this.#size;
  }

  /** Passivates actors until at most `max` are live (CLOCK, see above); each is visited at most twice. Returns how many. */
  evictOverflow(max: number): number {
    const before = this.#size;
    for (const ids of this.#byType.values()) {
      let budget = 2 * ids.size;
      for (const [id, a] of ids) {
        if (this.#size <= max || budget-- <= 0) break;
        if (a.queued !== 0 || a.version !== a.durableVersion) continue;
        ids.delete(id);
        if (a.referenced) {
          a.referenced = false;
          ids.set(id, a);
        } else this.#size--;
      }
      if (this.#size <= max) break;
    }
    return before - this.#size;
  }

  /** Passivates every actor unused since `cutoff` (ms) with nothing queued. Returns how many. */
  passivateIdle(cutoff: number): number {
    const before = this.#size;
    for (const ids of this.#byType.values()) {
      for (const [id, a] of ids) {
        if (a.lastUsed <= cutoff && a.queued === 0) {
          ids.delete(id);
          this.#size--;
        }
      }
    }
    return before - this.#size;
  }
}
