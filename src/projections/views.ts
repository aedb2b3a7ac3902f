/**
 * The projection engine, main-thread side: reads of views, read-your-writes waits, lag, rebuild and
 * reconcile. It keeps, per view, the checkpoint of every partition as the workers report them.
 */
import {
  ErrorCodes,
  RuntimeError,
  assertValidId,
  errors,
  formatPosition,
  positionAfter,
  positionReached,
  systemClock,
  type Clock,
  type EventPosition,
  type LogPosition,
} from '../kernel/index.js';
import { partitionOf } from '../partition/index.js';
import { AUDIT_TYPE, type AuditRecord } from '../domain/index.js';
import type { PluginChannel, Runtime, ScavengeGuard } from '../runtime/index.js';
import type { Mismatch, ReconcileReport } from './fold.js';
import { PROJECTION_ENGINE_MODULE, viewModulesOf } from './projection-engine.js';
import type { ProjectorEvent, ProjectorRequest, ProjectorStatus } from './projector-protocol.js';
import { loadProjections, type AnyProjection } from './types.js';

/**
 * A read-your-writes token: a log position (kernel/position.ts: the next offset of every partition, as
 * a command answer or a feed message carries it), or one event's `{ partition, offset }` (read as the
 * position just after it). A view has reached it once its checkpoint of every partition is at or past it.
 */
export type Position = LogPosition | EventPosition;

export interface ViewsOptions {
  /** Where rebuild times (`startedAt`, `finishedAt`) come from (default: the system clock). */
  clock?: Clock;
}

export interface ViewRow<R = unknown> {
  id: string;
  row: R;
}

export interface PartitionLag {
  partition: number;
  checkpoint: number;
  head: number;
  lag: number;
}

export interface RebuildStatus {
  view: string;
  state: 'idle' | 'building' | 'swapped' | 'failed';
  generation: number;
  progress: number;
  startedAt?: number;
  finishedAt?: number;
  error?: string;
}

type Waiter = { view: string; next: LogPosition; resolve: () => void };

export class Views {
  readonly #runtime: Runtime;
  readonly #channel: PluginChannel;
  readonly #views: Map<string, AnyProjection>;
  /** view -> generation -> partition -> checkpoint */
  readonly #checkpoints = new Map<string, Map<number, number[]>>();
  readonly #active = new Map<string, number>();
  readonly #failures = new Map<string, string>();
  readonly #rebuilds = new Map<string, RebuildStatus>();
  #waiters: Waiter[] = [];
  readonly #unsubscribe: () => void;
  #progressListeners = new Set<(s: RebuildStatus) => void>();
  readonly #clock: Clock;

  private constructor(runtime: Runtime, views: AnyProjection[], clock: Clock) {
    this.#runtime = runtime;
    this.#clock = clock;
    this.#channel = runtime.plugin('projections');
    this.#views = new Map(views.map((v) => [v.name, v]));
    for (const v of views) this.#active.set(v.name, runtime.log.views.meta(v.name).active);
    const unlisten = this.#channel.on((_w, payload) => this.#onEvent(payload as ProjectorEvent));
    // The audit stream's `SubjectForgotten` tells the views that copied a forgotten subject's personal
    // fields to redact their rows (each worker's engine: `redact`). Best effort: the rows read as null
    // from the moment the key is gone, rewritten or not.
    const unsubscribe = runtime.subscribe((events) => {
      if (events[0]?.aggregateType !== AUDIT_TYPE) return;
      for (const e of events) {
        const subject = e.type === 'SubjectForgotten' ? (e.data as AuditRecord).target.subject : undefined;
        if (subject !== undefined && !this.#closed) void this.#channel.broadcast({ op: 'redact', subject } satisfies ProjectorRequest).catch(() => undefined);
      }
    });
    const unguard = runtime.guardScavenge(this.#scavengeGuard());
    this.#unsubscribe = () => {
      unlisten();
      unsubscribe();
      unguard();
    };
  }

  /**
   * What the scavenge must leave for the views (runtime/scavenge.ts): every offset a generation (active
   * or building) has not committed yet, and every event of a type a view folds whole. A view that is
   * rebuilt folds from offset 0 what is left, so only a view whose rows depend on the events retention
   * keeps (`followsRetention`) may see its types scavenged.
   */
  #scavengeGuard(): ScavengeGuard {
    const store = this.#runtime.log.views;
    return {
      name: 'views',
      module: PROJECTION_ENGINE_MODULE,
      consumed: (partition) => {
        let upTo = Number.MAX_SAFE_INTEGER;
        for (const name of this.#views.keys()) {
          const meta = store.meta(name);
          for (const g of meta.building === null ? [meta.active] : [meta.active, meta.building]) upTo = Math.min(upTo, store.checkpoint(name, g, partition));
        }
        return upTo;
      },
      keeps: (aggregateType) => {
        for (const v of this.#views.values()) {
          if (v.aggregateTypes.includes(aggregateType) && v.followsRetention !== true) return `view ${v.name} folds every ${aggregateType} event (a rebuild would miss the removed ones); set followsRetention on a view whose rows depend only on the events retention keeps`;
        }
        return null;
      },
    };
  }

  /** Stops listening to the workers; pending waits fail with `ViewLagging` when they time out. */
  /**
   * Stops listening and waits for running rebuilds to stop (each gives up at its next progress check):
   * a rebuild that wrote after the runtime closed its log would throw from inside lmdb-js, uncaught.
   * Close this before the runtime.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    await Promise.allSettled([...this.#running]);
  }

  #closed = false;
  /** Rebuilds in progress (see `close`). */
  readonly #running = new Set<Promise<RebuildStatus>>();

  /**
   * Opens the main-thread side of the projection engine the runtime runs: its `workerPlugins` must hold
   * `projectionEngine(views)`, as `createEventide` makes it (`InvalidOptions` otherwise). A generation
   * left half-built by a crash during a rebuild (`building` in the view's meta) is retired and dropped
   * here: nothing would ever swap it in, and the workers would otherwise keep projecting into it forever.
   */
  static async open(runtime: Runtime, options: ViewsOptions = {}): Promise<Views> {
    const v = new Views(runtime, await loadProjections(viewModulesOf(runtime)), options.clock ?? systemClock);
    const store = runtime.log.views;
    for (const name of v.names()) {
      const meta = store.meta(name);
      if (meta.building === null) continue;
      await v.#channel.broadcast({ op: 'retire', view: name, generation: meta.building } satisfies ProjectorRequest);
      await store.setMeta(name, { active: meta.active, building: null });
      await store.dropGeneration(name, meta.building);
    }
    await v.#refresh();
    return v;
  }

  names(): string[] {
    return [...this.#views.keys()];
  }

  async #refresh(): Promise<void> {
    const statuses = await this.#channel.broadcast<ProjectorStatus>({ op: 'status' } satisfies ProjectorRequest);
    for (const s of statuses) {
      for (const t of s.targets) {
        for (const [p, cp] of Object.entries(t.checkpoints)) this.#setCheckpoint(t.view, t.generation, Number(p), cp);
        if (t.failed) this.#failures.set(t.view, t.failed);
      }
    }
  }

  #setCheckpoint(view: string, generation: number, partition: number, checkpoint: number): void {
    let gens = this.#checkpoints.get(view);
    if (!gens) this.#checkpoints.set(view, (gens = new Map()));
    let cps = gens.get(generation);
    if (!cps) gens.set(generation, (cps = new Array<number>(this.#runtime.partitionCount).fill(0)));
    if (checkpoint > cps[partition]!) cps[partition] = checkpoint;
  }

  #onEvent(e: ProjectorEvent): void {
    if (e.type === 'failed') {
      this.#failures.set(e.view, `partition ${e.partition}: ${e.error.message}`);
      return;
    }
    this.#setCheckpoint(e.view, e.generation, e.partition, e.checkpoint);
    if (e.generation === this.#active.get(e.view) && this.#waiters.length > 0) {
      this.#waiters = this.#waiters.filter((w) => {
        // Only this partition moved, so it can complete only a waiter that needs something of it and
        // now has it; just those get the check of every partition.
        const needed = w.next[e.partition] ?? 0;
        if (w.view !== e.view || needed === 0 || e.checkpoint < needed || !this.#reached(w.view, w.next)) return true;
        w.resolve();
        return false;
      });
    }
  }

  #view(name: string): AnyProjection {
    const v = this.#views.get(name);
    if (!v) throw new RuntimeError(ErrorCodes.NotFound, `no view named ${JSON.stringify(String(name).slice(0, 64))}; known: ${this.names().join(', ')}`);
    return v;
  }

  #checkpoint(view: string, partition: number): number {
    return this.#checkpoints.get(view)?.get(this.#active.get(view)!)?.[partition] ?? 0;
  }

  /** The view's checkpoints (active generation) are at or past `next` in every partition. */
  #reached(view: string, next: LogPosition): boolean {
    return positionReached(this.#checkpoints.get(view)?.get(this.#active.get(view)!) ?? [], next);
  }

  /** `position` as the next offset of every partition, checked against this log's partition count. */
  #toLogPosition(position: Position): LogPosition {
    const P = this.#runtime.partitionCount;
    const next = isLogPosition(position) ? position : validEvent(position, P) ? positionAfter(position, P) : undefined;
    if (!next || next.length !== P || !next.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new RuntimeError(ErrorCodes.InvalidQuery, `position must be ${P} offsets (the next offset of every partition), or { partition, offset } with partition < ${P}`);
    }
    return next;
  }

  /** Resolves once the view has applied every event `position` includes (read-your-writes), or fails with `ViewLagging`. */
  async waitFor(view: string, position: Position, timeoutMs = 5000): Promise<void> {
    this.#view(view);
    const next = this.#toLogPosition(position);
    if (this.#reached(view, next)) return;
    await new Promise<void>((resolve, reject) => {
      const w: Waiter = { view, next, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new RuntimeError(ErrorCodes.ViewLagging, `view ${view} has not reached ${formatPosition(next)} within ${timeoutMs} ms`, { retryAfterMs: 1000 }, true));
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }

  async get<R = unknown>(view: string, id: string, options: { position?: Position; timeoutMs?: number } = {}): Promise<ViewRow<R>> {
    this.#view(view);
    assertValidId(id);
    if (options.position) await this.waitFor(view, options.position, options.timeoutMs);
    this.#runtime.log.refreshReads();
    const row = this.#runtime.log.views.getRow<R>(view, this.#active.get(view)!, id);
    if (row === undefined) throw new RuntimeError(ErrorCodes.NotFound, `view ${view} has no row ${JSON.stringify(id)}`, { view, id });
    return { id, row };
  }

  list<R = unknown>(view: string, options: { after?: string; limit?: number } = {}): { rows: ViewRow<R>[]; next?: string } {
    this.#view(view);
    const limit = options.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new RuntimeError(ErrorCodes.InvalidQuery, 'limit must be an integer in [1, 1000]');
    if (options.after !== undefined) assertValidId(options.after);
    this.#runtime.log.refreshReads();
    const rows = [...this.#runtime.log.views.rows<R>(view, this.#active.get(view)!, options.after, limit + 1)];
    const more = rows.length > limit;
    if (more) rows.pop();
    return { rows, ...(more ? { next: rows[rows.length - 1]!.id } : {}) };
  }

  /** Per partition: the view's checkpoint, the log head, and the lag between them. */
  lag(view: string): PartitionLag[] {
    this.#view(view);
    return this.#runtime.partitions().map(({ partition, offset }) => {
      const checkpoint = this.#checkpoint(view, partition);
      return { partition, checkpoint, head: offset, lag: Math.max(0, offset - checkpoint) };
    });
  }

  failure(view: string): string | null {
    return this.#failures.get(view) ?? null;
  }

  rebuildStatus(view: string): RebuildStatus {
    this.#view(view);
    return this.#rebuilds.get(view) ?? { view, state: 'idle', generation: this.#active.get(view)!, progress: 1 };
  }

  onRebuildProgress(listener: (s: RebuildStatus) => void): () => void {
    this.#progressListeners.add(listener);
    return () => this.#progressListeners.delete(listener);
  }

  /**
   * Rebuilds a view from the log into a fresh generation while the current one keeps serving, then
   * swaps atomically (one put of `view_meta`) and drops the old generation. Resolves when swapped.
   */
  rebuild(view: string): Promise<RebuildStatus> {
    if (this.#closed) return Promise.reject(errors.closed());
    const run = this.#rebuild(view);
    this.#running.add(run);
    void run.then(
      () => this.#running.delete(run),
      () => this.#running.delete(run),
    );
    return run;
  }

  async #rebuild(view: string): Promise<RebuildStatus> {
    this.#view(view);
    const running = this.#rebuilds.get(view);
    if (running?.state === 'building') throw new RuntimeError(ErrorCodes.RebuildRunning, `view ${view} is already being rebuilt`, { view, generation: running.generation });
    const store = this.#runtime.log.views;
    const meta = store.meta(view);
    const old = meta.active;
    const generation = Math.max(old, meta.building ?? 0) + 1;
    const status: RebuildStatus = { view, state: 'building', generation, progress: 0, startedAt: this.#clock.now() };
    this.#rebuilds.set(view, status);
    const publish = () => {
      for (const l of this.#progressListeners) l({ ...status });
    };
    try {
      await store.setMeta(view, { active: old, building: generation });
      await this.#channel.broadcast({ op: 'build', view, generation } satisfies ProjectorRequest);
      publish();
      // Caught up = every partition's checkpoint in the new generation reached the head seen now.
      const target = this.#runtime.partitions().map((p) => p.offset);
      const total = target.reduce((a, b) => a + b, 0);
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if (this.#closed) return reject(errors.closed());
          const fail = this.#failures.get(view);
          if (fail) return reject(new RuntimeError(ErrorCodes.ProjectionFailed, fail));
          const cps = this.#checkpoints.get(view)?.get(generation) ?? [];
          const done = target.reduce((a, head, p) => a + Math.min(head, cps[p] ?? 0), 0);
          status.progress = total === 0 ? 1 : done / total;
          publish();
          if (target.every((head, p) => (cps[p] ?? 0) >= head)) return resolve();
          setTimeout(check, 50);
        };
        check();
      });
      await store.setMeta(view, { active: generation, building: null });
      this.#active.set(view, generation);
      await this.#channel.broadcast({ op: 'retire', view, generation: old } satisfies ProjectorRequest);
      await store.dropGeneration(view, old);
      this.#checkpoints.get(view)?.delete(old);
      Object.assign(status, { state: 'swapped', progress: 1, finishedAt: this.#clock.now() });
    } catch (err) {
      Object.assign(status, { state: 'failed', error: (err as Error).message, finishedAt: this.#clock.now() });
      await store.setMeta(view, { active: old, building: null }).catch(() => undefined);
      await this.#channel.broadcast({ op: 'retire', view, generation } satisfies ProjectorRequest).catch(() => undefined);
      publish();
      throw err;
    }
    publish();
    return { ...status };
  }

  /** Replays the log, compares with the live view (up to its checkpoints), optionally repairs. */
  async reconcile(view: string, options: { repair?: boolean; maxMismatches?: number } = {}): Promise<ReconcileReport> {
    this.#view(view);
    const generation = this.#active.get(view)!;
    const reports = await this.#channel.broadcast<ReconcileReport>({ op: 'reconcile', view, generation, repair: options.repair ?? false, maxMismatches: options.maxMismatches ?? 100 } satisfies ProjectorRequest);
    const mismatches: Mismatch[] = reports.flatMap((r) => r.mismatches).slice(0, options.maxMismatches ?? 100);
    return {
      checked: reports.reduce((a, r) => a + r.checked, 0),
      drift: reports.reduce((a, r) => a + r.drift, 0),
      mismatches,
      repaired: reports.reduce((a, r) => a + r.repaired, 0),
      damaged: reports.flatMap((r) => r.damaged ?? []).sort((a, b) => a.partition - b.partition),
    };
  }

  /** The position just after the event at `offset` of `id`'s partition (a read-your-writes token). */
  positionOf(id: string, offset: number): LogPosition {
    const P = this.#runtime.partitionCount;
    return positionAfter({ partition: partitionOf(id, P), offset }, P);
  }
}

function isLogPosition(p: Position): p is LogPosition {
  return Array.isArray(p);
}

function validEvent(p: EventPosition, partitions: number): boolean {
  return Number.isSafeInteger(p.partition) && p.partition >= 0 && p.partition < partitions && Number.isSafeInteger(p.offset) && p.offset >= 0;
}
