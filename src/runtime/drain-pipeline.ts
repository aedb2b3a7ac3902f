/**
 * The drain pipeline of an actor host: when to take commands out of the mailbox, and how each batch of
 * them travels to durability and back as replies.
 *
 * A drain takes every queued command (up to MAX_BATCH) in one synchronous pass: each is decided and its
 * writes staged (command-runner.ts); only after the last decider of the pass has run are the writes
 * committed, once, as one batch (see the log's `commit` for why staging comes first). Then the host
 * waits for the batch to be durable and only then replies: acknowledged means durable.
 *
 * Why drains are pipelined, and why that is safe: while batch N waits for its flush (the disk), batch
 * N+1 is decided and queued, so the CPU and the disk work at once (up to PIPELINE_DEPTH batches in
 * flight). A later batch must never commit when an earlier one failed, or its seqs would follow events
 * that do not exist: the writer chains each batch to the previous one (the write-chain rule, log/port.ts),
 * so a failed batch makes every later one fail too, and the host then stops (fatal). Replies leave in
 * batch order, each only once its own batch is durable.
 *
 * Pages: when a command completes a page of EVENT_PAGE events of its stream, the page is written by a
 * later drain, once the events are durable (page-writer.ts); hydration then folds whole pages.
 *
 * After a storage failure (a failed commit, or a batch refused by the free-space reserve) this host
 * never writes again: its offsets, chain and pages already count the failed batch. Reads (loads) keep
 * being served from the log. Writes resume in a fresh host (runtime/storage-recovery.ts restarts it).
 */
import { ErrorCodes, RuntimeError, serializeError, systemClock } from '../kernel/index.js';
import { refusedAfter, type BatchWriter, type LogReader, type Staged } from '../log/index.js';
import type { CommandRunner, PendingReply } from './command-runner.js';
import type { LiveActors } from './live-actors.js';
import type { Mailbox } from './mailbox.js';
import type { PageWriter } from './page-writer.js';
import type { PluginHost } from './plugin-host.js';
import type { FromWorker } from './protocol.js';
import type { StorageGuard } from './storage-guard.js';
import { Span, spanEnd, spanStart } from './trace.js';

/**
 * Commands per drain (one transaction). Large, because a drain's cost is mostly per command while the
 * flush is per drain; bounded, so one drain's replies stay a reasonable single message.
 */
const MAX_BATCH = 32_768;

/** Pages per transaction when the pipeline writes what is left at close (~2.5 KB each). */
const CLOSING_PAGES_PER_COMMIT = 1024;

/** Batches decided and queued but not yet durable. Two overlap CPU and flush; more only adds latency. */
const PIPELINE_DEPTH = 2;

/** What the pipeline drives. */
export interface DrainPipelineParts {
  /** The log's read side, and its own failure (a batch answered after the log failed fails too). */
  readonly log: LogReader & { readonly failure: RuntimeError | null };
  readonly writer: BatchWriter;
  readonly mailbox: Mailbox;
  readonly runner: CommandRunner;
  readonly pages: PageWriter;
  readonly plugins: PluginHost;
  readonly guard: StorageGuard;
  readonly actors: LiveActors;
  readonly maxLiveActors: number;
  readonly send: (m: FromWorker) => void;
}

export class DrainPipeline {
  readonly #log: LogReader & { readonly failure: RuntimeError | null };
  readonly #writer: BatchWriter;
  readonly #mailbox: Mailbox;
  readonly #runner: CommandRunner;
  readonly #pages: PageWriter;
  readonly #plugins: PluginHost;
  readonly #guard: StorageGuard;
  readonly #actors: LiveActors;
  readonly #maxLiveActors: number;
  readonly #send: (m: FromWorker) => void;
  /** Drains started so far, and the last one whose batch is durable (drains become durable in order). */
  #drainNo = 0;
  #durableDrain = 0;
  /**
   * The wall clock at the current drain's start: one read per drain. The system clock, not the runtime's
   * `clock` option (a function cannot cross to a worker thread): it only ages actors for passivation;
   * event times come with each command from the main thread (`CommandRequest.now`).
   */
  #clock = 0;
  /** While > 0, no drain starts (a plugin's exclusive section). */
  #paused = 0;
  /** Batches queued to the log and not yet answered. */
  #inFlight = 0;
  /** True while a drain runs its deciders (synchronously). */
  #inPass = false;
  /** Answers of the previous batch: the next one replies only after it (batch order). */
  #previousBatch: Promise<void> = Promise.resolve();
  #scheduled = false;
  #onIdle: (() => void) | null = null;
  #batchesCommitted = 0;
  /** The first storage failure of this host: every later write is refused (see the header). */
  #writeFailure: RuntimeError | null = null;
  /** What the current drain's commands will write, in order; committed after the last decide. */
  #staged: Staged[] = [];

  constructor(parts: DrainPipelineParts) {
    this.#log = parts.log;
    this.#writer = parts.writer;
    this.#mailbox = parts.mailbox;
    this.#runner = parts.runner;
    this.#pages = parts.pages;
    this.#plugins = parts.plugins;
    this.#guard = parts.guard;
    this.#actors = parts.actors;
    this.#maxLiveActors = parts.maxLiveActors;
    this.#send = parts.send;
  }

  /** True while a drain runs its deciders: writes then join its batch (`stage`). */
  get inPass(): boolean {
    return this.#inPass;
  }

  /** The current drain's clock (ms): valid while `inPass`. */
  get clock(): number {
    return this.#clock;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get batchesCommitted(): number {
    return this.#batchesCommitted;
  }

  /** The first storage failure of this host (null while it writes). */
  get writeFailure(): RuntimeError | null {
    return this.#writeFailure;
  }

  /** Adds a write to the current drain's batch (only while `inPass`). */
  stage(write: Staged): void {
    this.#staged.push(write);
  }

  /** Starts a drain on the next turn, unless one is due, the pipeline is full, paused, or idle. */
  schedule(): void {
    if (this.#scheduled || this.#paused > 0 || this.#inFlight >= PIPELINE_DEPTH || this.#mailbox.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#drain();
    });
  }

  /** Holds drains for the duration of `fn`, after letting every in-flight batch finish. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.#paused++;
    try {
      while (this.#inFlight > 0 || this.#scheduled) await new Promise<void>((resolve) => setImmediate(resolve));
      return await fn();
    } finally {
      this.#paused--;
      this.schedule();
    }
  }

  /** Waits until every queued command is answered, then writes the pages still waiting (closing). */
  async finish(): Promise<void> {
    if (this.#inFlight > 0 || this.#mailbox.length || this.#scheduled) {
      await new Promise<void>((resolve) => (this.#onIdle = resolve));
    }
    // Pages still waiting: their drains are durable by now. In transactions of a bounded size (a wave
    // can leave thousands: page-writer.ts). Derived data: a failure here loses nothing.
    try {
      for (let before = this.#pages.pending; before > 0 && !this.#writeFailure; before = this.#pages.pending) {
        const pages = this.#pages.stageDurable(this.#log, this.#writer, this.#durableDrain, CLOSING_PAGES_PER_COMMIT);
        if (pages.length) await this.#writer.commit(pages);
        if (this.#pages.pending === before) break; // none left whose drain is durable
      }
    } catch {
      // the events are in the log; hydration reads them one by one
    }
  }

  async #drain(): Promise<void> {
    if (this.#paused > 0 || this.#inFlight >= PIPELINE_DEPTH || this.#mailbox.length === 0) return;
    this.#inFlight++;
    const batch = this.#mailbox.take(MAX_BATCH);
    const pending: PendingReply[] = [];
    const staged: Staged[] = (this.#staged = []);
    const drainNo = ++this.#drainNo;
    this.#clock = systemClock.now();
    this.#inPass = true;
    let t = spanStart();
    for (const req of batch) pending.push(this.#runner.run(req, drainNo, staged));
    spanEnd(Span.drain, t, batch.length);
    this.#inPass = false;
    this.#staged = [];
    // Pages completed by earlier, now durable drains join this transaction (see page-writer.ts).
    t = spanStart();
    const pages = this.#pages.stageDurable(this.#log, this.#writer, this.#durableDrain);
    for (const page of pages) staged.push(page);
    spanEnd(Span.pages, t, pages.length);
    // Every decider of the drain has run: only now queue the writes (see the log's `commit` for why).
    let failure: RuntimeError | null = null;
    let done: Promise<unknown> | null = null;
    if (staged.length > 0) {
      try {
        if (this.#writeFailure) throw refusedAfter(this.#writeFailure);
        this.#guard.check(this.#clock);
        // Plugins (live projections) write inside the same transaction, and under the same chain guard.
        t = spanStart();
        done = this.#writer.commit(staged, () => this.#plugins.joinBatch(staged));
        spanEnd(Span.commit, t, staged.length);
      } catch (err) {
        // The log refuses writes (it failed earlier): every command of this drain fails with that reason.
        failure = RuntimeError.is(err) ? err : new RuntimeError(ErrorCodes.StorageFailed, String(err));
      }
    }
    // The next batch may be decided while this one flushes.
    this.schedule();
    const previous = this.#previousBatch;
    let finish!: () => void;
    this.#previousBatch = new Promise<void>((resolve) => (finish = resolve));
    try {
      if (done) {
        try {
          await done;
          spanEnd(Span.flush, t, batch.length);
          this.#batchesCommitted++;
        } catch (err) {
          failure = RuntimeError.is(err) ? err : new RuntimeError(ErrorCodes.StorageFailed, String(err));
        }
      }
      await previous;
      // This batch was skipped because the one before it failed (the write chain's "not applied"): say
      // why that one failed (a full disk: its cause, free bytes and mount), and that nothing was written.
      if (failure !== null && this.#writeFailure !== null && failure.details.outcome === 'not-applied' && failure.details.cause === undefined) failure = refusedAfter(this.#writeFailure);
      if (failure === null && this.#log.failure) failure = this.#log.failure;
      if (failure === null) this.#durableDrain = drainNo;
      t = spanStart();
      this.#runner.answer(pending, failure);
      spanEnd(Span.replies, t, pending.length);
      t = spanStart();
      if (done && !failure) this.#plugins.committed(this.#runner.heads(pending));
      spanEnd(Span.projection, t, pending.length);
      if (failure && !this.#writeFailure) {
        this.#writeFailure = failure;
        this.#send({ kind: 'fatal', error: serializeError(failure) });
      }
    } finally {
      finish();
      this.#inFlight--;
    }
    if (this.#actors.size > this.#maxLiveActors) {
      const t = spanStart();
      spanEnd(Span.passivate, t, this.#actors.evictOverflow(this.#maxLiveActors));
    }
    if (this.#mailbox.length) this.schedule();
    else if (this.#inFlight === 0 && this.#onIdle) this.#onIdle();
  }
}
