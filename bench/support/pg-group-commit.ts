/**
 * The account workload on a PostgreSQL events table with group commit: the best a careful user would
 * write by hand when one transaction per command is too slow. Commands queue per lane (a stream always
 * goes to the same lane, by hash, so lanes never race each other on a stream); a lane commits whatever
 * queued while its previous transaction ran, at once, with no timer and no waiting for a batch to fill:
 *
 *   BEGIN; read the tails of every stream in the batch (one query); decide each command in order, on
 *   its stream's state so far; INSERT every event (one statement); COMMIT; answer each caller.
 *
 * A command its rule rejects is answered with the decider's error and writes nothing; the others in the
 * batch still commit. A unique violation (another process wrote one of the streams) rolls the batch
 * back and decides it again on the fresh tails. Several lanes keep several transactions in flight, so
 * the server's own group commit can put their COMMITs in one WAL flush.
 *
 * Gotchas: acknowledged only after COMMIT returns (synchronous_commit on), like the per-command store;
 * one lane's batch is bounded (`maxBatch`) and so is its queue (`maxQueued`: past it, execute rejects).
 */
import pg from 'pg';
import type { AccountCommand } from '../../src/domain/index.js';
import { decideAndFold, StateCache, type AccountStore, type Folded } from './account-store.js';
import { countEvents, foldRows, isUniqueViolation, MAX_CONFLICT_RETRIES, rollback, Rows, TAIL, type TailRow } from './pg-accounts.js';
import type { PgConnection } from './postgres.js';

export interface PgGroupCommitOptions {
  /** Transactions in flight at once (one connection each). */
  lanes: number;
  /** Commands per transaction at most. */
  maxBatch: number;
  /** Commands waiting per lane at most. */
  maxQueued: number;
}

interface Pending {
  id: string;
  command: AccountCommand;
  resolve: (f: Folded) => void;
  reject: (err: unknown) => void;
}

export class PgGroupCommit implements AccountStore {
  readonly #lanes: Lane[];
  readonly #cache = new StateCache();
  readonly #pool: pg.Pool;
  readonly #counters = { conflicts: 0, batches: 0, commands: 0 };

  private constructor(lanes: Lane[], pool: pg.Pool) {
    this.#lanes = lanes;
    this.#pool = pool;
  }

  static async open(connection: PgConnection, options: PgGroupCommitOptions): Promise<PgGroupCommit> {
    // One connection per lane, held for good, and one more for reads outside the lanes (countEvents).
    const pool = new pg.Pool({ ...connection, max: options.lanes + 1 });
    const clients = await Promise.all(Array.from({ length: options.lanes }, () => pool.connect()));
    const store: PgGroupCommit = new PgGroupCommit([], pool);
    for (const c of clients) store.#lanes.push(new Lane(c, store.#cache, store.#counters, options));
    return store;
  }

  /** Unique violations met (each one a batch decided again). */
  get conflicts(): number {
    return this.#counters.conflicts;
  }

  /** Mean commands per committed transaction. */
  get meanBatch(): number {
    return this.#counters.commands / Math.max(1, this.#counters.batches);
  }

  execute(id: string, command: AccountCommand): Promise<Folded> {
    return new Promise((resolve, reject) => this.#lanes[laneOf(id, this.#lanes.length)]!.push({ id, command, resolve, reject }));
  }

  countEvents(): Promise<number> {
    return countEvents(this.#pool);
  }

  async close(): Promise<void> {
    await Promise.all(this.#lanes.map((l) => l.idle()));
    for (const l of this.#lanes) l.release();
    await this.#pool.end();
  }
}

/** FNV-1a of the id: the same stream always lands in the same lane. */
function laneOf(id: string, lanes: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % lanes;
}

class Lane {
  #queue: Pending[] = [];
  #running: Promise<void> | null = null;
  #broken: Error | undefined;

  constructor(
    readonly client: pg.PoolClient,
    readonly cache: StateCache,
    readonly counters: { conflicts: number; batches: number; commands: number },
    readonly options: PgGroupCommitOptions,
  ) {}

  push(p: Pending): void {
    if (this.#queue.length >= this.options.maxQueued) return p.reject(new Error(`group commit lane full (${this.options.maxQueued} commands waiting)`));
    this.#queue.push(p);
    this.#running ??= this.#drain();
  }

  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  release(): void {
    this.client.release(this.#broken);
  }

  async #drain(): Promise<void> {
    while (this.#queue.length) {
      const batch = this.#queue.length <= this.options.maxBatch ? this.#queue : this.#queue.slice(0, this.options.maxBatch);
      this.#queue = batch === this.#queue ? [] : this.#queue.slice(batch.length);
      await this.#commit(batch);
    }
    this.#running = null;
  }

  async #commit(batch: Pending[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const outcome = await this.#transaction(batch);
        this.counters.batches++;
        this.counters.commands += batch.length;
        for (const [id, f] of outcome.states) this.cache.advance(id, f);
        batch.forEach((p, i) => {
          const r = outcome.results[i]!;
          if ('error' in r) p.reject(r.error);
          else p.resolve(r.folded);
        });
        return;
      } catch (err) {
        if (this.#broken || !(await rollback(this.client))) this.#broken ??= err as Error;
        if (!this.#broken && isUniqueViolation(err) && attempt < MAX_CONFLICT_RETRIES) {
          this.counters.conflicts++;
          continue;
        }
        for (const p of batch) p.reject(err);
        return;
      }
    }
  }

  async #transaction(batch: Pending[]): Promise<{ states: Map<string, Folded>; results: Array<{ folded: Folded } | { error: unknown }> }> {
    await this.client.query('BEGIN');
    const states = new Map<string, Folded>();
    for (const p of batch) if (!states.has(p.id)) states.set(p.id, this.cache.get(p.id));
    const ids = [...states.keys()];
    const { rows } = await this.client.query<TailRow>({ ...TAIL, values: [ids, ids.map((id) => states.get(id)!.version)] });
    for (let i = 0; i < rows.length; ) {
      const id = rows[i]!.stream_id;
      let j = i;
      while (j < rows.length && rows[j]!.stream_id === id) j++;
      states.set(id, foldRows(states.get(id)!, rows.slice(i, j)));
      i = j;
    }
    const insert = new Rows();
    const results = batch.map((p) => {
      const current = states.get(p.id)!;
      try {
        const { events, next } = decideAndFold(p.id, current, p.command);
        insert.add(p.id, current, events);
        states.set(p.id, next);
        return { folded: next };
      } catch (error) {
        return { error };
      }
    });
    if (insert.length) await this.client.query(insert.query());
    await this.client.query('COMMIT');
    return { states, results };
  }
}
