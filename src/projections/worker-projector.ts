/**
 * The projection engine, worker side (a runtime worker plugin). In the worker that owns a partition,
 * each view consumes that partition in offset order from its own checkpoint and writes its rows and its
 * new checkpoint in one LMDB transaction: a crash between the two cannot happen, so every event affects
 * a view exactly once without a dedupe table (DESIGN invariant 5).
 *
 * Two ways in, one rule (rows and checkpoint in one transaction, offsets in order):
 * - Live: when a view's checkpoint for a partition equals the offset of events being appended, the
 *   worker applies them during the same drain, so rows and checkpoint join the very transaction that
 *   commits the events. No read-back, no lag in steady state.
 * - Catch-up: otherwise (start-up, a rebuild's new generation, after a failure) asynchronous passes read
 *   the partition from the checkpoint, at most `BATCH` events per partition per pass so commands keep
 *   flowing, and commit rows + checkpoint together; once caught up, the view goes live again.
 * A view may therefore lag for a while; readers that need their own writes wait for a checkpoint.
 *
 * Each view keeps one or two generations: the active one and, during a rebuild, the one being built
 * from offset 0. The main thread flips which one serves reads, then retires the old one.
 */
import { ErrorCodes, RuntimeError, serializeError, type EventEnvelope } from '../kernel/index.js';
import { personalRowFields, type RowSeal, type WorkerPlugin, type WorkerPluginContext, type WorkerPluginFactory } from '../runtime/index.js';
import { partitionOf } from '../partition/index.js';
import { reconcilePartitions } from './fold.js';
import { applyEvent, loadProjections, type AnyProjection } from './types.js';
import type { ProjectorEvent, ProjectorRequest, ProjectorStatus } from './projector-protocol.js';

const BATCH = 2000;

interface Target {
  view: AnyProjection;
  generation: number;
  /** partition -> next offset to project (includes rows queued in the current, uncommitted batch) */
  checkpoints: Map<number, number>;
  /** partition -> checkpoint known committed: the only one ever reported to the main thread */
  committed: Map<number, number>;
  /** Recently written rows (write-through; this worker is their only writer), bounded LRU. */
  rows: Map<string, CachedRow>;
  failed: string | null;
}

const ROW_CACHE = 20_000;

/** A cached row, and the ciphertexts of its personal fields to reuse while they keep their values (`sealRow`). */
interface CachedRow {
  row: unknown;
  readonly seals: (RowSeal | undefined)[];
}

class Projector implements WorkerPlugin {
  readonly name = 'projections';
  readonly #ctx: WorkerPluginContext;
  readonly #views: Map<string, AnyProjection>;
  #targets: Target[] = [];
  #running = false;
  #dirty = false;
  #closed = false;
  /** A catch-up pass could not commit (disk full): no pass runs again in this worker (see #run). */
  #writeFailed = false;
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
    const t: Target = { view, generation, checkpoints, committed: new Map(checkpoints), rows: new Map(), failed: null };
    this.#targets.push(t);
    return t;
  }

  /** Live path: called in the drain, right after the events were queued into the batch. */
  onAppend(events: readonly EventEnvelope[]): void {
    const first = events[0];
    if (!first || this.#running) return;
    const p = first.partition;
    for (const t of this.#targets) {
      if (t.failed || t.checkpoints.get(p) !== first.offset) continue;
      try {
        if (t.view.aggregateTypes.includes(first.aggregateType)) {
          let row = this.#row(t, first.stream);
          for (const e of events) row = applyEvent(t.view, row, e);
          this.#writeRow(t, first.stream, row);
        }
        t.checkpoints.set(p, first.offset + events.length);
        let parts = this.#live.get(t);
        if (!parts) this.#live.set(t, (parts = new Set()));
        parts.add(p);
      } catch (err) {
        this.#fail(t, p, first.offset, err);
      }
    }
  }

  /** Live path: one checkpoint put per advanced partition, still inside the batch's transaction. */
  onBatchEnd(): void {
    const advanced: { t: Target; partition: number; checkpoint: number }[] = [];
    for (const [t, parts] of this.#live) {
      for (const p of parts) {
        const checkpoint = t.checkpoints.get(p)!;
        void this.#ctx.log.views.putCheckpoint(t.view.name, t.generation, p, checkpoint);
        advanced.push({ t, partition: p, checkpoint });
      }
    }
    this.#live.clear();
    this.#batches.push(advanced);
  }

  /** After a batch is durable (in batch order): tell the main thread, and let catch-up passes run where needed. */
  onCommitted(): void {
    for (const a of this.#batches.shift() ?? []) {
      a.t.committed.set(a.partition, a.checkpoint);
      this.#emit({ type: 'progress', view: a.t.view.name, generation: a.t.generation, partition: a.partition, checkpoint: a.checkpoint });
    }
    if (this.#targets.some((t) => !t.failed && this.#ctx.ownedPartitions.some((p) => (t.checkpoints.get(p) ?? 0) < this.#ctx.head(p)))) this.#schedule();
  }

  /** Cluster mode: another node's events were applied to the log: catch up from it (a pass, as after start-up). */
  onFollowed(): void {
    this.#schedule();
  }

  /** Partitions advanced by the live path in the current batch, per target. */
  readonly #live = new Map<Target, Set<number>>();
  /** Checkpoints of batches queued but not yet durable, oldest first (one entry per onBatchEnd). */
  readonly #batches: { t: Target; partition: number; checkpoint: number }[][] = [];

  /**
   * A data subject was forgotten: its key is gone, so its rows' personal fields read as null already.
   * Every worker drops the subject's cached rows (they hold the plaintext); the worker that owns the
   * subject's partition, the single writer of its rows, rewrites them redacted, so the ciphertext leaves
   * the store too. With drains held (`exclusive`), like reconcile: no batch writes the row meanwhile.
   */
  #redact(subject: string): Promise<{ redacted: number }> {
    return this.#ctx.exclusive(async () => {
      do {
        await this.#quiesce();
        await this.#ctx.log.views.committed();
      } while (this.#running);
      const owns = this.#ctx.ownedPartitions.includes(partitionOf(subject, this.#ctx.totalPartitions));
      let redacted = 0;
      for (const t of this.#targets) {
        if (personalRowFields(t.view.name) === undefined) continue;
        t.rows.delete(subject);
        const row = owns ? this.#ctx.log.views.getRow(t.view.name, t.generation, subject) : undefined;
        if (row === undefined) continue;
        // Read back opened, hence with the fields null: written so, the sealed bytes are replaced.
        void this.#ctx.log.views.putRow(t.view.name, t.generation, subject, row);
        redacted++;
      }
      await this.#ctx.log.views.committed();
      return { redacted };
    });
  }

  /** The row as last written (cache; `#writeRow` refreshes its recency), else from the store. */
  #row(t: Target, id: string): unknown {
    const cached = t.rows.get(id);
    if (cached !== undefined) return cached.row;
    return this.#ctx.log.views.getRow(t.view.name, t.generation, id);
  }

  #writeRow(t: Target, id: string, row: unknown): void {
    let cached = t.rows.get(id);
    if (cached === undefined) cached = { row, seals: [] };
    else t.rows.delete(id);
    cached.row = row;
    // A removed row (a tombstoned stream) starts its seals again if it comes back.
    if (row === undefined) cached.seals.length = 0;
    void this.#ctx.log.views.putRow(t.view.name, t.generation, id, row, cached.seals);
    t.rows.set(id, cached);
    if (t.rows.size > ROW_CACHE) t.rows.delete(t.rows.keys().next().value!);
  }

  #fail(t: Target, partition: number, offset: number, err: unknown): void {
    t.failed = `partition ${partition} at offset ${offset}: ${(err as Error)?.message ?? String(err)}`;
    this.#emit({ type: 'failed', view: t.view.name, generation: t.generation, partition, error: serializeError(err) });
  }

  #emit(e: ProjectorEvent): void {
    this.#ctx.emit(e);
  }

  #schedule(): void {
    if (this.#closed || this.#writeFailed) return;
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
      while (!this.#closed && !this.#writeFailed && (progressed || this.#dirty)) {
        this.#dirty = false;
        progressed = await this.#pass();
      }
    } catch {
      // The pass's rows and checkpoints did not commit, yet its in-memory checkpoints moved on: this
      // worker's projection state is no longer the log's. Its host stops writing on the same failure and
      // is replaced by a fresh worker once storage is writable (runtime/storage-recovery.ts), which reads
      // the checkpoints back; until then no pass runs (each would fail the same way).
      this.#writeFailed = true;
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
      const checkpointsAtStart = behind.map((t) => t.checkpoints.get(p) ?? 0);
      let last = from - 1;
      let current: { offset: number } | null = null;
      try {
        // Read first: the read below sees at least this, so offsets under it that it skips were removed
        // by a scavenge (port.ts, "Scavenge"), and the views pass over them rather than wait for them.
        const written = this.#ctx.log.partitionHead(p);
        for (const e of this.#ctx.log.iteratePartition(p, from, BATCH)) {
          current = e;
          behind.forEach((t, i) => {
            if (e.offset < checkpointsAtStart[i]! || !t.view.aggregateTypes.includes(e.aggregateType)) return;
            const cache = rows[i]!;
            const before = cache.has(e.stream) ? cache.get(e.stream) : this.#row(t, e.stream);
            cache.set(e.stream, applyEvent(t.view, before, e));
          });
          last = e.offset;
        }
        last = Math.max(last, Math.min(from + BATCH, written, head) - 1);
      } catch (err) {
        for (const t of behind) this.#fail(t, p, current?.offset ?? from, err);
        continue;
      }
      if (last < from) continue;
      behind.forEach((t, i) => {
        // A view that was already past `last` (the read started at the slowest view) keeps its checkpoint.
        const next = last + 1;
        if (next <= checkpointsAtStart[i]!) return;
        for (const [id, row] of rows[i]!) this.#writeRow(t, id, row);
        void store.putCheckpoint(t.view.name, t.generation, p, next);
        // Set now, not after the commit: the live path must not re-apply these offsets meanwhile.
        t.checkpoints.set(p, next);
        advanced.push({ t, partition: p, checkpoint: next });
      });
    }
    if (advanced.length === 0) return false;
    // Rows and checkpoints of this pass were queued in one event turn: one transaction.
    await store.committed();
    for (const a of advanced) {
      a.t.committed.set(a.partition, a.checkpoint);
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
        // Rows of the retired generation may still be queued: in a batch being committed (drains are
        // pipelined) or by a catch-up pass. They must be committed before the main thread drops the
        // generation, or they would land after the drop and stay forever. So answer only once every
        // batch queued so far is durable and no pass runs.
        return this.#ctx.exclusive(async () => {
          do {
            await this.#quiesce();
            await this.#ctx.log.views.committed();
          } while (this.#running);
          return { retired: true };
        });
      case 'redact':
        return this.#redact(req.subject);
      case 'reconcile': {
        const view = this.#view(req.view);
        // Rows and checkpoints must be read at one moment, and repairs must not land under rows that
        // in-flight batches are about to write: so the worker holds its drains, waits for every pass and
        // every queued write to commit, and only then reads, compares and repairs.
        return this.#ctx.exclusive(async () => {
          do {
            await this.#quiesce();
            await this.#ctx.log.views.committed();
          } while (this.#running);
          const target = this.#targets.find((t) => t.view === view && t.generation === req.generation);
          const report = reconcilePartitions(this.#ctx.log, view, req.generation, this.#ctx.ownedPartitions, {
            repair: req.repair,
            maxMismatches: req.maxMismatches,
            // The row cache must hold the repaired rows, or the next command would fold on a corrupt one.
            onRepaired: (id, row) => {
              if (!target) return;
              target.rows.delete(id);
              target.rows.set(id, { row, seals: [] });
            },
          });
          if (req.repair && report.repaired > 0) await this.#ctx.log.views.committed();
          return report;
        });
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
        checkpoints: Object.fromEntries(t.committed),
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
