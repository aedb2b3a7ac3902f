/**
 * One feed subscriber: a WebSocket, its position (next offset per partition), the partitions it reads and
 * its filter.
 *
 * A client is either **live** or **catching up**. Live: its position equals the hub's cursor on every
 * partition it reads, and it is sent each batch the hub flushes (the message shared by every client with
 * the same filter), its position becoming the batch's `to`. Catching up: the pump brings it to the cursor,
 * message by message, from the replay buffer when a retained batch starts at its position (a client that
 * was paused between batches), else from the log, in pages of `catchUpChunk` events read up to the cursor.
 * When the position reaches the cursor the client goes live in the same turn, before the hub can flush
 * again, so the switch has no gap and no duplicate by construction: for every partition p, every event
 * with offset < next[p] was sent (or filtered out) exactly once, and nothing else was. A live client that
 * is offered a batch whose `from` is not its position (offsets were skipped, see hub.ts) goes back to
 * catching up, which reads what it lacks from the log.
 *
 * Why never past the cursor: the log makes a commit visible before it is flushed; the runtime announces
 * it only after the flush, and the cursor only covers announced events. Reading to the visible end could
 * send an event that a power loss would then take back. A client whose `from` is ahead of the cursor (it
 * connected with `now` while a flush was pending) waits for the next flush.
 *
 * Slow clients: after a send leaves more than `highWaterBytes` queued in the socket, the client is
 * paused: nothing more is queued for it, batches pass it by, so server memory stays bounded. When the
 * socket drains below `lowWaterBytes` (checked in the send callbacks, which fire as the kernel takes the
 * bytes) it catches up from its position. A client paused for longer than `maxPausedMs` is closed with
 * 4008; it reconnects with `?from=<position of the last message it processed>`.
 */
import type { WebSocket } from 'ws';
import { buildMessage, eventJson, matches, type FeedBatch, type FeedFilter, type FeedMessage } from './batch.js';
import { formatPosition, type EventEnvelope } from '../../kernel/index.js';
import { corruptRecord } from '../../log/index.js';

export type { FeedFilter } from './batch.js';

export const FEED_CLOSE = {
  /** The server is shutting down: reconnect later with `from`. */
  goingAway: 1001,
  /** The server could not read the log (e.g. a corrupt record): see the reason. */
  internalError: 1011,
  /** The client read too slowly: reconnect with `from` = the position of the last message processed. */
  slowConsumer: 4008,
} as const;

export interface FeedClientConfig {
  highWaterBytes: number;
  lowWaterBytes: number;
  maxPausedMs: number;
  catchUpChunk: number;
}

export interface FeedClientEvents {
  sent(events: number): void;
  paused(): void;
  closedSlow(): void;
  closed(client: FeedClient): void;
}

/** What a client reads besides live batches: the hub's cursor, its replay buffer, and the log. */
export interface FeedSource {
  /** Position after the last flushed batch: durable, and where the next batch starts. */
  readonly cursor: readonly number[];
  /** A retained batch starting at `next` on each of `partitions`, if any. */
  replayFrom(next: readonly number[], partitions: readonly number[]): FeedBatch | undefined;
  /** Up to `limit` events of a partition from offset `from`, in offset order. */
  readLog(partition: number, from: number, limit: number): Iterable<EventEnvelope>;
}

/** Text frames (ws sends a Buffer as binary unless told); one shared options object. */
const TEXT = { binary: false } as const;

export class FeedClient {
  readonly #socket: WebSocket;
  readonly #source: FeedSource;
  readonly #config: FeedClientConfig;
  readonly #events: FeedClientEvents;
  readonly #filter: FeedFilter;
  /** Partitions this client can receive anything from (one when filtering by stream). */
  readonly #partitions: readonly number[];
  readonly #relevant: boolean[];
  #next: number[];
  #live = false;
  /** Its position is ahead of the cursor on some partition: the next flush wakes the pump. */
  #waiting = false;
  #paused = false;
  #pausedTimer: NodeJS.Timeout | null = null;
  #pumpScheduled = false;
  #closed = false;
  /** Cleared by each ping, set by the pong: a client that does not answer one ping is dropped. */
  alive = true;

  constructor(socket: WebSocket, source: FeedSource, from: number[], partitions: readonly number[], filter: FeedFilter, config: FeedClientConfig, events: FeedClientEvents) {
    this.#socket = socket;
    this.#source = source;
    this.#next = from;
    this.#partitions = partitions;
    this.#relevant = from.map((_, p) => partitions.includes(p));
    this.#filter = filter;
    this.#config = config;
    this.#events = events;
    socket.on('pong', () => (this.alive = true));
    socket.on('close', () => this.#dispose());
    // Inbound messages carry nothing (maxPayload keeps them tiny); reading them keeps the socket flowing.
    socket.on('message', () => undefined);
  }

  /** Sends the hello message and starts catching up. */
  start(): void {
    this.#sendText(JSON.stringify({ kind: 'hello', position: formatPosition(this.#next), partitions: this.#next.length }));
    this.#schedulePump();
  }

  get closed(): boolean {
    return this.#closed;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Committed events not sent to this client yet, per partition (its lag). */
  lag(heads: readonly number[]): number[] {
    return heads.map((h, p) => (this.#relevant[p] ? Math.max(0, h - this.#next[p]!) : 0));
  }

  /** Called with every batch the hub flushes, in order. */
  offer(batch: FeedBatch): void {
    if (this.#closed) return;
    if (!this.#live) {
      if (this.#waiting) {
        this.#waiting = false;
        this.#schedulePump();
      }
      return;
    }
    if (!this.#at(batch.from)) {
      this.#live = false;
      this.#schedulePump();
      return;
    }
    this.#take(batch);
  }

  /** Sends `batch` (if anything in it passes the filter) and moves to its end. */
  #take(batch: FeedBatch): void {
    this.#next = [...batch.to];
    const m = batch.message(this.#filter);
    if (m) this.#send(m);
  }

  /** Whether the position equals `position` on every partition this client reads. */
  #at(position: readonly number[]): boolean {
    for (const p of this.#partitions) if (this.#next[p] !== position[p]) return false;
    return true;
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#paused || this.#closed || this.#live) return;
    this.#pumpScheduled = true;
    setImmediate(this.#pump);
  }

  /** Covers at most `catchUpChunk` events per event-loop turn, so one client cannot stall the server. */
  readonly #pump = (): void => {
    this.#pumpScheduled = false;
    let budget = this.#config.catchUpChunk;
    try {
      while (budget > 0) {
        if (this.#closed || this.#paused || this.#live) return;
        const cursor = this.#source.cursor;
        if (this.#partitions.some((p) => this.#next[p]! > cursor[p]!)) {
          this.#waiting = true;
          return;
        }
        if (this.#at(cursor)) {
          // Live from here: the next batch the hub flushes starts at the cursor.
          this.#next = [...cursor];
          this.#live = true;
          return;
        }
        const retained = this.#source.replayFrom(this.#next, this.#partitions);
        if (retained) {
          this.#take(retained);
          budget -= retained.size;
          continue;
        }
        const covered = this.#sendLogPage(cursor, budget);
        if (covered < 0) {
          // The log returned less than the runtime announced as durable: never spin on it, look again shortly.
          this.#pumpScheduled = true;
          setTimeout(this.#pump, 20).unref();
          return;
        }
        budget -= covered;
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.close(FEED_CLOSE.internalError, `cannot read the log: ${message}`);
      return;
    }
    this.#schedulePump();
  };

  /**
   * Reads up to `limit` events from the log, from the position toward the cursor, over the partitions
   * this client reads, and sends those that pass the filter as one message. Returns how many events it
   * covered, or -1 if the log had fewer than expected.
   */
  #sendLogPage(cursor: readonly number[], limit: number): number {
    const next = [...this.#next];
    const picked: string[] = [];
    let covered = 0;
    let short = false;
    for (const p of this.#partitions) {
      const want = Math.min(this.#config.catchUpChunk, limit - covered, cursor[p]! - next[p]!);
      if (want <= 0) continue;
      let got = 0;
      for (const e of this.#source.readLog(p, next[p]!, want)) {
        if (e.offset !== next[p]) throw corruptRecord('partitions', [p, next[p]], `partition ${p}: expected offset ${next[p]}, the log gave ${e.offset}`, p);
        next[p] = e.offset + 1;
        got++;
        if (matches(this.#filter, e.aggregateType, e.stream)) picked.push(eventJson(e));
      }
      covered += got;
      if (got < want) short = true;
      if (short || covered >= limit) break;
    }
    this.#next = next;
    if (picked.length) this.#send(buildMessage(formatPosition(next), picked));
    return short && covered === 0 ? -1 : covered;
  }

  #send(m: FeedMessage): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(m.data, TEXT, this.#onSent);
    this.#events.sent(m.events);
    this.#checkHighWater();
  }

  #sendText(text: string): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(text, this.#onSent);
    this.#checkHighWater();
  }

  #checkHighWater(): void {
    if (!this.#paused && this.#socket.bufferedAmount > this.#config.highWaterBytes) this.#pause();
  }

  readonly #onSent = (err?: Error): void => {
    if (err || !this.#paused || this.#closed) return;
    if (this.#socket.bufferedAmount <= this.#config.lowWaterBytes) this.#resume();
  };

  #pause(): void {
    this.#paused = true;
    this.#live = false;
    this.#events.paused();
    this.#pausedTimer = setTimeout(() => {
      if (!this.#paused || this.#closed) return;
      this.#events.closedSlow();
      this.close(FEED_CLOSE.slowConsumer, 'too slow: reconnect with ?from=<position of the last message you processed>');
    }, this.#config.maxPausedMs);
    this.#pausedTimer.unref();
  }

  #resume(): void {
    this.#paused = false;
    if (this.#pausedTimer) clearTimeout(this.#pausedTimer);
    this.#pausedTimer = null;
    this.#schedulePump();
  }

  ping(): void {
    if (!this.alive) {
      this.#socket.terminate();
      return;
    }
    this.alive = false;
    this.#socket.ping();
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    // Close frames carry at most 123 bytes of reason.
    this.#socket.close(code, Buffer.from(reason).subarray(0, 123).toString());
    this.#dispose();
  }

  #dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#pausedTimer) clearTimeout(this.#pausedTimer);
    this.#events.closed(this);
  }
}
