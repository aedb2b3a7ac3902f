/**
 * The feed's server side: one runtime subscription, batched and fanned out to every connected
 * `FeedClient`; the replay buffer; the client cap; and the ping/pong sweep that drops dead peers.
 *
 * Why batches: the runtime announces commits one command at a time. Sending each event to each client as
 * its own message made the feed cost (events x clients) WebSocket sends: at 20 000 events/s and 100
 * clients, 2 M socket writes a second on the main thread, which also routes every command, so commits
 * collapsed (~390/s with 100 clients against ~19 900/s without). The hub instead collects what was
 * committed since its last flush and flushes at most once per `batchIntervalMs` (immediately, on the
 * next turn, when the feed has been quiet for that long): the cost becomes (flushes x clients) sends of
 * one shared Buffer per filter, plus one JSON serialisation per event.
 *
 * The cursor: the position just after the last flushed batch. It only moves in `#flush`, and only over
 * events the runtime announced, which it does after they are durable, so it is always a durable position.
 * Clients catching up read the log up to the cursor (never further), then switch to live in the same
 * event-loop turn: the next batch starts exactly at the cursor, so there is no gap and no duplicate.
 *
 * Catching up from the log is shared and bounded: chunks are read and encoded once, by a reader thread
 * when the log is on disk (chunk-reader.ts), kept in a chunk store every client at the same place reads
 * from (chunk-store.ts), and at most `maxCatchUps` clients catch up at a time, in turns of at most
 * `catchUpTurnBytes` (catch-up-scheduler.ts).
 *
 * Gotchas: a notification that skips offsets of a partition (a worker crashed between commit and reply)
 * makes the next batch start past the cursor on that partition; clients see that its `from` is not their
 * position and catch up from the log. Every buffer here is bounded: pending events by what the runtime
 * commits in one interval, a message by `maxBatchEvents`, the replay buffer by `replayBufferBytes`, and
 * each socket by `highWaterBytes` (past it the client is paused; see client.ts).
 */
import type { WebSocket } from 'ws';
import type { EventEnvelope } from '../../kernel/index.js';
import { AUDIT_TYPE } from '../../domain/index.js';
import type { Runtime } from '../../runtime/index.js';
import { FeedBatch, type FeedFilter } from './batch.js';
import { CatchUpScheduler } from './catch-up-scheduler.js';
import { InlineChunkReader, type ChunkReader } from './chunk-reader.js';
import { ThreadChunkReader } from './chunk-reader-thread.js';
import { ChunkStore } from './chunk-store.js';
import { FeedClient, type FeedClientConfig, type FeedSource } from './client.js';
import { ReplayBuffer } from './replay-buffer.js';

export interface FeedOptions {
  /**
   * Origins allowed to open the feed from a browser: a list of exact origins (`https://ops.example.com`),
   * or `'*'` for any. Default: same origin only (the Origin's host equals the Host header). Requests with
   * no Origin header (not from a browser) are allowed: the check exists against cross-site WebSocket hijacking.
   */
  allowedOrigins?: readonly string[] | '*';
  /** Connected clients before new handshakes get 503 `Overloaded` (default 1 000). */
  maxClients?: number;
  /** Bytes queued in one socket before that client is paused (default 1 MiB). */
  highWaterBytes?: number;
  /** Bytes queued below which a paused client resumes (default highWaterBytes / 4). */
  lowWaterBytes?: number;
  /** A client paused this long is closed with 4008 (default 30 000 ms). */
  maxPausedMs?: number;
  /** Events per catch-up chunk, read and encoded once and shared by the clients catching up (default 1 000). */
  catchUpChunk?: number;
  /** Clients catching up from the log at the same time; the others wait their turn, in order (default 32). */
  maxCatchUps?: number;
  /** Bytes of events catch-ups may send in one event-loop turn, all clients together (default 1 MiB). */
  catchUpTurnBytes?: number;
  /**
   * Fraction of the main thread's time catch-ups may take, all clients together (default 0.5): after a
   * turn of `t` ms the next waits until `t / catchUpShare` ms after it began. 1: no pause between turns.
   */
  catchUpShare?: number;
  /**
   * Bytes of events per second catch-ups may send, all clients together (default 0: no bound). Trades
   * the clients' catch-up time for the commands' tail on a server with few cores (bench/README.md).
   */
  catchUpBytesPerSecond?: number;
  /** Encoded chunks kept for clients that reach the same place later (default 64 MiB). */
  catchUpCacheBytes?: number;
  /** Read and encode catch-up chunks in a thread of their own when the log is on disk (default true); it starts with the first client. */
  catchUpThread?: boolean;
  /** Least time between two live batches; events committed in between share one message (default 10 ms). */
  batchIntervalMs?: number;
  /** Most events in one live message; a larger flush is split (default 1 000). */
  maxBatchEvents?: number;
  /** Recent batches kept for paused clients to resume from without reading the log (default 16 MiB). */
  replayBufferBytes?: number;
  /** Ping period; a client that missed the previous pong is dropped, one sent nothing during it gets a heartbeat (default 30 000 ms). */
  pingIntervalMs?: number;
  /** Largest message a client may send (default 4 KiB; clients have nothing to say). */
  maxPayload?: number;
}

export type ResolvedFeedOptions = Required<Omit<FeedOptions, 'allowedOrigins'>> & { allowedOrigins: readonly string[] | '*' | 'same-origin' };

export function resolveFeedOptions(o: FeedOptions = {}): ResolvedFeedOptions {
  const highWaterBytes = o.highWaterBytes ?? 1024 * 1024;
  return {
    allowedOrigins: o.allowedOrigins ?? 'same-origin',
    maxClients: o.maxClients ?? 1000,
    highWaterBytes,
    lowWaterBytes: o.lowWaterBytes ?? Math.floor(highWaterBytes / 4),
    maxPausedMs: o.maxPausedMs ?? 30_000,
    catchUpChunk: Math.max(1, o.catchUpChunk ?? 1000),
    maxCatchUps: Math.max(1, o.maxCatchUps ?? 32),
    catchUpTurnBytes: Math.max(1, o.catchUpTurnBytes ?? 1024 * 1024),
    catchUpShare: Math.min(1, Math.max(0.01, o.catchUpShare ?? 0.5)),
    catchUpBytesPerSecond: Math.max(0, o.catchUpBytesPerSecond ?? 0),
    catchUpCacheBytes: Math.max(0, o.catchUpCacheBytes ?? 64 * 1024 * 1024),
    catchUpThread: o.catchUpThread ?? true,
    batchIntervalMs: Math.max(0, o.batchIntervalMs ?? 10),
    maxBatchEvents: Math.max(1, o.maxBatchEvents ?? 1000),
    replayBufferBytes: Math.max(0, o.replayBufferBytes ?? 16 * 1024 * 1024),
    pingIntervalMs: o.pingIntervalMs ?? 30_000,
    maxPayload: o.maxPayload ?? 4096,
  };
}

export interface FeedCounters {
  /** `events` events were sent to one client (in one message). */
  sent(events: number): void;
  paused(): void;
  closedSlow(): void;
}

export class FeedHub implements FeedSource {
  readonly #runtime: Runtime;
  readonly #options: ResolvedFeedOptions;
  readonly #clients = new Set<FeedClient>();
  readonly #unsubscribe: () => void;
  readonly #pinger: NodeJS.Timeout;
  readonly #replay: ReplayBuffer;
  readonly #reader: ChunkReader;
  readonly chunks: ChunkStore;
  readonly catchUps: CatchUpScheduler;
  #counters: FeedCounters = { sent: () => undefined, paused: () => undefined, closedSlow: () => undefined };
  /** Position after the last flushed batch (see the header). */
  #cursor: number[];
  /** Committed events not flushed yet, one array per command, in notification order. */
  #pending: EventEnvelope[][] = [];
  #flushTimer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  #lastFlush = 0;
  #closed = false;

  constructor(runtime: Runtime, options: ResolvedFeedOptions) {
    this.#runtime = runtime;
    this.#options = options;
    this.#cursor = runtime.partitions().map((p) => p.offset);
    this.#replay = new ReplayBuffer(options.replayBufferBytes, runtime.partitionCount);
    this.#reader = chunkReader(runtime, options);
    this.chunks = new ChunkStore(this.#reader, options.catchUpChunk, options.catchUpCacheBytes);
    this.catchUps = new CatchUpScheduler({ maxActive: options.maxCatchUps, turnBytes: options.catchUpTurnBytes, share: options.catchUpShare, bytesPerSecond: options.catchUpBytesPerSecond });
    this.#unsubscribe = runtime.subscribe((events: EventEnvelope[]) => {
      // A data subject was forgotten (runtime `forget`): batches and chunks kept here may hold its personal
      // fields in plaintext; from now on catch-ups read the log again, where they are redacted.
      if (events[0]?.aggregateType === AUDIT_TYPE && events.some((e) => e.type === 'SubjectForgotten')) {
        this.#replay.clear();
        this.chunks.clear();
      }
      this.#pending.push(events);
      this.#scheduleFlush();
    });
    this.#pinger = setInterval(() => {
      for (const c of this.#clients) c.ping();
    }, options.pingIntervalMs);
    this.#pinger.unref();
  }

  get options(): ResolvedFeedOptions {
    return this.#options;
  }

  set counters(c: FeedCounters) {
    this.#counters = c;
  }

  get size(): number {
    return this.#clients.size;
  }

  get full(): boolean {
    return this.#clients.size >= this.#options.maxClients;
  }

  /** Clients that are paused right now (for tests and the slow-consumer metric). */
  get pausedCount(): number {
    let n = 0;
    for (const c of this.#clients) if (c.paused) n++;
    return n;
  }

  /** Whether catch-up chunks are read off the main thread now (the reader thread is up). */
  get readerOnThread(): boolean {
    return this.#reader.onThread;
  }

  /** Bytes held by the replay buffer (for tests). */
  get replayBytes(): number {
    return this.#replay.bytes;
  }

  // ---------------------------------------------------------------- FeedSource (what clients read)

  get cursor(): readonly number[] {
    return this.#cursor;
  }

  replayFrom(next: readonly number[], partitions: readonly number[]): FeedBatch | undefined {
    return this.#replay.find(next, partitions);
  }

  replayDepth(next: readonly number[], partitions: readonly number[]): number {
    return this.#replay.depth(next, partitions);
  }


  // ---------------------------------------------------------------- clients

  accept(socket: WebSocket, from: number[], partitions: readonly number[], filter: FeedFilter): FeedClient {
    const o = this.#options;
    const config: FeedClientConfig = { highWaterBytes: o.highWaterBytes, lowWaterBytes: o.lowWaterBytes, maxPausedMs: o.maxPausedMs, turnBytes: o.catchUpTurnBytes, replayWithin: o.catchUpChunk };
    const client = new FeedClient(socket, this, from, partitions, filter, config, {
      sent: (n) => this.#counters.sent(n),
      paused: () => this.#counters.paused(),
      closedSlow: () => this.#counters.closedSlow(),
      closed: (c) => {
        this.#clients.delete(c);
        if (this.#clients.size > 0) return;
        this.#replay.clear();
        this.chunks.clear();
      },
    });
    this.#clients.add(client);
    // The reader thread takes a while to start: start it now rather than when this client first reads.
    this.#reader.start();
    client.start();
    return client;
  }

  /** Per partition, the largest lag of any client. */
  lag(): number[] {
    const heads = this.#runtime.partitions().map((p) => p.offset);
    const out = heads.map(() => 0);
    for (const c of this.#clients) c.lag(heads).forEach((l, p) => (out[p] = Math.max(out[p]!, l)));
    return out;
  }

  /** Closes every client (1001 on shutdown), stops listening to the runtime; resolves once the reader stopped. */
  close(code: number, reason: string): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pinger);
    this.#unsubscribe();
    this.#cancelFlush();
    this.catchUps.close();
    for (const c of [...this.#clients]) c.close(code, reason);
    this.#replay.clear();
    this.chunks.clear();
    return this.#reader.close();
  }

  // ---------------------------------------------------------------- batching

  /**
   * Why a minimum interval and not a flush per commit: workers answer in group commits, several a
   * millisecond under load; flushing each would multiply the sends per client for no gain. After a quiet
   * spell the first commit is flushed on the next turn (no added latency at low rates); under load the
   * interval caps the flush rate, so the added latency is at most `batchIntervalMs`.
   */
  #scheduleFlush(): void {
    if (this.#flushTimer !== null || this.#closed) return;
    const wait = this.#lastFlush + this.#options.batchIntervalMs - performance.now();
    this.#flushTimer = wait <= 0 ? setImmediate(this.#flush) : setTimeout(this.#flush, wait);
  }

  #cancelFlush(): void {
    if (this.#flushTimer === null) return;
    clearTimeout(this.#flushTimer as NodeJS.Timeout);
    clearImmediate(this.#flushTimer as NodeJS.Immediate);
    this.#flushTimer = null;
  }

  readonly #flush = (): void => {
    this.#flushTimer = null;
    this.#lastFlush = performance.now();
    const pending = this.#pending;
    this.#pending = [];
    const publish = this.#clients.size > 0;
    if (!publish) this.#replay.clear();
    const max = this.#options.maxBatchEvents;
    let from = [...this.#cursor];
    let to = [...this.#cursor];
    let events: EventEnvelope[] = [];
    const close = (): void => {
      if (events.length === 0) return;
      this.#cursor = to;
      if (publish) this.#publish(new FeedBatch(from, to, events));
      from = [...to];
      to = [...to];
      events = [];
    };
    for (const list of pending) {
      for (const e of list) {
        const p = e.partition;
        const expected = to[p]!;
        if (e.offset < expected) continue; // announced twice: already in a batch
        if (e.offset > expected) {
          // Offsets skipped (see Gotchas). A batch must be contiguous per partition: if this one already
          // holds events of p, close it; the next starts at the new offset, and clients at the old one
          // will find its `from` is not their position and read the skipped events from the log.
          if (from[p] !== to[p]) close();
          from[p] = e.offset;
          to[p] = e.offset;
        }
        events.push(e);
        to[p] = e.offset + 1;
        if (events.length >= max) close();
      }
    }
    close();
  };

  #publish(batch: FeedBatch): void {
    this.#replay.push(batch);
    for (const c of this.#clients) c.offer(batch);
  }
}

/** The reader thread for a log on disk (the runtime's data dir; this thread while it starts), else this thread (chunk-reader.ts). */
function chunkReader(runtime: Runtime, options: ResolvedFeedOptions): ChunkReader {
  if (options.catchUpThread && runtime.dataDir) {
    return new ThreadChunkReader({ dataDir: runtime.dataDir, partitions: runtime.partitionCount, domainModules: runtime.domainModules }, new InlineChunkReader(runtime.log));
  }
  return new InlineChunkReader(runtime.log);
}
