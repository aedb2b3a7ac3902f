/**
 * The peers suite's PostgreSQL harness (bench/support/postgres.ts, pg-accounts.ts, pg-group-commit.ts)
 * does what the peers table says it does: a private server with fsync and synchronous_commit on, account
 * commands decided with eventide's decider and stored one row per event, a concurrent writer of the same
 * stream version met by a unique violation and retried on the fresh tail, and a clean stop. Skipped
 * where PostgreSQL is not installed. No timings are checked.
 */
import { existsSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountStore } from '../../bench/support/account-store.js';
import { countEvents, PgPerCommand, readAccount, resetEventsTable } from '../../bench/support/pg-accounts.js';
import { PgGroupCommit } from '../../bench/support/pg-group-commit.js';
import { findPostgres, POSTGRES_MISSING, startPostgres, type PostgresServer } from '../../bench/support/postgres.js';

const install = findPostgres();

/** Alive and not a zombie waiting to be reaped. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

interface Variant {
  name: string;
  open(server: PostgresServer): Promise<AccountStore & { readonly conflicts: number }>;
}

const VARIANTS: Variant[] = [
  { name: 'one transaction per command', open: async (s) => new PgPerCommand(s.connection, { poolSize: 4 }) },
  // One lane: every stream in the same lane, so commands of several streams share transactions.
  { name: 'group commit', open: (s) => PgGroupCommit.open(s.connection, { lanes: 1, maxBatch: 64, maxQueued: 1000 }) },
];

describe('finding PostgreSQL', () => {
  it('says "skipped: postgresql not installed" when there is none (the peers rows then say so)', () => {
    const saved = process.env['PG_BIN'];
    process.env['PG_BIN'] = '/nonexistent/postgresql/bin';
    try {
      expect(findPostgres()).toBe(POSTGRES_MISSING);
      expect(POSTGRES_MISSING).toBe('skipped: postgresql not installed');
    } finally {
      if (saved === undefined) delete process.env['PG_BIN'];
      else process.env['PG_BIN'] = saved;
    }
  });
});

describe.skipIf(typeof install === 'string')('the peers suite on PostgreSQL', () => {
  let server: PostgresServer | null = null;
  let stopped = false;
  let sql: pg.Client;

  beforeAll(async () => {
    if (typeof install === 'string') return;
    server = await startPostgres(install, 'pg-test');
    sql = new pg.Client(server.connection);
    await sql.connect();
  }, 120_000);

  afterAll(async () => {
    await sql?.end().catch(() => undefined);
    if (server && !stopped) server.stop();
  });

  it('starts a private server on a unix socket only, with fsync and synchronous_commit on', async () => {
    const show = async (setting: string): Promise<string> => ((await sql.query(`SHOW ${setting}`)).rows[0] as Record<string, string>)[setting]!;
    expect(await show('fsync')).toBe('on');
    expect(await show('synchronous_commit')).toBe('on');
    expect(await show('listen_addresses')).toBe('');
    expect(server!.connection.host.startsWith('/')).toBe(true);
  });

  describe.each(VARIANTS)('$name', (variant) => {
    it('stores one event per accepted command, with the balances the decider computes', async () => {
      await resetEventsTable(server!.connection);
      const store = await variant.open(server!);
      try {
        await Promise.all(['a', 'b'].map((id) => store.execute(id, { type: 'Open', data: { owner: id } })));
        // Concurrent deposits on both accounts: several per stream in flight (and in one batch).
        await Promise.all(Array.from({ length: 20 }, (_, i) => store.execute(i % 2 ? 'b' : 'a', { type: 'Deposit', data: { amount: i + 1 } })));
        await expect(store.execute('a', { type: 'Withdraw', data: { amount: 1000 } })).rejects.toMatchObject({ code: 'InsufficientFunds' });
        await expect(store.execute('nobody', { type: 'Deposit', data: { amount: 1 } })).rejects.toMatchObject({ code: 'AccountNotOpen' });
        await store.execute('b', { type: 'Withdraw', data: { amount: 10 } });

        const a = await readAccount(sql, 'a');
        const b = await readAccount(sql, 'b');
        expect(a).toEqual({ version: 11, state: { owner: 'a', balance: 1 + 3 + 5 + 7 + 9 + 11 + 13 + 15 + 17 + 19, open: true } });
        expect(b).toEqual({ version: 12, state: { owner: 'b', balance: 2 + 4 + 6 + 8 + 10 + 12 + 14 + 16 + 18 + 20 - 10, open: true } });
        expect(await countEvents(sql)).toBe(23);
        expect(await store.countEvents(['a', 'b'])).toBe(23);
        const versions = (await sql.query<{ version: number }>("SELECT version FROM events WHERE stream_id = 'a' ORDER BY version")).rows.map((r) => r.version);
        expect(versions).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
      } finally {
        await store.close();
      }
    });

    it('meets another writer of the same stream version with a unique violation, and decides again on the fresh tail', async () => {
      await resetEventsTable(server!.connection);
      const store = await variant.open(server!);
      const other = new pg.Client(server!.connection);
      await other.connect();
      try {
        await store.execute('a', { type: 'Open', data: { owner: 'a' } });
        await store.execute('a', { type: 'Deposit', data: { amount: 1 } });
        // Another process writes version 3 and has not committed yet: the store's read does not see it,
        // and its insert of version 3 waits on the unique index until the other transaction ends.
        await other.query('BEGIN');
        await other.query(`INSERT INTO events (stream_id, version, type, data) VALUES ('a', 3, 'Deposited', '{"amount": 5}')`);
        const deposit = store.execute('a', { type: 'Deposit', data: { amount: 2 } });
        await expect.poll(async () => Number((await sql.query<{ n: string }>('SELECT count(*) AS n FROM pg_locks WHERE NOT granted')).rows[0]!.n)).toBeGreaterThan(0);
        await other.query('COMMIT');

        await deposit;
        expect(store.conflicts).toBe(1);
        expect(await readAccount(sql, 'a')).toEqual({ version: 4, state: { owner: 'a', balance: 1 + 5 + 2, open: true } });
        // The store's own view caught up too: its next command goes on top of version 4.
        await store.execute('a', { type: 'Deposit', data: { amount: 3 } });
        expect(await readAccount(sql, 'a')).toEqual({ version: 5, state: { owner: 'a', balance: 11, open: true } });
        expect(store.conflicts).toBe(1);
      } finally {
        await other.end();
        await store.close();
      }
    });
  });

  it('stops: no server process is left and its temp dir is gone', async () => {
    const pid = server!.pid;
    const dir = server!.connection.host;
    expect(running(pid)).toBe(true);
    await sql.end();
    server!.stop();
    stopped = true;
    expect(running(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
