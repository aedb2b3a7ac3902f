/**
 * One peer of the peers suite, alone in this process (spawned by peers.ts), so that its CPU time is its
 * own and no peer runs in a heap another one warmed or filled. Argument: the JSON `PeerChildConfig`.
 * Prints one JSON line, `PeerChildReport`.
 *
 * Phases, the same for every peer: open every account (one `Open` each), warm up (round-robin Deposits
 * for `warmMs`), measure a closed loop of `callers` for `measureMs` (rate, each command's latency, CPU),
 * then an open loop at `openRate` commands/s (latency from each command's due time), then check that
 * the store holds exactly one event per acknowledged command.
 */
import type { AccountCommand } from '../../src/domain/index.js';
import type { AccountStore } from '../support/account-store.js';
import { closedLoop, openLoop, runCount } from '../support/drive.js';
import { EmmettAccounts } from '../support/emmett-accounts.js';
import { PgPerCommand, resetEventsTable } from '../support/pg-accounts.js';
import { PgGroupCommit } from '../support/pg-group-commit.js';
import { serverCpuMicros, type PgConnection } from '../support/postgres.js';
import { accountIds, startRuntime } from '../support/runtime.js';
import { summarise } from '../support/stats.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

export type PeerName = 'eventide' | 'emmett-memory' | 'pg-per-command' | 'pg-group-commit';

export interface PeerChildConfig {
  peer: PeerName;
  accounts: number;
  callers: number;
  warmMs: number;
  measureMs: number;
  openRate: number;
  openMs: number;
  pg?: { connection: PgConnection; postmaster: number; poolSize: number; lanes: number; maxBatch: number };
  /** eventide with its projection engine and built-in views (the default, as `npm start` runs it). */
  eventideViews?: boolean;
}

export interface PeerChildReport {
  rate: number;
  ops: number;
  errors: number;
  firstError: string | null;
  /** Closed loop: ms from send to answer. */
  p50: number;
  p99: number;
  /** Open loop at `openRate`: ms from due time to answer. */
  open: { p50: number; p99: number; achieved: number; shed: number; errors: number };
  /** CPU of this process (every thread) per measured command, us. */
  cpuUs: number;
  /** CPU of the database server's processes per measured command, us (PostgreSQL only). */
  serverCpuUs: number | null;
  acknowledged: number;
  stored: number;
  /** Peer-specific facts for the note (conflicts, mean batch, stream lengths, workers). */
  detail: string;
}

async function openStore(c: PeerChildConfig): Promise<{ store: AccountStore; detail: () => Promise<string> }> {
  switch (c.peer) {
    case 'eventide': {
      const dir = makeTempDir('peers-eventide');
      const rt = await (c.eventideViews === false ? startRuntime(dir, { workerPlugins: [] }) : startRuntime(dir));
      const store: AccountStore = {
        execute: (id, command) => rt.execute('account', id, command),
        countEvents: async (ids) => (await Promise.all(ids.map((id) => rt.load('account', id)))).reduce((n, l) => n + l.version, 0),
        close: async () => {
          await rt.close();
          removeTempDir(dir);
        },
      };
      return { store, detail: async () => `${rt.workerCount} workers${c.eventideViews === false ? ', no views (PEERS_EVENTIDE_VIEWS=0)' : ', built-in views projected in the same commit'}` };
    }
    case 'emmett-memory': {
      const store = new EmmettAccounts();
      return {
        store,
        detail: async () => {
          const lengths = await store.streamLengths(accountIds(c.accounts));
          return `streams grew to ${Math.max(...lengths)} events`;
        },
      };
    }
    case 'pg-per-command': {
      const pg = c.pg!;
      await resetEventsTable(pg.connection);
      const store = new PgPerCommand(pg.connection, { poolSize: pg.poolSize });
      await store.warmPool(pg.poolSize);
      return { store, detail: async () => `pool of ${pg.poolSize} connections, ${store.conflicts} unique violations retried` };
    }
    case 'pg-group-commit': {
      const pg = c.pg!;
      await resetEventsTable(pg.connection);
      const store = await PgGroupCommit.open(pg.connection, { lanes: pg.lanes, maxBatch: pg.maxBatch, maxQueued: 65_536 });
      return { store, detail: async () => `${pg.lanes} lanes, ${store.meanBatch.toFixed(0)} commands per transaction on average, ${store.conflicts} unique violations retried` };
    }
  }
}

async function main(c: PeerChildConfig): Promise<PeerChildReport> {
  const { store, detail } = await openStore(c);
  const ids = accountIds(c.accounts);
  let acknowledged = 0;
  const send = (id: string, command: AccountCommand): Promise<void> =>
    store.execute(id, command).then(() => {
      acknowledged++;
    });
  let next = 0;
  const deposit = (): Promise<void> => send(ids[next++ % ids.length]!, { type: 'Deposit', data: { amount: 1 } });
  try {
    const opened = await runCount(c.accounts, c.callers, (i) => send(ids[i]!, { type: 'Open', data: { owner: `owner-${i}` } }));
    if (opened.errors) throw new Error(`opening accounts: ${opened.errors} failed, first: ${opened.firstError}`);
    await closedLoop(c.warmMs, c.callers, deposit);

    const latencies: number[] = [];
    const server0 = c.pg ? serverCpuMicros(c.pg.postmaster) : null;
    const cpu0 = process.cpuUsage();
    const closed = await closedLoop(c.measureMs, c.callers, deposit, latencies);
    const cpu = process.cpuUsage(cpu0);
    const server1 = c.pg ? serverCpuMicros(c.pg.postmaster) : null;
    const ops = Math.max(1, closed.ops);

    const open = await openLoop(c.openRate, c.openMs, deposit);
    const l = summarise(latencies);
    const o = summarise(open.latenciesMs);
    return {
      rate: closed.rate,
      ops: closed.ops,
      errors: closed.errors,
      firstError: closed.firstError ?? open.firstError,
      p50: l.p50,
      p99: l.p99,
      open: { p50: o.p50, p99: o.p99, achieved: open.achieved, shed: open.shed, errors: open.errors },
      cpuUs: (cpu.user + cpu.system) / ops,
      serverCpuUs: server0 !== null && server1 !== null ? (server1 - server0) / ops : null,
      acknowledged,
      stored: await store.countEvents(ids),
      detail: await detail(),
    };
  } finally {
    await store.close();
  }
}

// peers.ts imports only this module's types (erased), so this runs only in the child.
main(JSON.parse(process.argv[2] ?? '{}') as PeerChildConfig).then(
  (report) => {
    console.log(JSON.stringify(report));
    process.exit(0);
  },
  (err: unknown) => {
    console.error((err as Error)?.stack ?? String(err));
    process.exit(1);
  },
);
