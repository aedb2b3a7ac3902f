/**
 * One feed subscriber: a WebSocket, its position (next offset per partition) and its filters.
 *
 * Catch-up and live are one mechanism. Events are sent straight from the runtime's commit notifications
 * while the client is caught up on their partition; whenever it is not (it connected with an old `from`,
 * it was paused for being slow, or a notification skipped offsets), the partition is marked "behind" and
 * the pump reads it from the log, from the client's offset up to the partition's durable head, in chunks.
 * A notification for a behind partition is ignored (the pump will read that event from the log), and one
 * below the client's offset is a duplicate and dropped. So the switch from catch-up to live has no gap
 * and no duplicate by construction: for every partition p, every event with offset < next[p] was sent
 * (or filtered out) exactly once, and nothing else was.
 *
 * Why read up to `runtime.partitions()` and not to the end of the log: the log makes a commit visible
 * before it is flushed; the runtime advances its offsets only after the flush. Reading to the visible end
 * could send an event that a power loss would then take back.
 *
 * Slow clients: after a send leaves more than `highWaterBytes` queued in the socket, the client is
 * paused: nothing more is queued, live events only mark partitions behind, so server memory stays bounded.
 * When the socket drains below `lowWaterBytes` (checked in the send callbacks, which fire as the kernel
 * takes the bytes) the pump resumes from the position. A client paused for longer than `maxPausedMs` is
 * closed with 4008; it reconnects with `?from=<position of the last message it processed>`.
 */
import type { WebSocket } from 'ws';
import type { EventEnvelope } from '../../kernel/index.js';
import type { Runtime } from '../../runtime/index.js';
import { envelopeJson } from '../envelope-json.js';
import { formatPosition } from './position.js';

export const FEED_CLOSE = {
  /** The server is shutting down: reconnect later with `from`. */
  goingAway: 1001,
  /** The server could not read the log (e.g. a corrupt record): see the reason. */
  internalError: 1011,
  /** The client read too slowly: reconnect with `from` = the position of the last message processed. */
  slowConsumer: 4008,
} as const;

export interface FeedFilter {
  /** Only events of this aggregate type. */
  aggregateType?: string;
  /** Only events of this stream (aggregate id). */
  stream?: string;
}

export interface FeedClientConfig {
  highWaterBytes: number;
  lowWaterBytes: number;
  maxPausedMs: number;
  catchUpChunk: number;
}

export interface FeedClientEvents {
  sent(): void;
  paused(): void;
  closedSlow(): void;
  closed(client: FeedClient): void;
}

/** JSON of an envelope, computed once per event object however many clients receive it. */
const envelopeText = new WeakMap<EventEnvelope, string>();

function eventMessage(e: EventEnvelope, position: string): string {
  let json = envelopeText.get(e);
  if (json === undefined) envelopeText.set(e, (json = JSON.stringify(envelopeJson(e))));
  return `{"kind":"event","position":${JSON.stringify(position)},${json.slice(1)}`;
}

export class FeedClient {
  readonly #socket: WebSocket;
  readonly #runtime: Runtime;
  readonly #config: FeedClientConfig;
  readonly #events: FeedClientEvents;
  readonly #filter: FeedFilter;
  /** Partitions this client can receive anything from (one when filtering by stream). */
  readonly #partitions: readonly number[];
  readonly #relevant: boolean[];
  readonly #next: number[];
  readonly #behind = new Set<number>();
  #paused = false;
  #pausedTimer: NodeJS.Timeout | null = null;
  #pumpScheduled = false;
  #closed = false;
  /** Cleared by each ping, set by the pong: a client that does not answer one ping is dropped. */
  alive = true;

  constructor(socket: WebSocket, runtime: Runtime, from: number[], partitions: readonly number[], filter: FeedFilter, config: FeedClientConfig, events: FeedClientEvents) {
    this.#socket = socket;
    this.#runtime = runtime;
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
    for (const p of this.#partitions) this.#behind.add(p);
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

  /** Called with every batch of committed events (one command's events, in offset order). */
  offer(events: readonly EventEnvelope[]): void {
    if (this.#closed) return;
    for (const e of events) {
      const p = e.partition;
      // Not a partition this client reads (stream filter), or one the pump is reading from the log.
      if (!this.#relevant[p] || this.#behind.has(p)) continue;
      const next = this.#next[p]!;
      if (e.offset < next) continue; // already sent
      if (this.#paused || e.offset > next) {
        // Paused, or a notification skipped offsets (e.g. a worker crashed between commit and reply):
        // the log has everything, so read it from there.
        this.#behind.add(p);
        this.#schedulePump();
        continue;
      }
      this.#deliver(e);
    }
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#paused || this.#closed || this.#behind.size === 0) return;
    this.#pumpScheduled = true;
    setImmediate(() => this.#pump());
  }

  /** Reads at most `catchUpChunk` events from the log per event-loop turn, so one client cannot stall the server. */
  #pump(): void {
    this.#pumpScheduled = false;
    if (this.#closed || this.#paused) return;
    const heads = this.#runtime.partitions();
    let budget = this.#config.catchUpChunk;
    let short = false;
    try {
      for (const p of [...this.#behind]) {
        const head = heads[p]?.offset ?? 0;
        const want = Math.min(budget, head - this.#next[p]!);
        let got = 0;
        if (want > 0) {
          for (const e of this.#runtime.log.iteratePartition(p, this.#next[p]!, want)) {
            this.#deliver(e);
            got++;
            if (this.#paused || this.#closed) return;
          }
        }
        budget -= got;
        if (got < want) short = true;
        if (this.#next[p]! >= head) this.#behind.delete(p);
        if (budget <= 0) break;
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.close(FEED_CLOSE.internalError, `cannot read the log: ${message}`);
      return;
    }
    if (short) {
      // The log returned less than the runtime says is durable: never spin on it, look again shortly.
      this.#pumpScheduled = true;
      setTimeout(() => this.#pump(), 20).unref();
      return;
    }
    this.#schedulePump();
  }

  #deliver(e: EventEnvelope): void {
    const p = e.partition;
    if (e.offset !== this.#next[p]) return; // never out of order: the pump re-reads from next[p]
    this.#next[p] = e.offset + 1;
    if (this.#filter.aggregateType !== undefined && e.aggregateType !== this.#filter.aggregateType) return;
    if (this.#filter.stream !== undefined && e.stream !== this.#filter.stream) return;
    this.#sendText(eventMessage(e, formatPosition(this.#next)));
    this.#events.sent();
  }

  #sendText(text: string): void {
    if (this.#socket.readyState !== this.#socket.OPEN) return;
    this.#socket.send(text, this.#onSent);
    if (!this.#paused && this.#socket.bufferedAmount > this.#config.highWaterBytes) this.#pause();
  }

  readonly #onSent = (err?: Error): void => {
    if (err || !this.#paused || this.#closed) return;
    if (this.#socket.bufferedAmount <= this.#config.lowWaterBytes) this.#resume();
  };

  #pause(): void {
    this.#paused = true;
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
    // Live events that arrived while paused only marked their partitions behind; offsets past next[p] on
    // partitions not marked are impossible, but re-checking every partition costs nothing and proves it.
    const heads = this.#runtime.partitions();
    for (const p of this.#partitions) if ((heads[p]?.offset ?? 0) > this.#next[p]!) this.#behind.add(p);
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
