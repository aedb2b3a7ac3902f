/**
 * `ConsoleStats`: what the console's charts draw, sampled by the server itself on a timer into a bounded
 * ring (one sample every `intervalMs`, the last `capacity` kept: ten minutes by default).
 *
 * Why on the server and not in the page: a chart "over the last minutes" must have those minutes when the
 * page is opened or reloaded, and two open tabs must agree. Why a timer and not per commit: a sample is
 * a handful of additions over in-memory heads and checkpoints, so one per interval costs nothing whatever
 * the load, and the memory is `capacity` small objects.
 *
 * Gotchas:
 * - `t` comes from the server's `Clock` (wall time, may step back with NTP): throughput is computed over
 *   the time between two samples and is 0 when that time is not positive, never negative or infinite.
 * - A view added or removed between samples simply appears or disappears in `viewLag`.
 */
import type { Clock } from '../kernel/index.js';

export interface ConsoleStatsSources {
  /** The next offset of every partition (the log's heads). */
  heads(): number[];
  /** Per partition, the largest lag of any feed client. */
  feedLag(): number[];
  /** The read models' names. */
  views(): string[];
  /** Per partition, the events a read model has not applied yet. */
  viewLag(name: string): number[];
}

export interface ConsoleStatsOptions {
  /** Time between two samples (default 2000 ms; at least 50). */
  intervalMs?: number;
  /** Samples kept (default 300: ten minutes at the default interval; at least 2). */
  capacity?: number;
}

export interface ConsoleSample {
  /** Epoch ms, from the server's clock. */
  t: number;
  /** Events in the log (every partition's head, summed). */
  events: number;
  /** Events committed per second since the previous sample (0 for the first one). */
  eventsPerSecond: number;
  /** Feed lag, summed over partitions (each partition: its slowest client). */
  feedLag: number;
  /** Per read model, its lag summed over partitions. */
  viewLag: Record<string, number>;
}

const sum = (xs: readonly number[]): number => xs.reduce((n, x) => n + x, 0);

export class ConsoleStats {
  readonly intervalMs: number;
  readonly capacity: number;
  readonly #sources: ConsoleStatsSources;
  readonly #clock: Clock;
  /** A ring: `#samples[(#start + i) % capacity]` is the i-th oldest. */
  readonly #samples: ConsoleSample[] = [];
  #start = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(sources: ConsoleStatsSources, clock: Clock, options: ConsoleStatsOptions = {}) {
    this.#sources = sources;
    this.#clock = clock;
    this.intervalMs = Math.max(50, Math.floor(options.intervalMs ?? 2000));
    this.capacity = Math.max(2, Math.floor(options.capacity ?? 300));
  }

  /** Takes a first sample now, then one every `intervalMs` until `stop()`. The timer keeps no process alive. */
  start(): void {
    if (this.#timer) return;
    this.#sampleQuietly();
    this.#timer = setInterval(() => this.#sampleQuietly(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one sample (the timer calls this; a test may call it with a fake clock). */
  sample(): ConsoleSample {
    const t = this.#clock.now();
    const events = sum(this.#sources.heads());
    const previous = this.#newest();
    const seconds = previous ? (t - previous.t) / 1000 : 0;
    const eventsPerSecond = previous && seconds > 0 ? Math.max(0, events - previous.events) / seconds : 0;
    const viewLag: Record<string, number> = {};
    for (const name of this.#sources.views()) viewLag[name] = sum(this.#sources.viewLag(name));
    const s: ConsoleSample = { t, events, eventsPerSecond: Math.round(eventsPerSecond * 100) / 100, feedLag: sum(this.#sources.feedLag()), viewLag };
    if (this.#samples.length < this.capacity) this.#samples.push(s);
    else {
      this.#samples[this.#start] = s;
      this.#start = (this.#start + 1) % this.capacity;
    }
    return s;
  }

  /** The kept samples, oldest first; with `since`, only those taken after it. */
  samples(since?: number): ConsoleSample[] {
    const ordered = [...this.#samples.slice(this.#start), ...this.#samples.slice(0, this.#start)];
    return since === undefined ? ordered : ordered.filter((s) => s.t > since);
  }

  /** A sample that cannot be taken (the runtime is closing) is skipped: a chart's gap, never a crash from a timer. */
  #sampleQuietly(): void {
    try {
      this.sample();
    } catch {
      // Skipped; the next tick tries again.
    }
  }

  #newest(): ConsoleSample | undefined {
    if (this.#samples.length === 0) return undefined;
    return this.#samples[(this.#start + this.#samples.length - 1) % this.#samples.length];
  }
}
