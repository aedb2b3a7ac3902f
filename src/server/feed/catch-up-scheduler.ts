/**
 * Who may catch up from the log, and how much of each event-loop turn that may take.
 *
 * Why a bound and a budget: catching up is the feed's one unbounded job (a client from `start` on a log of
 * a million events is sent hundreds of megabytes) and it shares the main thread with every command. Each
 * client pumping for itself made the work per turn grow with the number of clients (500 clients froze
 * commands for seconds). Here at most `maxActive` clients catch up at a time; the others wait in arrival
 * order (FIFO) and are let in as slots free. The active ones are served round-robin, one message each in
 * turn, in turns of at most `turnBytes` (bytes of events covered); then the loop yields, so commands,
 * replies and live batches run between two turns whatever the number of clients.
 *
 * Why a share of the thread as well: a turn holds the main thread for at most about a millisecond, but
 * back-to-back turns keep it busy, and on a machine with few cores that busy thread takes a core from
 * the actor workers and the log's writer, whose commands then wait for a core instead of for the main
 * thread (bench/README.md, "The feed's catch-up"). Catching up is background work, like a Kafka
 * follower's replication under a throttle: after a turn that took `t` ms, the next one starts no sooner
 * than `t / share` ms after it began (`share` 1: right away, on the next turn of the loop). A byte rate
 * (`bytesPerSecond`) bounds what the share cannot see: the bytes the kernel copies into every socket and
 * the reader thread encodes, which take a core from commands however short the turns are.
 *
 * A client gives its slot back when it has nothing to read from the log: it reached the cursor (live), it
 * waits for a flush, it is paused (its socket is full: a slow reader never holds a slot, and its memory is
 * bounded by the socket's high-water mark, client.ts), or it closed. A paused client that drains asks
 * again and queues behind those already waiting. A client whose next chunk is being read stays active but
 * is skipped until the chunk is there.
 *
 * Gotchas: a task's `step` must do at most one message's worth of work and must never throw; a step that
 * returns a promise is not called again until it settles (and only if the task is still active).
 */
import { Span, spanEnd, spanStart } from '../../kernel/index.js';

/** What one step of a catch-up did. */
export type CatchUpStep =
  /** Sent (or skipped, filtered out) this many bytes of events; more to do. */
  | number
  /** Nothing left to read from the log for now: the slot goes to the next client. */
  | 'done'
  /** Waiting for a chunk (or a short pause after the log read short): skip until it settles. */
  | Promise<unknown>;

export interface CatchUpTask {
  step(): CatchUpStep;
}

export interface CatchUpLimits {
  /** Tasks active at once. */
  maxActive: number;
  /** Bytes of events one turn may cover. */
  turnBytes: number;
  /** Fraction (0, 1] of the thread's time turns may take. */
  share: number;
  /** Bytes of events per second turns may cover, all tasks together (0: no bound). */
  bytesPerSecond?: number;
}

export class CatchUpScheduler {
  readonly #maxActive: number;
  readonly #turnBytes: number;
  readonly #share: number;
  readonly #bytesPerSecond: number;
  /** Active tasks; those not waiting for a read are also ready. */
  readonly #active = new Set<CatchUpTask>();
  /** Ready tasks in round-robin order: `#queue` from `#head` holds them (and stale entries, skipped). */
  readonly #ready = new Set<CatchUpTask>();
  #queue: CatchUpTask[] = [];
  #head = 0;
  /** Waiting for a slot, in arrival order. */
  readonly #waiting = new Set<CatchUpTask>();
  /** The next turn, on an immediate or (held back by the share or the byte rate) on a timeout. */
  #timer: { immediate: NodeJS.Immediate } | { timeout: NodeJS.Timeout } | null = null;
  /** When the next turn may start (performance.now()), to keep to the share. */
  #notBefore = 0;
  #closed = false;
  /** The most tasks ever active at once (for tests of the bound). */
  peakActive = 0;

  constructor(limits: CatchUpLimits) {
    this.#maxActive = Math.max(1, limits.maxActive);
    this.#turnBytes = Math.max(1, limits.turnBytes);
    this.#share = Math.min(1, Math.max(0.01, limits.share));
    this.#bytesPerSecond = Math.max(0, limits.bytesPerSecond ?? 0);
  }

  get active(): number {
    return this.#active.size;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  /** `task` wants to read from the log: it starts now if a slot is free, else queues. */
  request(task: CatchUpTask): void {
    if (this.#closed || this.#active.has(task) || this.#waiting.has(task)) return;
    this.#waiting.add(task);
    this.#admit();
  }

  /** `task` stops catching up (or stops waiting to): its slot, if it had one, goes to the next in line. */
  release(task: CatchUpTask): void {
    this.#waiting.delete(task);
    if (!this.#active.delete(task)) return;
    this.#ready.delete(task);
    this.#admit();
  }

  close(): void {
    this.#closed = true;
    // Each kind with its own clear: clearImmediate given a Timeout unlinks it from the immediate queue
    // as if it were one, which broke every later setImmediate of the process (found by the byte-rate test).
    if (this.#timer) {
      if ('immediate' in this.#timer) clearImmediate(this.#timer.immediate);
      else clearTimeout(this.#timer.timeout);
      this.#timer = null;
    }
    this.#waiting.clear();
    this.#active.clear();
    this.#ready.clear();
    this.#queue = [];
    this.#head = 0;
  }

  #admit(): void {
    for (const task of this.#waiting) {
      if (this.#active.size >= this.#maxActive) break;
      this.#waiting.delete(task);
      this.#active.add(task);
      this.#makeReady(task);
    }
    this.peakActive = Math.max(this.peakActive, this.#active.size);
    this.#schedule();
  }

  #makeReady(task: CatchUpTask): void {
    if (this.#ready.has(task)) return;
    this.#ready.add(task);
    this.#queue.push(task);
  }

  /** The next ready task in round-robin order (stale queue entries of released tasks are dropped). */
  #nextReady(): CatchUpTask | undefined {
    while (this.#head < this.#queue.length) {
      const task = this.#queue[this.#head++]!;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      if (this.#ready.delete(task)) return task;
    }
    return undefined;
  }

  #schedule(): void {
    if (this.#timer !== null || this.#closed || this.#ready.size === 0) return;
    const wait = this.#notBefore - performance.now();
    this.#timer = wait < 1 ? { immediate: setImmediate(this.#turn) } : { timeout: setTimeout(this.#turn, wait).unref() };
  }

  readonly #turn = (): void => {
    this.#timer = null;
    const start = performance.now();
    const span = spanStart();
    let budget = this.#turnBytes;
    let task: CatchUpTask | undefined;
    while (budget > 0 && (task = this.#nextReady())) {
      const r = task.step();
      if (typeof r === 'number') {
        budget -= Math.max(1, r);
        // Released during its own step (closed, paused): not ready any more.
        if (this.#active.has(task)) this.#makeReady(task);
      } else if (r === 'done') {
        this.release(task);
      } else {
        const waiting = task;
        const wake = (): void => {
          if (!this.#active.has(waiting)) return;
          this.#makeReady(waiting);
          this.#schedule();
        };
        r.then(wake, wake);
      }
    }
    const covered = this.#turnBytes - budget;
    spanEnd(Span['catch-up'], span, covered);
    let next = start + (performance.now() - start) / this.#share;
    // The byte rate: a turn that covered `covered` bytes is paid for before the next one starts.
    if (this.#bytesPerSecond > 0) next = Math.max(next, start + (covered * 1000) / this.#bytesPerSecond);
    this.#notBefore = next;
    this.#schedule();
  };
}
