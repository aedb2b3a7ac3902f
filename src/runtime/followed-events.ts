/**
 * Cluster mode, on the main thread: the events the worker applied to the cache from the log of record
 * (the partitions other nodes write, which the cache follows; a takeover's catch-up; a re-sync), passed
 * on to the runtime's subscribers as its own commits are, so that the feed on any node shows every
 * partition at the same positions (offsets come from the log of record's messages, identical on every
 * node).
 *
 * The worker says only which offsets it applied (`applied`, protocol.ts); the events are read back here
 * from the cache (the same LMDB environment), in chunks of READ_CHUNK, through the runtime's log (the
 * deciders' current versions, as every main-thread read). Each partition's `offsets` entry is the
 * position up to which its events were announced: a notice reads from there, never from its own
 * `from`, so nothing is announced twice and nothing skipped, even when a notice was missed (a restarted
 * worker's opening catch-up is announced by the next notice).
 *
 * Gotchas:
 * - Messages from the worker are handled in order, and this runs synchronously for each: a partition's
 *   followed events reach subscribers before any later commit of that partition by this node.
 * - A notice announces at most what one local commit of the cache applied (bounded there: 128 messages
 *   or 8 MiB, local-cache.ts); it is read and handed on in chunks of READ_CHUNK events.
 */
import type { EventEnvelope } from '../kernel/index.js';
import type { LogReader } from '../log/index.js';
import type { ReadFreshness } from './read-freshness.js';

/** Events read and handed to subscribers at a time. */
const READ_CHUNK = 1_000;

export class FollowedEvents {
  readonly #log: LogReader;
  readonly #offsets: number[];
  readonly #freshness: ReadFreshness;
  readonly #announce: (events: EventEnvelope[]) => void;
  readonly #lag: (number | null)[];
  /** Per partition, why following it failed last (cleared by its next notice, or its recovery). */
  readonly #failures: ({ code: string; message: string } | null)[];

  /** `offsets`: the runtime's per-partition positions (moved forward here); `announce`: hands events to the subscribers. */
  constructor(log: LogReader, offsets: number[], freshness: ReadFreshness, announce: (events: EventEnvelope[]) => void) {
    this.#log = log;
    this.#offsets = offsets;
    this.#freshness = freshness;
    this.#announce = announce;
    this.#lag = offsets.map(() => null);
    this.#failures = offsets.map(() => null);
  }

  /** The worker applied `partition` up to offset `to` (exclusive) from the log of record. */
  applied(partition: number, to: number, lag: number | null): void {
    this.#lag[partition] = lag;
    this.#failures[partition] = null;
    let from = this.#offsets[partition]!;
    if (to <= from) return;
    this.#freshness.touched(partition);
    this.#freshness.fresh(partition);
    while (from < to) {
      const events = this.#log.readPartition(partition, from, Math.min(READ_CHUNK, to - from));
      const last = events[events.length - 1];
      // Not in the cache after all (it cannot be: the worker applied it before it said so): the next notice reads it.
      if (last === undefined) return;
      from = last.offset + 1;
      if (from > this.#offsets[partition]!) this.#offsets[partition] = from;
      this.#announce(events);
    }
  }

  /** Following `partition` failed (the worker tries again after a pause). */
  failed(partition: number, error: { code: string; message: string }): void {
    this.#failures[partition] = { code: error.code, message: error.message };
  }

  /** Following `partition` works again (a fetch went through): its failure is cleared. */
  recovered(partition: number): void {
    this.#failures[partition] = null;
  }

  /** Why following `partition` failed last (`code: message`), while it has not recovered since (null: no failure). */
  failure(partition: number): string | null {
    const f = this.#failures[partition];
    return f ? `${f.code}: ${f.message}` : null;
  }

  /** The same, with the error's code apart. */
  failureOf(partition: number): { code: string; message: string } | null {
    return this.#failures[partition] ?? null;
  }

  /** Stream messages of a followed partition known not applied yet (null: not followed, or not known). */
  lag(partition: number): number | null {
    return this.#lag[partition] ?? null;
  }
}
