/**
 * Follows the partitions this node does not write: keeps their part of the cache caught up with the
 * log of record in the background, so that every node's cache holds every partition (the feed, history
 * and `subscribe` on any node see all of them, at the same offsets: offsets come from the messages).
 *
 * One loop per followed partition: an ordered consumer from the seq after the cache's checkpoint, read
 * with bounded fetches (at most FETCH_MESSAGES messages, each at most the server's max_payload), each
 * message handed on as it arrives. Messages that arrive while a local commit is running are applied
 * together in the next one (LocalCache.applyFollowed, which also checks each message exactly as a
 * catch-up does), and the next fetch starts only once everything fetched is applied: memory stays
 * bounded by one fetch whatever the write rate.
 *
 * Why fetches and not `consume()`: the client's consume re-pulls as messages arrive, not as they are
 * processed, so a cache slower than the writers would buffer without bound.
 *
 * Gotchas:
 * - A partition is followed only while this node does not write it. `unfollow` is synchronous: an
 *   apply already waiting for the partition sees it and drops its messages (LocalCache re-checks under
 *   the partition's lock), so the acquire's own catch-up starts from what the follower did apply.
 * - A failure (a foreign write, a lost connection) is reported (`failed`) and retried after a growing
 *   pause (at most RETRY_MAX_MS); the loop reads again from the checkpoint each time. Once a fetch goes
 *   through again, or messages are applied, `recovered` says so (once), so the runtime's health clears.
 */
import type { ConsumerMessages } from '@nats-io/jetstream';
import type { LocalCache, PartitionTip } from './local-cache.js';
import { streamMessage, type PartitionStreams, type StreamMessage } from './partition-streams.js';

/** Messages one fetch asks for: bounds what a followed partition holds in memory. */
const FETCH_MESSAGES = 64;
/** How long a fetch waits for messages that are not there yet (they are handed on as they arrive). */
const FETCH_EXPIRES_MS = 5_000;
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 15_000;

interface Following {
  stopped: boolean;
  fetch: ConsumerMessages | null;
  /** Messages of the stream known to be past what is applied (0: caught up as of the last message seen). */
  lag: number;
  /** The last failure, while the loop waits to try again. */
  failure: unknown;
  /** A failure was reported (`failed`) and no recovery since: the next clean read reports `recovered`. */
  reported: boolean;
}

export interface FollowerHooks {
  /** The partition's cache is at `tip` now (the committer's view of the log of record moves on). */
  applied(partition: number, tip: PartitionTip): void;
  /** Following the partition failed (it is tried again after a pause). */
  failed(partition: number, err: unknown): void;
  /**
   * Following the partition works again after a reported failure: a fetch went through, or messages
   * were applied. Told once per recovery, so an idle partition's failure does not outlive its cause.
   */
  recovered?(partition: number): void;
}

export class PartitionFollower {
  readonly #streams: PartitionStreams;
  readonly #cache: LocalCache;
  readonly #hooks: FollowerHooks;
  readonly #following = new Map<number, Following>();
  #closed = false;

  constructor(streams: PartitionStreams, cache: LocalCache, hooks: FollowerHooks) {
    this.#streams = streams;
    this.#cache = cache;
    this.#hooks = hooks;
  }

  follow(partition: number): void {
    if (this.#closed || this.#following.has(partition)) return;
    const f: Following = { stopped: false, fetch: null, lag: 0, failure: null, reported: false };
    this.#following.set(partition, f);
    void this.#run(partition, f);
  }

  /** Stops following `partition` at once (see the Gotchas). */
  unfollow(partition: number): void {
    const f = this.#following.get(partition);
    if (f === undefined) return;
    f.stopped = true;
    f.fetch?.stop();
    this.#following.delete(partition);
  }

  following(partition: number): boolean {
    return this.#following.has(partition);
  }

  /** Messages of a followed partition's stream not applied yet, as far as this node knows (null: not followed). */
  lag(partition: number): number | null {
    return this.#following.get(partition)?.lag ?? null;
  }

  /**
   * Stops every loop and waits for the local commits running: a loop waiting on the network (a
   * reconnect, a pause before a retry) is not waited for; when it wakes it applies nothing.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const p of [...this.#following.keys()]) this.unfollow(p);
    await this.#cache.idle();
  }

  async #run(partition: number, f: Following): Promise<void> {
    let pause = RETRY_MIN_MS;
    while (!f.stopped) {
      try {
        await this.#follow(partition, f);
        pause = RETRY_MIN_MS;
      } catch (err) {
        if (f.stopped) return;
        f.failure = err;
        f.reported = true;
        this.#hooks.failed(partition, err);
        await new Promise((r) => setTimeout(r, pause).unref());
        pause = Math.min(pause * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Follows from the cache's checkpoint until stopped, or until the messages no longer follow it (returns: read again). */
  async #follow(partition: number, f: Following): Promise<void> {
    const name = this.#streams.streamName(partition);
    this.#cache.local.refreshReads();
    const consumer = await this.#streams.orderedConsumer(partition, this.#cache.tip(partition).seq + 1);
    while (!f.stopped) {
      const batch = await consumer.fetch({ max_messages: FETCH_MESSAGES, expires: FETCH_EXPIRES_MS });
      f.fetch = batch;
      if (f.stopped) {
        batch.stop();
        return;
      }
      const pending: StreamMessage[] = [];
      let known = 0;
      let received = 0;
      let applying: Promise<void> | null = null;
      let failure: unknown = null;
      let again = false;
      // Applies what arrived, in one local commit per run, while more may arrive (see the header).
      const kick = (): void => {
        if (applying !== null) return;
        applying = (async () => {
          try {
            while (pending.length > 0 && !f.stopped && !again) {
              const result = await this.#cache.applyFollowed(name, partition, pending.splice(0), () => !f.stopped);
              if (result.kind === 'stale') return;
              if (result.kind === 'gap') {
                again = true;
                return;
              }
              f.lag = Math.max(0, known - result.tip.seq);
              f.failure = null;
              this.#hooks.applied(partition, result.tip);
              this.#recovered(partition, f);
            }
          } catch (err) {
            failure = err;
          } finally {
            applying = null;
          }
        })();
      };
      for await (const m of batch) {
        if (f.stopped || again || failure !== null) break;
        pending.push(streamMessage(m));
        received++;
        known = Math.max(known, m.info.streamSequence + m.info.pending);
        kick();
      }
      batch.stop();
      while (applying !== null) await applying;
      if (pending.length > 0 && !f.stopped && !again && failure === null) {
        kick();
        while (applying !== null) await applying;
      }
      if (failure !== null) throw failure;
      if (again) return;
      // A fetch that ended short of what it asked for ran to its expiry with nothing more to deliver:
      // everything there was is applied. Without this an idle partition kept the lag of its last
      // message's `pending` count, or of the fetch before a retry, until its next write.
      if (received < FETCH_MESSAGES && !f.stopped) f.lag = 0;
      // A whole fetch went through (maybe empty: an idle partition): following works again.
      this.#recovered(partition, f);
    }
  }

  #recovered(partition: number, f: Following): void {
    if (!f.reported || f.stopped) return;
    f.reported = false;
    this.#hooks.recovered?.(partition);
  }
}
