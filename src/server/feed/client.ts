/**
 * One feed subscriber: a WebSocket, its position (next offset per partition), the partitions it reads and
 * its filter.
 *
 * A client is either **live** or **catching up**. Live: its position equals the hub's cursor on every
 * partition it reads, and it is sent each batch the hub flushes (the message shared by every client with
 * the same filter), its position becoming the batch's `to`. Catching up: the pump brings it to the cursor,
 * message by message, from the replay buffer when a retained batch starts at its position and it is at
 * most `catchUpChunk` events behind (a client that was paused between batches), else from the log: then
 * it asks the catch-up scheduler for a slot (catch-up-scheduler.ts: a bound on concurrent catch-ups, a
 * budget per event-loop turn, a share of the thread), and once active it sends, one partition after the
 * other, the chunks of the log between its position and the end of its lap (the cursor when the lap
 * began; see `#target`) (chunk-store.ts: read and encoded once, off the main thread, shared by every
 * client at that place). Far behind, chunks of a thousand events are cheaper to send than the retained
 * batches (a few events each under a steady load): hence laps over the log first, and the replay buffer
 * for the last stretch.
 * When the position reaches the cursor the client goes live in the same turn, before the hub can flush
 * again, so the switch has no gap and no duplicate by construction: for every partition p, every event
 * with offset < next[p] was sent (or filtered out) exactly once, and nothing else was. A live client that
 * is offered a batch whose `from` is not its position (offsets were skipped, see hub.ts) goes back to
 * catching up, which reads what it lacks from the log.
 *
 * A catch-up message is its own head (`{"kind":"events","position":"<after>","events":[`, the position
 * being this client's) and then the chunk's shared bytes from the client's event on (encoded-chunk.ts),
 * sent as two frames of one WebSocket message (a fragmented message, which every WebSocket client
 * reassembles): nothing is copied per client. Small messages go as one frame (the copy is cheaper than a
 * second frame).
 *
 * Why never past the cursor: the log makes a commit visible before it is flushed; the runtime announces
 * it only after the flush, and the cursor only covers announced events. Reading to the visible end could
 * send an event that a power loss would then take back. A client whose `from` is ahead of the cursor (it
 * connected with `now` while a flush was pending) waits for the next flush.
 *
 * Slow clients: after a send leaves more than `highWaterBytes` queued in the socket, the client is
 * paused: nothing more is queued for it, batches pass it by, it gives its catch-up slot back, so server
 * memory stays bounded (the high-water mark plus one message) and others are not held up. When the
 * socket drains below `lowWaterBytes` (checked in the send callbacks, which fire as the kernel takes the
 * bytes) it catches up from its position. A client paused for longer than `maxPausedMs` is closed with
 * 4008; it reconnects with `?from=<position of the last message it processed>`.
 */
import type { WebSocket } from 'ws';
import { messageHead, type FeedBatch, type FeedFilter, type FeedMessage } from './batch.js';
import type { CatchUpScheduler, CatchUpStep, CatchUpTask } from './catch-up-scheduler.js';
import type { ChunkStore } from './chunk-store.js';
import type { ChunkPart, EncodedChunk } from './encoded-chunk.js';
import { formatPosition } from '../../kernel/index.js';

/** Sent to a client that was sent nothing for a ping period (docs/http-api.md, "WebSocket feed"). */
const HEARTBEAT = JSON.stringify({ kind: 'heartbeat' });

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
  /** Bytes of events a client's own pump sends per event-loop turn (replayed batches). */
  turnBytes: number;
  /** Events behind the cursor within which a client follows retained batches rather than the log's chunks. */
  replayWithin: number;
}

export interface FeedClientEvents {
  sent(events: number): void;
  paused(): void;
  closedSlow(): void;
  closed(client: FeedClient): void;
}

/** What a client reads besides live batches: the hub's cursor, its replay buffer, and the log's chunks. */
export interface FeedSource {
  /** Position after the last flushed batch: durable, and where the next batch starts. */
  readonly cursor: readonly number[];
  /** A retained batch starting at `next` on each of `partitions`, if any. */
  replayFrom(next: readonly number[], partitions: readonly number[]): FeedBatch | undefined;
  /** How many retained batches follow from `next` to the newest (0 when none starts there). */
  replayDepth(next: readonly number[], partitions: readonly number[]): number;
  /** The log's events, in shared encoded chunks. */
  readonly chunks: ChunkStore;
  /** Who may read the log now. */
  readonly catchUps: CatchUpScheduler;
}

/** Text frames (ws sends a Buffer as binary unless told); one shared options object each. */
const TEXT = { binary: false } as const;
const MORE_FRAGMENTS = { binary: false, fin: false } as const;
const LAST_FRAGMENT = { binary: false, fin: true } as const;
/** Below this, a catch-up message is copied into one frame rather than sent as two. */
const ONE_FRAME_BYTES = 16 * 1024;
/** What filtering an event out costs, counted against the turn's budget as if that many bytes were sent. */
const FILTER_COST_PER_EVENT = 64;
/** At the end of a lap, a client this few retained batches from the cursor follows them rather than lapping again. */
const FOLLOW_BATCHES = 64;
/** After the log read short of the cursor, wait this long before reading again (never spin on it). */
const SHORT_READ_RETRY_MS = 20;

/** One move toward the cursor: bytes sent, nothing to do now, or (own pump) the log is needed. */
type Advance = number | 'idle' | 'log' | Promise<unknown>;

export class FeedClient implements CatchUpTask {
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
  /**
   * Where the current lap of a catch-up from the log ends: the cursor when the lap began. A fixed place,
   * unlike the cursor, which moves with every flush: aiming at the cursor itself, a client whose chunks
   * are read by another thread could chase it for ever under a steady load (reaching it on one partition
   * while the others move on). The end of a lap is the start of the batch flushed next, a batch the
   * replay buffer keeps for a while.
   */
  #target: number[] | null = null;
  /** Events behind the cursor when the current lap began. */
  #lapLength = 0;
  /** Following retained batches (until one is missing): see `#advance`. */
  #replaying = false;
  /** The chunk a read brought for this client, until its next step sends it (the store may not keep it). */
  #loaded: EncodedChunk | null = null;
  /** Cleared by each ping, set by the pong: a client that does not answer one ping is dropped. */
  alive = true;
  /** Whether a message went out since the last ping: a client sent nothing gets a heartbeat instead. */
  #sentSincePing = true;

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

  /** Sends what needs no log read (replayed batches), at most `turnBytes` a turn; queues for the log. */
  readonly #pump = (): void => {
    this.#pumpScheduled = false;
    let budget = this.#config.turnBytes;
    try {
      while (budget > 0) {
        const r = this.#advance(false);
        if (r === 'idle') return;
        if (r === 'log') return this.#source.catchUps.request(this);
        if (typeof r !== 'number') return;
        budget -= Math.max(1, r);
      }
    } catch (err) {
      return this.#failed(err);
    }
    this.#schedulePump();
  };

  /** One step of a catch-up from the log, when the scheduler gives this client its turn. */
  step(): CatchUpStep {
    try {
      const r = this.#advance(true);
      return r === 'idle' || r === 'log' ? 'done' : r;
    } catch (err) {
      this.#failed(err);
      return 'done';
    }
  }

  #advance(fromLog: boolean): Advance {
    if (this.#closed || this.#paused || this.#live) return 'idle';
    const cursor = this.#source.cursor;
    if (this.#partitions.some((p) => this.#next[p]! > cursor[p]!)) {
      this.#waiting = true;
      return 'idle';
    }
    if (this.#at(cursor)) {
      // Live from here: the next batch the hub flushes starts at the cursor.
      this.#next = [...cursor];
      this.#live = true;
      this.#target = null;
      this.#replaying = false;
      this.#loaded = null;
      return 'idle';
    }
    if (this.#replaying || this.#behind(cursor) <= this.#config.replayWithin) {
      const taken = this.#replay();
      if (taken !== null) return taken;
      this.#replaying = false;
    }
    if (!fromLog) return 'log';
    if (this.#target === null || this.#at(this.#target)) {
      // The end of a lap (see `#target`). Far behind, another lap reads what was committed meanwhile, in
      // chunks: fewer, larger messages than the retained batches (a few events each under a steady load).
      // Close to live (a few dozen batches to follow), or when laps stop getting shorter (the load
      // commits as fast as a lap goes), the client follows the retained batches instead, which ends the
      // chase: it takes them without waiting for reads, nor for a catch-up slot.
      const behind = this.#behind(cursor);
      const follow = this.#target !== null && (behind >= this.#lapLength || this.#source.replayDepth(this.#next, this.#partitions) <= FOLLOW_BATCHES);
      const taken = follow ? this.#replay() : null;
      if (taken !== null) return taken;
      this.#target = [...cursor];
      this.#lapLength = behind;
    }
    return this.#fromLog(this.#target);
  }

  /** Takes the retained batch at this client's position, if any (its bytes), and follows the batches from then on. */
  #replay(): number | null {
    const retained = this.#source.replayFrom(this.#next, this.#partitions);
    if (!retained) return null;
    this.#replaying = true;
    this.#take(retained);
    return retained.bytes;
  }

  /** Events between this client's position and `cursor`, over the partitions it reads. */
  #behind(cursor: readonly number[]): number {
    let n = 0;
    for (const p of this.#partitions) n += cursor[p]! - this.#next[p]!;
    return n;
  }

  /**
   * Sends the chunk at this client's position on the first partition where it is behind `target` (one
   * message), or starts reading it. Never past the cursor: `target` is at or before it, chunks are read up
   * to `target`, and the cursor only moves forward.
   */
  #fromLog(target: readonly number[]): Advance {
    const p = this.#partitions.find((q) => this.#next[q]! < target[q]!)!;
    const offset = this.#next[p]!;
    const end = target[p]!;
    const store = this.#source.chunks;
    // The chunk a read just brought is used once, then let go: a client holds no chunk between turns.
    const loaded = this.#loaded;
    this.#loaded = null;
    const chunk = loaded && loaded.partition === p && loaded.first <= offset && loaded.end > offset ? loaded : store.find(p, offset);
    if (!chunk) {
      return store.load(p, offset, end).then(
        (c) => {
          this.#loaded = c;
          // The log had less than the runtime announced as durable: look again shortly.
          if (c.end <= offset) return new Promise((r) => setTimeout(r, SHORT_READ_RETRY_MS).unref());
          return undefined;
        },
        (err: unknown) => this.#failed(err),
      );
    }
    // A kept chunk may reach past this lap's end (another client read it for a later lap): stop there.
    const to = Math.min(chunk.end, end);
    this.#next[p] = to;
    const part = chunk.filtered(this.#filter)?.part(offset, to) ?? null;
    if (part) this.#sendPart(part);
    const next = this.#partitions.find((q) => this.#next[q]! < target[q]!);
    if (next !== undefined) store.readAhead(next, this.#next[next]!, target[next]!);
    return (part?.bytes ?? 0) + (part && part.events === to - offset ? 0 : FILTER_COST_PER_EVENT * (to - offset));
  }

  /** A catch-up message: this client's head, then the chunk's shared bytes. */
  #sendPart(part: ChunkPart): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    const head = Buffer.from(messageHead(formatPosition(this.#next)), 'latin1');
    if (part.bytes <= ONE_FRAME_BYTES) {
      this.#socket.send(Buffer.concat([head, ...part.data]), TEXT, this.#onSent);
    } else {
      this.#socket.send(head, MORE_FRAGMENTS);
      const last = part.data.length - 1;
      part.data.forEach((d, i) => this.#socket.send(d, i === last ? LAST_FRAGMENT : MORE_FRAGMENTS, i === last ? this.#onSent : undefined));
    }
    this.#events.sent(part.events);
    this.#afterSend();
  }

  #failed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.close(FEED_CLOSE.internalError, `cannot read the log: ${message}`);
  }

  #send(m: FeedMessage): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(m.data, TEXT, this.#onSent);
    this.#events.sent(m.events);
    this.#afterSend();
  }

  #sendText(text: string): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(text, this.#onSent);
    this.#afterSend();
  }

  /** A message was queued: no heartbeat is due at the next ping, and a full socket pauses the client. */
  #afterSend(): void {
    this.#sentSincePing = true;
    if (!this.#paused && this.#socket.bufferedAmount > this.#config.highWaterBytes) this.#pause();
  }

  readonly #onSent = (err?: Error): void => {
    if (err || !this.#paused || this.#closed) return;
    if (this.#socket.bufferedAmount <= this.#config.lowWaterBytes) this.#resume();
  };

  #pause(): void {
    this.#paused = true;
    this.#live = false;
    this.#loaded = null;
    this.#source.catchUps.release(this);
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

  /**
   * The sweep: a peer that missed the last pong is dropped; one that was sent nothing since the last
   * sweep gets a heartbeat message, which a client can see (a browser's WebSocket hides pings) and use
   * to tell a quiet feed from a dead connection (client/feed.ts, `idleTimeoutMs`).
   */
  ping(): void {
    if (!this.alive) {
      this.#socket.terminate();
      return;
    }
    if (!this.#sentSincePing && !this.#paused) this.#sendText(HEARTBEAT);
    this.#sentSincePing = false;
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
    this.#loaded = null;
    this.#source.catchUps.release(this);
    this.#events.closed(this);
  }
}
