/**
 * The account workload on a PostgreSQL events table, as a user would write it with `pg` instead of
 * adopting an event store: one row per event, `UNIQUE (stream_id, version)` as the optimistic
 * concurrency guard (two writers deciding on the same version: the second insert fails with a unique
 * violation, and that command is decided again on the fresh tail).
 *
 * `PgPerCommand` is one transaction per command: BEGIN; read the stream's tail past the cached version
 * (the current version and any event another writer added); decide; INSERT; COMMIT. A unique violation
 * rolls back and retries. The group-commit variant is pg-group-commit.ts.
 *
 * Gotchas:
 * - Durability is the server's: with synchronous_commit on (the default, set by postgres.ts) COMMIT
 *   returns once the WAL is flushed. Concurrent commits share one flush (PostgreSQL's own group commit),
 *   so the pool size decides how many commands one fsync can cover.
 * - The state cache only skips history already read; the tail read inside the transaction is what makes
 *   the decision current, and the unique index is what makes it safe.
 */
import pg from 'pg';
import type { AccountCommand, AccountEvent } from '../../src/domain/index.js';
import { decideAndFold, EMPTY, foldEvents, StateCache, type AccountStore, type Folded } from './account-store.js';
import type { PgConnection } from './postgres.js';

const SCHEMA = `
CREATE TABLE events (
  position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  stream_id   text        NOT NULL,
  version     integer     NOT NULL,
  type        text        NOT NULL,
  data        jsonb       NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, version)
)`;

/** Drops and recreates the events table: every measured run starts on an empty one. */
export async function resetEventsTable(connection: PgConnection): Promise<void> {
  const client = new pg.Client(connection);
  await client.connect();
  try {
    await client.query('DROP TABLE IF EXISTS events');
    await client.query(SCHEMA);
  } finally {
    await client.end();
  }
}

/** Statements are named: `pg` prepares each once per connection. */

/** One stream's events past a version. */
export const TAIL_ONE = {
  name: 'events-tail-one',
  text: 'SELECT stream_id, version, type, data FROM events WHERE stream_id = $1 AND version > $2 ORDER BY version',
};

/** Several streams' events, each past its own version, in stream then version order. */
export const TAIL = {
  name: 'events-tail',
  text: 'SELECT stream_id, version, type, data FROM unnest($1::text[], $2::int[]) AS known(stream_id, after) JOIN events e USING (stream_id) WHERE e.version > known.after ORDER BY e.stream_id, e.version',
};

export const INSERT_ONE = {
  name: 'events-insert-one',
  text: 'INSERT INTO events (stream_id, version, type, data) VALUES ($1, $2, $3, $4)',
};

/** Inserts rows given as four parallel arrays (one statement for any number of events). */
export const INSERT = {
  name: 'events-insert',
  text: 'INSERT INTO events (stream_id, version, type, data) SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::jsonb[])',
};

export interface TailRow {
  stream_id: string;
  version: number;
  type: AccountEvent['type'];
  data: AccountEvent['data'];
}

/** Rows to insert, as INSERT's parallel arrays. */
export class Rows {
  readonly streams: string[] = [];
  readonly versions: number[] = [];
  readonly types: string[] = [];
  readonly data: string[] = [];

  add(id: string, from: Folded, events: readonly AccountEvent[]): void {
    events.forEach((e, i) => {
      this.streams.push(id);
      this.versions.push(from.version + i + 1);
      this.types.push(e.type);
      this.data.push(JSON.stringify(e.data));
    });
  }

  get length(): number {
    return this.streams.length;
  }

  /** The statement and its parameters: a plain VALUES row for one event, arrays for more. */
  query(): { name: string; text: string; values: unknown[] } {
    if (this.length === 1) return { ...INSERT_ONE, values: [this.streams[0], this.versions[0], this.types[0], this.data[0]] };
    return { ...INSERT, values: [this.streams, this.versions, this.types, this.data] };
  }
}

/** `known` advanced by tail rows of one stream (rows past known.version, in order). */
export function foldRows(known: Folded, rows: readonly TailRow[]): Folded {
  // A row that does not continue the version sequence means the cache is ahead of or behind the table.
  rows.forEach((r, i) => {
    if (r.version !== known.version + i + 1) throw new Error(`stream ${r.stream_id}: read version ${r.version} after ${known.version + i}`);
  });
  return rows.length ? foldEvents(known, rows.map((r) => ({ type: r.type, data: r.data }) as AccountEvent)) : known;
}

export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === '23505';
}

/** How many times a command (or a batch) is decided again after a unique violation before it fails. */
export const MAX_CONFLICT_RETRIES = 10;

/** Rolls back; false when the connection itself is broken (then it must not go back to the pool). */
export async function rollback(client: pg.ClientBase): Promise<boolean> {
  try {
    await client.query('ROLLBACK');
    return true;
  } catch {
    return false;
  }
}

export async function countEvents(pool: pg.Pool | pg.Client): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM events');
  return Number(rows[0]!.n);
}

/** One stream folded from the table alone (no cache): what the tests check balances with. */
export async function readAccount(pool: pg.Pool | pg.Client, id: string): Promise<Folded> {
  const { rows } = await pool.query<TailRow>({ ...TAIL_ONE, values: [id, 0] });
  return foldRows(EMPTY, rows);
}

export interface PgPerCommandOptions {
  /** Connections: concurrent transactions, so commits that can share one WAL flush. */
  poolSize: number;
}

export class PgPerCommand implements AccountStore {
  readonly #pool: pg.Pool;
  readonly #cache = new StateCache();
  /** Unique violations met (each one a command decided again). */
  conflicts = 0;

  constructor(connection: PgConnection, options: PgPerCommandOptions) {
    this.#pool = new pg.Pool({ ...connection, max: options.poolSize });
  }

  async execute(id: string, command: AccountCommand): Promise<Folded> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await client.query('BEGIN');
          // Read once: other commands on this stream may advance the cache while this one awaits.
          const known = this.#cache.get(id);
          const { rows } = await client.query<TailRow>({ ...TAIL_ONE, values: [id, known.version] });
          const current = foldRows(known, rows);
          this.#cache.advance(id, current);
          const { events, next } = decideAndFold(id, current, command);
          const insert = new Rows();
          insert.add(id, current, events);
          if (insert.length) await client.query(insert.query());
          await client.query('COMMIT');
          this.#cache.advance(id, next);
          return next;
        } catch (err) {
          if (!(await rollback(client))) broken = err as Error;
          if (!broken && isUniqueViolation(err) && attempt < MAX_CONFLICT_RETRIES) {
            this.conflicts++;
            continue;
          }
          throw err;
        }
      }
    } finally {
      client.release(broken);
    }
  }

  /** Opens every connection of the pool now, so that no measured command pays for a connect. */
  async warmPool(n: number): Promise<void> {
    const clients = await Promise.all(Array.from({ length: n }, () => this.#pool.connect()));
    for (const c of clients) c.release();
  }

  countEvents(): Promise<number> {
    return countEvents(this.#pool);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
