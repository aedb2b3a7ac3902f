/**
 * The port's `ViewStore` in memory: read models' rows, checkpoints and generation meta, kept beside the
 * memory log's events so that a projection's rows and checkpoint can commit with a log batch
 * (`joinsLogBatch`, DESIGN invariant 5).
 *
 * How a write joins a batch: the log runs a batch's `alsoInBatch` through `collect`, and every view
 * write made meanwhile is gathered into that batch instead of being queued; the log applies them in the
 * same step as the batch's events, or drops them with it when the batch is refused. A write made
 * anywhere else is queued on its own (write-queue.ts), after every write queued before it.
 *
 * Values are stored encoded (`encodeRecord`, as LMDB stores them), so a row the caller changes later,
 * or one read back and changed, never changes the store; a row the log cannot hold fails the call.
 */
import { encodeRecord, decodeRecord } from '../record-codec.js';
import type { ViewMeta, ViewStore } from '../port.js';
import { byKey } from './memory-store.js';
import type { WriteQueue } from './write-queue.js';

/** One view write, encoded. A row with `record: null` is removed. */
export type ViewOp =
  | { kind: 'row'; view: string; generation: number; id: string; record: Buffer | null }
  | { kind: 'checkpoint'; view: string; generation: number; partition: number; offset: number }
  | { kind: 'meta'; view: string; record: Buffer }
  | { kind: 'drop'; view: string; generation: number };

/** The view writes a log batch gathered; the log settles them with the batch (applied or not). */
export interface ViewBatch {
  readonly ops: readonly ViewOp[];
  settle(applied: boolean): void;
}

interface Generation {
  readonly rows: Map<string, Buffer>;
  readonly checkpoints: Map<number, number>;
}

interface ViewData {
  meta: Buffer | null;
  readonly generations: Map<number, Generation>;
}

const NO_META: ViewMeta = { active: 1, building: null };

export class MemoryViewStore implements ViewStore {
  readonly joinsLogBatch = true;
  readonly #queue: WriteQueue;
  readonly #views = new Map<string, ViewData>();
  /** The batch whose `alsoInBatch` is running, if one is. */
  #batch: { ops: ViewOp[]; done: Promise<boolean> } | null = null;
  /** The last view write queued or gathered: every earlier one settles first (see `committed`). */
  #last: Promise<unknown> | null = null;

  constructor(queue: WriteQueue) {
    this.#queue = queue;
  }

  // ---------------------------------------------------------------- reads

  meta(view: string): ViewMeta {
    const record = this.#views.get(view)?.meta;
    return record ? decodeRecord<ViewMeta>(record, 'view_meta', [view]) : { ...NO_META };
  }

  getRow<R>(view: string, generation: number, id: string): R | undefined {
    const record = this.#generation(view, generation)?.rows.get(id);
    return record ? decodeRecord<R>(record, 'view_rows', [view, generation, id]) : undefined;
  }

  *rows<R>(view: string, generation: number, after?: string, limit = Number.MAX_SAFE_INTEGER): Generator<{ id: string; row: R }> {
    const rows = this.#generation(view, generation)?.rows;
    if (!rows) return;
    const ids = [...rows.keys()].filter((id) => after === undefined || byKey(id, after) > 0).sort(byKey);
    let n = 0;
    for (const id of ids) {
      const record = rows.get(id);
      if (!record) continue; // removed while the caller iterated
      if (n++ >= limit) return;
      yield { id, row: decodeRecord<R>(record, 'view_rows', [view, generation, id]) };
    }
  }

  checkpoint(view: string, generation: number, partition: number): number {
    return this.#generation(view, generation)?.checkpoints.get(partition) ?? 0;
  }

  // ---------------------------------------------------------------- writes

  async setMeta(view: string, meta: ViewMeta): Promise<void> {
    await this.#write({ kind: 'meta', view, record: encodeRecord(meta, 'view_meta', [view]) });
  }

  putRow(view: string, generation: number, id: string, row: unknown): Promise<boolean> {
    return this.#write({ kind: 'row', view, generation, id, record: row === undefined ? null : encodeRecord(row, 'view_rows', [view, generation, id]) });
  }

  putCheckpoint(view: string, generation: number, partition: number, offset: number): Promise<boolean> {
    return this.#write({ kind: 'checkpoint', view, generation, partition, offset });
  }

  /** Removes every row and checkpoint of the generation, including those written before it in the queue. */
  async dropGeneration(view: string, generation: number): Promise<void> {
    await this.#write({ kind: 'drop', view, generation });
  }

  async committed(): Promise<void> {
    const last = this.#last;
    if (last) await last;
  }

  // ---------------------------------------------------------------- for the memory log

  /** Runs a log batch's `alsoInBatch`: the view writes it makes join that batch (see the header). */
  collect(alsoInBatch: () => void): ViewBatch {
    let settle!: (applied: boolean) => void;
    const batch = { ops: [] as ViewOp[], done: new Promise<boolean>((resolve) => (settle = resolve)) };
    const outer = this.#batch;
    this.#batch = batch;
    try {
      alsoInBatch();
    } catch (err) {
      settle(false);
      throw err;
    } finally {
      this.#batch = outer;
    }
    return { ops: batch.ops, settle };
  }

  /** Applies view writes; called by the log inside one queued step (never fails: values are encoded). */
  apply(ops: readonly ViewOp[]): void {
    for (const op of ops) {
      const view = this.#view(op.view);
      if (op.kind === 'meta') view.meta = op.record;
      else if (op.kind === 'drop') view.generations.delete(op.generation);
      else {
        let gen = view.generations.get(op.generation);
        if (!gen) view.generations.set(op.generation, (gen = { rows: new Map(), checkpoints: new Map() }));
        if (op.kind === 'checkpoint') gen.checkpoints.set(op.partition, op.offset);
        else if (op.record === null) gen.rows.delete(op.id);
        else gen.rows.set(op.id, op.record);
      }
    }
  }

  /** Gathered into the running batch, or queued on its own; resolves `true` once applied, `false` when dropped. */
  #write(op: ViewOp): Promise<boolean> {
    const done = this.#batch
      ? (this.#batch.ops.push(op), this.#batch.done)
      : this.#queue.push(() => {
          this.apply([op]);
          return true;
        });
    this.#last = done;
    return done;
  }

  #view(name: string): ViewData {
    let view = this.#views.get(name);
    if (!view) this.#views.set(name, (view = { meta: null, generations: new Map() }));
    return view;
  }

  #generation(view: string, generation: number): Generation | undefined {
    return this.#views.get(view)?.generations.get(generation);
  }
}
