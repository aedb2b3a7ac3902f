/**
 * Prometheus metrics for `GET /metrics`, in a registry of our own (never prom-client's global one, so two
 * servers in one process, as in tests, do not share or clash).
 *
 * Gotchas:
 * - Label values come from a closed set (known aggregate and command types, a fixed outcome list);
 *   anything else is recorded as `unknown`, so a client cannot grow the series count with junk types.
 * - Gauges read the runtime at scrape time (`collect`), so they cost nothing between scrapes.
 * - The per-command and per-event counters are plain numbers in series resolved once at start-up (one per
 *   aggregate and command type, `unknown` included), added into prom-client at scrape time (`collect`):
 *   prom-client's `inc(labels)` validates and hashes the label object on every call, which cost more per
 *   request than the rest of the metrics work together. The latency histogram is observed per request
 *   through a child whose labels were bound once (prom-client has no bulk observe to defer it with).
 *   A series appears on `/metrics` after its first count, as with direct `inc` calls.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';
import type { ActorStats, Runtime } from '../runtime/index.js';
import type { Views } from '../projections/index.js';

export type CommandOutcome = 'ok' | 'duplicate' | 'invalid' | 'conflict' | 'rejected' | 'unavailable' | 'error';

const OUTCOMES: readonly CommandOutcome[] = ['ok', 'duplicate', 'invalid', 'conflict', 'rejected', 'unavailable', 'error'];
const OUTCOME_INDEX = new Map(OUTCOMES.map((o, i) => [o, i]));
const UNKNOWN = 'unknown';

/** The counts of one (aggregate, command) label pair since the last scrape, and its latency child. */
interface CommandSeries {
  readonly aggregate: string;
  readonly command: string;
  /** Commands answered per outcome (index in OUTCOMES) not yet added to the prom-client counter. */
  readonly pending: number[];
  readonly latency: { observe(seconds: number): void };
}

/** The outcome label of a command answered with this HTTP status. */
export function outcomeOfStatus(status: number): CommandOutcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 409) return 'conflict';
  if (status === 422) return 'rejected';
  if (status === 503) return 'unavailable';
  if (status >= 400 && status < 500) return 'invalid';
  return 'error';
}

/** What the feed reports about its clients at scrape time. */
export interface FeedGauges {
  clients(): number;
  /** Per partition: the largest number of committed events some client has not been sent yet. */
  lag(): readonly number[];
  /** Clients catching up from the log now, and clients waiting for their turn to. */
  catchUps(): { active: number; waiting: number };
  /** Catch-up chunks read from the log so far (each shared by every client that needed it). */
  chunksRead(): number;
  /** Whether catch-up chunks are read by the reader thread now (not while it starts, nor without one). */
  readerOnThread(): boolean;
}

export class ServerMetrics {
  readonly registry = new Registry();
  /** aggregate label -> command label -> series; every known pair plus `unknown`, built once. */
  readonly #series = new Map<string, Map<string, CommandSeries>>();
  /** Events committed per aggregate label, not yet added to the prom-client counter. */
  readonly #appendedPending = new Map<string, number>();
  readonly feedMessages: Counter;
  readonly feedSlowConsumers: Counter<'action'>;
  #unsubscribe: () => void;

  constructor(runtime: Runtime, feed: FeedGauges, options: { defaultMetrics?: boolean; views?: Views } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'eventide_' });
    const series = this.#series;
    new Counter({
      name: 'eventide_commands_total',
      help: 'Commands answered over HTTP, by aggregate type, command type and outcome',
      labelNames: ['aggregate', 'command', 'outcome'],
      registers,
      collect() {
        for (const byCommand of series.values()) {
          for (const s of byCommand.values()) {
            for (let i = 0; i < OUTCOMES.length; i++) {
              const n = s.pending[i]!;
              if (n === 0) continue;
              s.pending[i] = 0;
              this.inc({ aggregate: s.aggregate, command: s.command, outcome: OUTCOMES[i]! }, n);
            }
          }
        }
      },
    });
    const latency = new Histogram({
      name: 'eventide_command_duration_seconds',
      help: 'Time from a command request arriving to its answer (durable commit included)',
      labelNames: ['aggregate', 'command'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    const known = new Set(runtime.aggregateTypes);
    for (const aggregate of [...known, UNKNOWN]) {
      const commands = Object.keys(runtime.decider(aggregate)?.commands ?? {});
      const byCommand = new Map<string, CommandSeries>();
      for (const command of [...commands, UNKNOWN]) {
        const labels: LabelValues<'aggregate' | 'command'> = { aggregate, command };
        byCommand.set(command, { aggregate, command, pending: OUTCOMES.map(() => 0), latency: latency.labels(labels) });
      }
      series.set(aggregate, byCommand);
    }
    const appendedPending = this.#appendedPending;
    new Counter({
      name: 'eventide_events_appended_total',
      help: 'Events committed to the log since the server started, by aggregate type',
      labelNames: ['aggregate'],
      registers,
      collect() {
        for (const [aggregate, n] of appendedPending) {
          if (n === 0) continue;
          appendedPending.set(aggregate, 0);
          this.inc({ aggregate }, n);
        }
      },
    });
    this.#unsubscribe = runtime.subscribe((events) => {
      for (const e of events) {
        const aggregate = known.has(e.aggregateType) ? e.aggregateType : UNKNOWN;
        appendedPending.set(aggregate, (appendedPending.get(aggregate) ?? 0) + 1);
      }
    });
    new Gauge({
      name: 'eventide_partition_offset',
      help: 'Next offset to be written in each partition (= events committed to it)',
      labelNames: ['partition'],
      registers,
      collect() {
        this.reset();
        for (const p of runtime.partitions()) this.set({ partition: String(p.partition) }, p.offset);
      },
    });
    new Gauge({
      name: 'eventide_feed_lag_events',
      help: 'Per partition, the most committed events a connected feed client has not been sent yet',
      labelNames: ['partition'],
      registers,
      collect() {
        this.reset();
        feed.lag().forEach((lag, partition) => this.set({ partition: String(partition) }, lag));
      },
    });
    // prom-client collects every metric at once; these three share one stats() round trip per scrape.
    let pending: Promise<ActorStats[] | null> | null = null;
    const stats = (): Promise<ActorStats[] | null> =>
      (pending ??= runtime
        .stats()
        .catch(() => null)
        .finally(() => (pending = null)));
    const perWorker = (name: string, help: string, pick: (s: ActorStats) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['worker'],
        registers,
        async collect() {
          this.reset();
          for (const s of (await stats()) ?? []) this.set({ worker: String(s.workerIndex) }, pick(s));
        },
      });
    perWorker('eventide_mailbox_depth', 'Commands queued in the actor mailboxes of each worker', (s) => s.queued);
    perWorker('eventide_live_actors', 'Aggregates held in memory by each worker', (s) => s.liveActors);
    perWorker('eventide_worker_heap_used_bytes', 'V8 heap in use by each worker thread (its actors, states and caches, and garbage not yet collected)', (s) => s.heapUsed);
    new Gauge({
      name: 'eventide_workers_up',
      help: 'Actor workers answering a stats request (a worker that is down leaves the per-worker gauges empty)',
      registers,
      async collect() {
        this.set((await stats())?.length ?? 0);
      },
    });
    new Gauge({
      name: 'eventide_websocket_clients',
      help: 'Connected WebSocket feed clients',
      registers,
      collect() {
        this.set(feed.clients());
      },
    });
    new Gauge({
      name: 'eventide_feed_catch_ups',
      help: 'Feed clients catching up from the log (active), and clients waiting for their turn (waiting)',
      labelNames: ['state'],
      registers,
      collect() {
        const c = feed.catchUps();
        this.set({ state: 'active' }, c.active);
        this.set({ state: 'waiting' }, c.waiting);
      },
    });
    new Counter({
      name: 'eventide_feed_chunks_read_total',
      help: 'Catch-up chunks read from the log and encoded (each shared by every client that needed it)',
      registers,
      collect() {
        this.reset();
        this.inc(feed.chunksRead());
      },
    });
    new Gauge({
      name: 'eventide_feed_reader_thread',
      help: "1 when the feed's catch-up chunks are read by its reader thread; 0 while it starts (the main thread makes short reads meanwhile) or when there is none",
      registers,
      collect() {
        this.set(feed.readerOnThread() ? 1 : 0);
      },
    });
    const views = options.views;
    if (views) {
      new Gauge({
        name: 'eventide_view_lag_events',
        help: 'Per view and partition: committed events the view has not applied yet',
        labelNames: ['view', 'partition'],
        registers,
        collect() {
          for (const name of views.names()) for (const l of views.lag(name)) this.set({ view: name, partition: String(l.partition) }, l.lag);
        },
      });
      new Gauge({
        name: 'eventide_view_checkpoint',
        help: 'Per view and partition: the next offset the view will apply',
        labelNames: ['view', 'partition'],
        registers,
        collect() {
          for (const name of views.names()) for (const l of views.lag(name)) this.set({ view: name, partition: String(l.partition) }, l.checkpoint);
        },
      });
    }
    this.feedMessages = new Counter({ name: 'eventide_feed_events_sent_total', help: 'Events sent to feed clients (one message carries a batch)', registers });
    this.feedSlowConsumers = new Counter({
      name: 'eventide_feed_slow_consumers_total',
      help: 'Feed clients whose send buffer passed the limit: paused (resumed later from their position) or closed with 4008',
      labelNames: ['action'],
      registers,
    });
  }

  /** Records one answered command request (whatever its status) and how long it took. */
  recordCommand(aggregateType: string, commandType: unknown, outcome: CommandOutcome, seconds: number): void {
    const byCommand = this.#series.get(aggregateType) ?? this.#series.get(UNKNOWN)!;
    const s = (typeof commandType === 'string' ? byCommand.get(commandType) : undefined) ?? byCommand.get(UNKNOWN)!;
    s.latency.observe(seconds);
    s.pending[OUTCOME_INDEX.get(outcome)!]!++;
  }

  close(): void {
    this.#unsubscribe();
  }
}
