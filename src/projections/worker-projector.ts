/**
 * The projection engine, worker side (a runtime worker plugin). In the worker that owns a partition,
 * each view consumes that partition in offset order from its own checkpoint and writes its rows and its
 * new checkpoint in one LMDB transaction: a crash between the two cannot happen, so every event affects
 * a view exactly once without a dedupe table (DESIGN invariant 5).
 *
 * It runs after each durable commit of the worker (and at start, to catch up), one pass at a time, at
 * most `BATCH` events per partition per pass so commands keep flowing between passes. A view may lag;
 * readers that need their own writes wait for a checkpoint (see views.ts).
 *
 * Each view keeps one or two generations: the active one and, during a rebuild, the one being built
 * from offset 0. The main thread flips which one serves reads, then retires the old one.
 */
import { ErrorCodes, RuntimeError, serializeError } from '../kernel/index.js';
import type { WorkerPlugin, WorkerPluginContext, WorkerPluginFactory } from '../runtime/index.js';
import { reconcilePartitions } from './fold.js';
import { loadProjections, type AnyProjection } from './types.js';
import type { ProjectorEvent, ProjectorRequest, ProjectorStatus } from './projector-protocol.js';

const BATCH = 2000;

interface Target {
  view: AnyProjection;
  generation: number;
  /** partition -> next offset to project */
  checkpoints: Map<number, number>;
  failed: string | null;
}

class Projector implements WorkerPlugin {
  readonly name = 'projections';
  readonly #ctx: WorkerPluginContext;
  readonly #views: Map<string, AnyProjection>;
  #targets: Target[] = [];
  #running = false;
  #dirty = false;
  #closed = false;
  #idle: (() => void)[] = [];

  constructor(ctx: WorkerPluginContext, views: AnyProjection[]) {
    this.#ctx = ctx;
    this.#views = new Map(views.map((v) => [v.name, v]));
    for (const v of views) {
      const meta = ctx.log.views.meta(v.name);
      this.#addTarget(v, meta.active);
      if (meta.building !== null) this.#addTarget(v, meta.building);
    }
    this.#schedule();
  }

  #addTarget(view: AnyProjection, generation: number): Target {
    const existing = this.#targets.find((t) => t.view === view && t.generation === generation);
    if (existing) return existing;
    const checkpoints = new Map<number, number>();
    for (const p of this.#ctx.ownedPartitions) checkpoints.set(p, this.#ctx.log.views.checkpoint(view.name, generation, p));
    const t: Target = { view, generation, checkpoints, failed: null };
    this.#targets.push(t);
    return t;
  }

  onCommitted(): void {
    this.#schedule();
  }

  #emit(e: ProjectorEvent): void {
    this.#ctx.emit(e);
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#dirty = true;
      return;
    }
    this.#running = true;
    setImmediate(() => void this.#run());
  }

  async #run(): Promise<void> {
    try {
      let progressed = true;
      while (!this.#closed && (progressed || this.#dirty)) {
        this.#dirty = false;
        progressed = await this.#pass();
      }
    } finally {
      this.#running = false;
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /** One pass over every owned partition; true when any event was projected. */
  async #pass(): Promise<boolean> {
    const store = this.#ctx.log.views;
    const advanced: { t: Target; partition: number; checkpoint: number }[] = [];
    for (const p of this.#ctx.ownedPartitions) {
      const head = this.#ctx.head(p);
      const behind = this.#targets.filter((t) => !t.failed && (t.checkpoints.get(p) ?? 0) < head);
      if (behind.length === 0) continue;
      const from = Math.min(...behind.map((t) => t.checkpoints.get(p) ?? 0));
      const rows = behind.map(() => new Map<string, unknown>());
      let last = from - 1;
      let current: { offset: number } | null = null;
      try {
        for (const e of this.#ctx.log.iteratePartition(p, from, BATCH)) {
          current = e;
          behind.forEach((t, i) => {
            if (e.offset < (t.checkpoints.get(p) ?? 0) || !t.view.aggregateTypes.includes(e.aggregateType)) return;
            const cache = rows[i]!;
            const before = cache.has(e.stream) ? cache.get(e.stream) : store.getRow(t.view.name, t.generation, e.stream);
            cache.set(e.stream, t.view.apply(before, e));
          });
          last = e.offset;
        }
      } catch (err) {
        for (const t of behind) t.failed = `partition ${p} at offset ${current?.offset ?? from}: ${(err as Error).message}`;
        for (const t of behind) this.#emit({ type: 'failed', view: t.view.name, generation: t.generation, partition: p, error: serializeError(err) });
        continue;
      }
      if (last < from) continue;
      behind.forEach((t, i) => {
        for (const [id, row] of rows[i]!) void store.putRow(t.view.name, t.generation, id, row);
        void store.putCheckpoint(t.view.name, t.generation, p, last + 1);
        advanced.push({ t, partition: p, checkpoint: last + 1 });
      });
    }
    if (advanced.length === 0) return false;
    // Rows and checkpoints of this pass were queued in one event turn: one transaction.
    await store.committed();
    for (const a of advanced) {
      a.t.checkpoints.set(a.partition, a.checkpoint);
      this.#emit({ type: 'progress', view: a.t.view.name, generation: a.t.generation, partition: a.partition, checkpoint: a.checkpoint });
    }
    return true;
  }

  async onRequest(payload: unknown): Promise<unknown> {
    const req = payload as ProjectorRequest;
    switch (req.op) {
      case 'status':
        return this.#status();
      case 'build': {
        const t = this.#addTarget(this.#view(req.view), req.generation);
        this.#schedule();
        return { generation: t.generation };
      }
      case 'retire':
        this.#targets = this.#targets.filter((t) => !(t.view.name === req.view && t.generation === req.generation));
        return { retired: true };
      case 'reconcile': {
        await this.#quiesce();
        const view = this.#view(req.view);
        const report = reconcilePartitions(this.#ctx.log, view, req.generation, this.#ctx.ownedPartitions, { repair: req.repair, maxMismatches: req.maxMismatches });
        if (req.repair && report.repaired > 0) await this.#ctx.log.views.committed();
        return report;
      }
    }
  }

  #view(name: string): AnyProjection {
    const v = this.#views.get(name);
    if (!v) throw new RuntimeError(ErrorCodes.NotFound, `no view named ${JSON.stringify(name)}`);
    return v;
  }

  /** Waits for the running pass to finish, so a reconcile sees rows and checkpoints of one moment. */
  async #quiesce(): Promise<void> {
    while (this.#running) await new Promise<void>((r) => this.#idle.push(r));
  }

  #status(): ProjectorStatus {
    return {
      worker: this.#ctx.workerIndex,
      targets: this.#targets.map((t) => ({
        view: t.view.name,
        generation: t.generation,
        failed: t.failed,
        checkpoints: Object.fromEntries(t.checkpoints),
      })),
      heads: Object.fromEntries(this.#ctx.ownedPartitions.map((p) => [p, this.#ctx.head(p)])),
    };
  }

  async close(): Promise<void> {
    await this.#quiesce();
    this.#closed = true;
  }
}

const createProjector: WorkerPluginFactory = async (ctx, options) => {
  const views = await loadProjections((options as { views: string[] }).views);
  return new Projector(ctx, views);
};

export default createProjector;
