/**
 * Storage for read models (projections), in the same LMDB environment as the log so that a view's rows
 * and its checkpoint are written in one transaction with nothing else in between (DESIGN invariant 5:
 * exactly-once effect without a dedupe table).
 *
 * Databases:
 * - `view_rows`        [view, generation, rowId] -> row
 * - `view_checkpoints` [view, generation, partition] -> next offset to project
 * - `view_meta`        [view] -> { active, building }: which generation serves reads. A rebuild fills a
 *                      new generation while the active one keeps serving, then flips `active` in one put.
 *
 * Gotchas: only the worker that owns a partition writes rows of streams in that partition and that
 * partition's checkpoints; the main thread writes only `view_meta` and drops retired generations.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import { decodeRecord, encodeRecord } from '../record-codec.js';
import type { ViewMeta, ViewStore } from '../port.js';

export class LmdbViewStore implements ViewStore {
  /** Rows and checkpoints queued in a log batch's turn land in its LMDB transaction (lmdb-js batches a turn). */
  readonly joinsLogBatch = true;
  readonly #root: RootDatabase;
  readonly #rows: Database<Buffer, Key[]>;
  readonly #checkpoints: Database<Buffer, Key[]>;
  readonly #meta: Database<Buffer, Key[]>;
  /** The last queued write of this thread: lmdb-js commits in order, so awaiting it awaits them all. */
  #last: Promise<boolean> | null = null;

  constructor(root: RootDatabase) {
    this.#root = root;
    const binary = { encoding: 'binary' as const, keyEncoding: 'ordered-binary' as const };
    this.#rows = root.openDB('view_rows', binary) as unknown as Database<Buffer, Key[]>;
    this.#checkpoints = root.openDB('view_checkpoints', binary) as unknown as Database<Buffer, Key[]>;
    this.#meta = root.openDB('view_meta', binary) as unknown as Database<Buffer, Key[]>;
  }

  meta(view: string): ViewMeta {
    const buf = this.#meta.getBinary([view]);
    return buf ? decodeRecord<ViewMeta>(buf, 'view_meta', [view]) : { active: 1, building: null };
  }

  async setMeta(view: string, meta: ViewMeta): Promise<void> {
    await this.#meta.put([view], encodeRecord(meta, 'view_meta', [view]));
    await this.#root.flushed;
  }

  getRow<R>(view: string, generation: number, id: string): R | undefined {
    const key = [view, generation, id];
    const buf = this.#rows.getBinary(key);
    return buf ? decodeRecord<R>(buf, 'view_rows', key) : undefined;
  }

  *rows<R>(view: string, generation: number, after?: string, limit = Number.MAX_SAFE_INTEGER): Generator<{ id: string; row: R }> {
    const start = after === undefined ? [view, generation] : [view, generation, after];
    let n = 0;
    for (const { key, value } of this.#rows.getRange({ start, end: [view, generation + 1] })) {
      const id = (key as [string, number, string])[2];
      if (after !== undefined && id === after) continue;
      if (n++ >= limit) return;
      yield { id, row: decodeRecord<R>(value, 'view_rows', key as [string, number, string]) };
    }
  }

  checkpoint(view: string, generation: number, partition: number): number {
    const key = [view, generation, partition];
    const buf = this.#checkpoints.getBinary(key);
    return buf ? decodeRecord<number>(buf, 'view_checkpoints', key) : 0;
  }

  /** Queue a row write (or removal with `undefined`) into the current write batch. */
  putRow(view: string, generation: number, id: string, row: unknown): Promise<boolean> {
    const key = [view, generation, id];
    return this.#queued(row === undefined ? this.#rows.remove(key) : this.#rows.put(key, encodeRecord(row, 'view_rows', key)));
  }

  putCheckpoint(view: string, generation: number, partition: number, offset: number): Promise<boolean> {
    const key = [view, generation, partition];
    return this.#queued(this.#checkpoints.put(key, encodeRecord(offset, 'view_checkpoints', key)));
  }

  /**
   * Callers queue and move on (`committed()` or the log's batch reports a failure): a failed commit must
   * not also surface as an unhandled rejection, which ends a worker thread.
   */
  #queued(p: Promise<boolean>): Promise<boolean> {
    p.catch(() => undefined);
    return (this.#last = p);
  }

  /** Removes every row and checkpoint of a retired generation. */
  async dropGeneration(view: string, generation: number): Promise<void> {
    let last: Promise<boolean> | null = null;
    for (const key of this.#rows.getKeys({ start: [view, generation], end: [view, generation + 1], snapshot: false })) last = this.#rows.remove(key as Key[]);
    for (const key of this.#checkpoints.getKeys({ start: [view, generation], end: [view, generation + 1], snapshot: false })) last = this.#checkpoints.remove(key as Key[]);
    if (last) await last;
  }

  /**
   * Resolves when every view write this thread queued so far is committed (views are derived: visibility
   * is enough). Not `root.committed`: with nothing pending, that waits for the next commit, whenever it is.
   */
  async committed(): Promise<void> {
    const last = this.#last;
    if (last) await last;
  }
}
