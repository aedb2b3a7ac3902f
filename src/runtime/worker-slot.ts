/**
 * The main-thread side of one actor worker: batches requests to it, matches replies, and supervises it.
 *
 * Why batching here: every call made during one event-loop turn (a loop of `execute`s, or all HTTP
 * requests parsed in one poll phase) goes to the worker in one postMessage, flushed by `setImmediate`.
 *
 * Supervision: a worker that exits unexpectedly fails its in-flight requests with the retriable
 * `WorkerCrashed` (their commands may or may not have committed; a retry with the same `commandId` is
 * safe), and is started again; its actors re-hydrate from the log on first use. Commits are atomic, so
 * nothing half-written is visible. Past `maxRestartsPerMinute`, the slot stays down and fails fast.
 *
 * A storage failure is not a crash: the worker stays up and keeps answering loads, stats and plugin
 * requests from the log, while this slot refuses commands at once (nothing written, retriable) until
 * `restart` hands the partitions to a fresh worker (runtime/storage-recovery.ts decides when).
 */
import { ErrorCodes, RuntimeError, deserializeError, errors, systemClock, type SerializedError } from '../kernel/index.js';
import { refusedAfter } from '../log/index.js';
import type { ActorHostConfig, ActorStats, CommandRequest, CommandResult, FromWorker, Reply, ToWorker } from './protocol.js';
import { ReplyKind, decodeResult, type WireReply } from './reply-codec.js';
import { spawnWorker } from './thread-entry.js';
import { ThreadClock } from './thread-clock.js';
import type { ThreadLike } from './inline-thread.js';
import { Span, spanEnd, spanStart, spansOf, type TraceColumns, type TraceSpans } from './trace.js';
import { createDecoder, createEncoder, type WireDecoder, type WireEncoder } from './wire.js';

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: RuntimeError) => void;
  /** For commands: the request, from which a compact reply's envelopes are rebuilt (reply-codec.ts). */
  req?: CommandRequest;
}

export interface SlotHooks {
  onCommitted(result: CommandResult): void;
  onFatal(index: number, error: RuntimeError): void;
  onRestart(index: number, reason: string): void;
  onPluginEvent(index: number, plugin: string, payload: unknown): void;
  onPartitionStopped(partition: number, error: RuntimeError): void;
  /** The worker's log failed or refused a write; the worker still serves reads. */
  onStorageFailed(index: number, error: RuntimeError): void;
  /** Cluster mode: offsets `from..to - 1` of `partition` were applied to the cache from the log of record (protocol.ts). */
  onApplied?(partition: number, from: number, to: number, lag: number | null): void;
  /** Cluster mode: following `partition` failed (tried again after a pause). */
  onFollowFailed?(partition: number, error: RuntimeError): void;
  /** Cluster mode: following `partition` works again after a failure. */
  onFollowRecovered?(partition: number): void;
}

export class WorkerSlot {
  readonly index: number;
  readonly #config: ActorHostConfig;
  readonly #hooks: SlotHooks;
  readonly #maxInFlight: number;
  readonly #maxRestartsPerMinute: number;
  #worker!: ThreadLike;
  readonly #spawn: (config: ActorHostConfig) => ThreadLike;
  #pending = new Map<number, Waiter<unknown>>();
  #outbox: CommandRequest[] = [];
  #flushScheduled = false;
  #closing = false;
  #down: RuntimeError | null = null;
  /** Set by a storage failure: commands are refused (reads still go through) until `restart`. */
  #storageDown: RuntimeError | null = null;
  /** True while `restart` replaces the thread: its exit is expected, not a crash to supervise. */
  #replacing = false;
  /** True from a (re)start until the thread says it is ready. */
  #starting = false;
  /** While replacing: resolves once the new thread can be sent requests (they wait instead of failing). */
  #replaced: Promise<void> = Promise.resolve();
  #restarts: number[] = [];
  #onClosed: (() => void) | null = null;
  #ready!: Promise<Record<number, number>>;
  #encoder!: WireEncoder;
  /** The clock of the worker thread now in this slot, as measured from this thread (thread-clock.ts): measured again for every thread. */
  #clock = new ThreadClock();

  /** `spawn`: where the actor host runs; by default a worker thread (inline-thread.ts for the memory log). */
  constructor(config: ActorHostConfig, hooks: SlotHooks, maxInFlight: number, maxRestartsPerMinute: number, spawn: (config: ActorHostConfig) => ThreadLike = spawnActorThread) {
    this.index = config.workerIndex;
    this.#spawn = spawn;
    this.#config = config;
    this.#hooks = hooks;
    this.#maxInFlight = maxInFlight;
    this.#maxRestartsPerMinute = maxRestartsPerMinute;
    this.#start();
  }

  /** Resolves with the partition offsets once the worker has opened the log and loaded its deciders. */
  get ready(): Promise<Record<number, number>> {
    return this.#ready;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  get down(): RuntimeError | null {
    return this.#down;
  }

  get storageDown(): RuntimeError | null {
    return this.#storageDown;
  }

  /**
   * True while the thread is up and writing normally. Otherwise (starting again after a crash, being
   * replaced, down, writes stopped by a storage failure) commands it was sent may have an outcome only
   * the log knows, and may still be landing in it: the runtime's loads then ask the thread, as the only
   * reader that knows (create-runtime.ts, `load`).
   */
  get steady(): boolean {
    return !this.#starting && !this.#replacing && this.#down === null && this.#storageDown === null && !this.#closing;
  }

  #start(): void {
    const spawnedAt = performance.now();
    const worker = this.#spawn(this.#config);
    const clock = new ThreadClock();
    this.#worker = worker;
    this.#clock = clock;
    this.#starting = true;
    // A fresh thread has a fresh decoder: start a fresh encoder too (see wire.ts).
    this.#encoder = createEncoder();
    let decoder: WireDecoder = createDecoder();
    let readyResolve!: (o: Record<number, number>) => void;
    let readyReject!: (e: RuntimeError) => void;
    this.#ready = new Promise((res, rej) => ((readyResolve = res), (readyReject = rej)));
    this.#ready.catch(() => undefined);
    const onMessage = (m: FromWorker): void => {
      switch (m.kind) {
        case 'batch':
          for (const one of m.messages) onMessage(one);
          return;
        case 'ready':
          // The worker read its clock after the spawn and before this: the offset's first bound.
          clock.sample({ sentAt: spawnedAt, workerNow: m.now, receivedAt: performance.now() });
          this.#starting = false;
          readyResolve(m.offsets);
          return;
        case 'replies': {
          const t = spanStart();
          if (m.fresh) decoder = createDecoder();
          const replies = decoder.unpack<WireReply[]>(m.packed);
          for (const r of replies) this.#settleCommand(r);
          spanEnd(Span.replies, t, replies.length);
          return;
        }
        case 'loaded':
          this.#settle(m.reply);
          return;
        case 'stats':
          this.#settle({ rid: m.rid, ok: true, result: m.stats });
          return;
        case 'reply':
          this.#settle(m.reply);
          return;
        case 'plugin-event':
          this.#hooks.onPluginEvent(this.index, m.plugin, m.payload);
          return;
        case 'fatal': {
          const err = deserializeError(m.error);
          readyReject(err);
          if (err.code === ErrorCodes.StorageFailed) {
            this.#storageDown = err;
            this.#hooks.onStorageFailed(this.index, err);
            return;
          }
          this.#down = err;
          this.#hooks.onFatal(this.index, err);
          return;
        }
        case 'applied':
          this.#hooks.onApplied?.(m.partition, m.from, m.to, m.lag);
          return;
        case 'follow-failed':
          this.#hooks.onFollowFailed?.(m.partition, deserializeError(m.error));
          return;
        case 'follow-recovered':
          this.#hooks.onFollowRecovered?.(m.partition);
          return;
        case 'partition-stopped':
          this.#hooks.onPartitionStopped(m.partition, deserializeError(m.error));
          return;
        case 'closed':
          this.#onClosed?.();
          return;
      }
    };
    worker.on('message', onMessage);
    // The stack goes to the restart hook (server logs), never into an error a client may see.
    let lastError = '';
    worker.on('error', (err) => {
      lastError = `: ${err.stack ?? err.message}`;
      readyReject(new RuntimeError(ErrorCodes.WorkerCrashed, `worker ${this.index} failed to start`, { worker: this.index }, true));
    });
    worker.on('exit', (code) => {
      if (this.#worker !== worker) return;
      if (this.#replacing) {
        this.#onClosed?.();
        return;
      }
      if (this.#closing) {
        this.#failAll(errors.closed());
        this.#onClosed?.();
        return;
      }
      const reason = `worker ${this.index} exited with code ${code}${lastError}`;
      this.#failAll(crashed(this.index, `exited with code ${code}`));
      const now = systemClock.now();
      this.#restarts = this.#restarts.filter((t) => now - t < 60_000);
      if (this.#restarts.length >= this.#maxRestartsPerMinute) {
        this.#down ??= new RuntimeError(ErrorCodes.WorkerCrashed, `worker ${this.index} exited with code ${code} and was restarted too often; it stays down`, { worker: this.index });
        return;
      }
      this.#restarts.push(now);
      this.#down = null;
      this.#start();
      this.#ready.then(() => this.#hooks.onRestart(this.index, reason), () => undefined);
    });
  }

  /** Answers one command from its wire reply (the hot path: one Map lookup, no intermediate Reply). */
  #settleCommand(r: WireReply): void {
    const w = this.#pending.get(r[0]);
    if (!w) return;
    this.#pending.delete(r[0]);
    if (r[1] === ReplyKind.Error) return w.reject(deserializeError(r[2]));
    const result = decodeResult(r, w.req!);
    if (!result.duplicate) this.#hooks.onCommitted(result);
    w.resolve(result);
  }

  #settle(r: Reply<unknown>): void {
    const w = this.#pending.get(r.rid);
    if (!w) return;
    this.#pending.delete(r.rid);
    if (r.ok) {
      w.resolve(r.result);
    } else w.reject(deserializeError(r.error as SerializedError));
  }

  #failAll(err: RuntimeError): void {
    const waiters = [...this.#pending.values()];
    this.#pending.clear();
    this.#outbox = [];
    for (const w of waiters) w.reject(err);
  }

  #admit(rid: number, command = false): Promise<unknown> {
    if (this.#closing) return Promise.reject(errors.closed());
    if (this.#down) return Promise.reject(this.#down);
    if (command && this.#storageDown) return Promise.reject(refusedAfter(this.#storageDown));
    if (this.#pending.size >= this.#maxInFlight) return Promise.reject(errors.overloaded(`worker ${this.index}`));
    return new Promise((resolve, reject) => this.#pending.set(rid, { resolve, reject }));
  }

  execute(req: CommandRequest): Promise<CommandResult> {
    const p = this.#admit(req.rid, true) as Promise<CommandResult>;
    const waiter = this.#pending.get(req.rid);
    if (waiter) {
      waiter.req = req;
      this.#outbox.push(req);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    }
    return p;
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#outbox.length === 0) return;
    const t = spanStart();
    const batch = this.#outbox;
    this.#outbox = [];
    const packed = this.#encoder.pack(batch);
    this.#worker.postMessage({ kind: 'commands', packed } satisfies ToWorker, [packed.buffer]);
    spanEnd(Span.send, t, batch.length);
  }

  /**
   * `msg` may be a function that makes the message when it is posted, from the clock of the thread it
   * goes to (cluster mode's deadlines, thread-clock.ts): a request may wait for a replaced thread, and a
   * deadline converted for the old one would be wrong for the new one. When it throws, the request
   * rejects with what it threw.
   */
  request<T>(rid: number, msg: ToWorker | ((clock: ThreadClock) => ToWorker)): Promise<T> {
    // A read sent to a thread that is being replaced could be lost with it: it goes to the new one.
    if (this.#replacing) return this.#replaced.then(() => this.request<T>(rid, msg));
    const p = this.#admit(rid) as Promise<T>;
    if (this.#pending.has(rid)) {
      // Commands queued before this request reach the worker first; a load still answers from durable
      // state, so it does not see commands that have not committed yet (read committed).
      this.#flush();
      try {
        this.#post(msg);
      } catch (err) {
        const w = this.#pending.get(rid);
        this.#pending.delete(rid);
        w?.reject(RuntimeError.is(err) ? (err as RuntimeError) : new RuntimeError(ErrorCodes.Internal, `a message for worker ${this.index} could not be made: ${String(err)}`));
      }
    }
    return p;
  }

  stats(rid: number): Promise<ActorStats> {
    return this.request<ActorStats>(rid, { kind: 'stats', rid });
  }

  /** The worker's trace spans that ended after `since` (epoch ms; trace.ts). */
  trace(rid: number, since: number): Promise<TraceSpans> {
    // Columns on the wire (trace.ts, TraceColumns); null from a host that shares the runtime's thread.
    return this.request<TraceColumns | null>(rid, { kind: 'trace', rid, since }).then((cols) => (cols ? { spans: spansOf(cols), dropped: cols.dropped } : { spans: [], dropped: 0 }));
  }

  /**
   * Posts a message that has no answer (cluster mode's `lease` and `revoke`), after the commands queued
   * before it. Dropped while the thread is down or being replaced: a fresh thread starts with no lease,
   * and is given its partitions again (cluster-node.ts).
   */
  send(msg: ToWorker | ((clock: ThreadClock) => ToWorker | null)): void {
    if (this.#closing || this.#replacing || this.#down) return;
    this.#flush();
    this.#post(msg);
  }

  /** Posts `msg`, made now from the current thread's clock when it is a function (null: nothing to post). */
  #post(msg: ToWorker | ((clock: ThreadClock) => ToWorker | null)): void {
    const m = typeof msg === 'function' ? msg(this.#clock) : msg;
    if (m !== null) this.#worker.postMessage(m);
  }

  /**
   * Hands the partitions to a fresh worker thread: the old one finishes what it was sent, closes its log
   * and ends; the new one opens the log as at start-up (offsets, write chain, actors and projection
   * checkpoints all read back from LMDB), so nothing the old thread held in memory survives. Resolves
   * once the new worker is ready; then commands are admitted again.
   */
  async restart(reason: string, timeoutMs = 5000): Promise<void> {
    if (this.#closing) throw errors.closed();
    this.#flush();
    const old = this.#worker;
    this.#replacing = true;
    let replaced!: () => void;
    this.#replaced = new Promise<void>((resolve) => (replaced = resolve));
    let done!: () => void;
    const closed = new Promise<void>((resolve) => (done = resolve));
    this.#onClosed = done;
    old.postMessage({ kind: 'close' } satisfies ToWorker);
    const timer = setTimeout(done, timeoutMs);
    await closed;
    clearTimeout(timer);
    this.#onClosed = null;
    // Whatever the old thread did not answer before 'closed' it never will.
    this.#failAll(crashed(this.index, 'was replaced'));
    this.#replacing = false;
    if (!this.#closing) this.#start();
    replaced();
    if (this.#closing) throw errors.closed();
    void old.terminate();
    await this.#ready;
    this.#storageDown = null;
    this.#down = null;
    this.#hooks.onRestart(this.index, reason);
  }

  /** Finishes queued work, lets the worker close LMDB, then ends the thread (never terminate a busy addon). */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.#closing) return;
    this.#flush();
    this.#closing = true;
    const worker = this.#worker;
    const closed = new Promise<void>((resolve) => (this.#onClosed = resolve));
    if (this.#down) {
      // The thread is already gone (restart budget spent).
    } else {
      worker.postMessage({ kind: 'close' } satisfies ToWorker);
      const timer = setTimeout(() => this.#onClosed?.(), timeoutMs);
      await closed;
      clearTimeout(timer);
    }
    await worker.terminate();
  }
}

/** What callers of a worker that ended get: retriable, with no stack or path (those go to the server log). */
function crashed(index: number, what: string): RuntimeError {
  return new RuntimeError(ErrorCodes.WorkerCrashed, `worker ${index} ${what}; the command may or may not have been applied: retry it with the same commandId`, { worker: index }, true);
}

/** The actor host in a worker thread of its own (every log that threads can share: LMDB). */
function spawnActorThread(config: ActorHostConfig): ThreadLike {
  return spawnWorker('actor-host', { config }) as unknown as ThreadLike;
}
