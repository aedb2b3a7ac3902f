/**
 * Peers: the same workload on eventide and on what a user would pick instead, in the same run, each in
 * its own process (peers-child.ts), in interleaved rounds so that every peer sees the same machine load;
 * medians of the rounds. The table is printed and written first: it is the one users read first.
 *
 * - eventide: `createRuntime` as the throughput suite starts it (16 partitions, a worker per core, the
 *   projection engine and its built-in views, default `sync` durability: acknowledged once flushed);
 * - Emmett 0.42 in memory: `CommandHandler` over `getInMemoryEventStore()` (not durable at all);
 * - PostgreSQL, an events table with UNIQUE (stream_id, version) through `pg`, fsync and
 *   synchronous_commit on: one transaction per command (a pool of connections), and group commit (lanes
 *   each committing whatever queued during their previous transaction). The server is started for the
 *   suite (postgres.ts) and its processes' CPU is counted with the client's.
 *
 * The workload: `ACCOUNTS` accounts opened first, then round-robin `Deposit`s of 1 from `CALLERS`
 * concurrent callers (closed loop: capacity and each command's latency at capacity), then an open loop
 * at `OPEN_RATE` commands/s (latency at a load every peer sustains). Every peer decides with eventide's
 * account decider. After each run the child checks the store holds one event per acknowledged command.
 *
 * `npm run bench -- --only peers` runs this suite alone. Exploring: PEERS_ACCOUNTS, PEERS_CALLERS (the
 * workload), PEERS_EVENTIDE_VIEWS=0 (eventide without its built-in views), PEERS_PG_POOL (connections of the per-command peer), PEERS_PG_LANES (transactions in flight
 * of the group-commit peer).
 */
import { loadavg } from 'node:os';
import type { BenchContext, PeerRow, Suite } from '../support/context.js';
import { runChild } from '../support/child.js';
import { findPostgres, startPostgres, type PostgresServer } from '../support/postgres.js';
import { median } from '../support/stats.js';
import type { PeerChildConfig, PeerChildReport, PeerName } from './peers-child.js';
import { fmt } from './throughput.js';

const CHILD = new URL('./peers-child.ts', import.meta.url);
const ACCOUNTS = Number(process.env['PEERS_ACCOUNTS'] ?? 1000);
const CALLERS = Number(process.env['PEERS_CALLERS'] ?? 256);
const OPEN_RATE = 1000;

const sizes = (quick: boolean) =>
  quick ? { rounds: 1, warmMs: 200, measureMs: 800, openMs: 600 } : { rounds: 3, warmMs: 1000, measureMs: 5000, openMs: 4000 };

/** Connections of the per-command peer and lanes of the group-commit peer: the best of those tried (bench/README.md). */
const pgTuning = () => ({
  poolSize: Number(process.env['PEERS_PG_POOL'] ?? 64),
  lanes: Number(process.env['PEERS_PG_LANES'] ?? 2),
  maxBatch: 1024,
});

interface PeerSpec {
  name: PeerName;
  label: string;
  durable: string;
  postgres: boolean;
}

const PEERS: PeerSpec[] = [
  { name: 'eventide', label: 'eventide (in-process runtime, LMDB)', durable: 'yes: flushed (fsync) before the answer', postgres: false },
  { name: 'emmett-memory', label: 'Emmett 0.42 in-memory event store', durable: 'no: memory only', postgres: false },
  { name: 'pg-per-command', label: 'PostgreSQL events table, one transaction per command', durable: 'yes: synchronous_commit on, fsync on', postgres: true },
  { name: 'pg-group-commit', label: 'PostgreSQL events table, group commit (batched transactions)', durable: 'yes: synchronous_commit on, fsync on', postgres: true },
];

export const peersSuite: Suite = {
  name: 'peers',
  figures: [],
  steps: (quick) => 1 + sizes(quick).rounds * PEERS.length,
  async run(ctx) {
    const s = sizes(ctx.quick);
    const before = loadavg();
    const results = new Map<PeerName, PeerChildReport[]>(PEERS.map((p) => [p.name, []]));
    const failures = new Map<PeerName, string>();
    ctx.step('starting PostgreSQL');
    const install = findPostgres();
    let server: PostgresServer | null = null;
    if (typeof install === 'string') {
      for (const p of PEERS) if (p.postgres) failures.set(p.name, install);
    } else {
      try {
        server = await startPostgres(install);
      } catch (err) {
        for (const p of PEERS) if (p.postgres) failures.set(p.name, `failed: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    try {
      for (let r = 0; r < s.rounds; r++) {
        // Rotated each round, so no peer always runs first (or right after the same neighbour).
        for (let k = 0; k < PEERS.length; k++) {
          const peer = PEERS[(k + r) % PEERS.length]!;
          ctx.step(`${peer.name} round ${r + 1}/${s.rounds}`);
          if (failures.has(peer.name)) continue;
          const config: PeerChildConfig = {
            peer: peer.name,
            accounts: ACCOUNTS,
            callers: CALLERS,
            warmMs: s.warmMs,
            measureMs: s.measureMs,
            openRate: OPEN_RATE,
            openMs: s.openMs,
            eventideViews: process.env['PEERS_EVENTIDE_VIEWS'] !== '0',
          };
          if (peer.postgres) config.pg = { connection: server!.connection, postmaster: server!.pid, ...pgTuning() };
          try {
            const { result } = await runChild<PeerChildReport>(CHILD, [JSON.stringify(config)]);
            results.get(peer.name)!.push(result);
            if (result.errors) ctx.info(`peers: ${peer.name}: ${result.errors} commands failed, first: ${result.firstError}`);
          } catch (err) {
            failures.set(peer.name, `failed: ${(err as Error).message.slice(0, 500)}`);
            ctx.info(`peers: ${peer.name} failed: ${(err as Error).message}`);
          }
        }
      }
    } finally {
      try {
        server?.stop();
      } catch (err) {
        // The figures are taken; a server that will not stop is said, and killed by postgres.ts on exit.
        ctx.info(`peers: stopping PostgreSQL failed: ${(err as Error).message}`);
      }
    }
    report(ctx, s, results, failures, { before, after: loadavg() }, server?.version ?? null);
    const broken = [...failures].filter(([, why]) => !why.startsWith('skipped:'));
    if (broken.length) throw new Error(`peers failed: ${broken.map(([p, why]) => `${p}: ${why.slice(0, 200)}`).join('; ')}`);
  },
};

function report(
  ctx: BenchContext,
  s: ReturnType<typeof sizes>,
  results: Map<PeerName, PeerChildReport[]>,
  failures: Map<PeerName, string>,
  load: { before: number[]; after: number[] },
  pgVersion: string | null,
): void {
  const rows: PeerRow[] = PEERS.map((p) => {
    const runs = results.get(p.name)!;
    const why = failures.get(p.name);
    if (!runs.length || why) {
      return { peer: p.label, durable: p.durable, available: false, commandsPerSec: null, p50Ms: null, p99Ms: null, openP50Ms: null, openP99Ms: null, cpuUsPerCommand: null, note: why ?? 'did not run' };
    }
    const m = (f: (r: PeerChildReport) => number): number => median(runs.map(f));
    const server = runs.every((r) => r.serverCpuUs !== null) ? m((r) => r.serverCpuUs!) : null;
    const cpu = m((r) => r.cpuUs + (r.serverCpuUs ?? 0));
    const mismatched = runs.filter((r) => r.stored !== r.acknowledged);
    const errors = runs.reduce((n, r) => n + r.errors + r.open.errors, 0);
    const shed = runs.reduce((n, r) => n + r.open.shed, 0);
    const note = [
      `rounds: ${runs.map((r) => fmt(r.rate)).join(', ')} cmd/s`,
      server !== null ? `CPU: client ${m((r) => r.cpuUs).toFixed(0)} us + server ${server.toFixed(0)} us per command` : `CPU: ${cpu.toFixed(0)} us per command, all threads`,
      runs.at(-1)!.detail,
      p.postgres && pgVersion ? pgVersion.replace(/^postgres \(PostgreSQL\) /, 'PostgreSQL ') : null,
      mismatched.length
        ? `CHECK FAILED: stored events != acknowledged commands (${mismatched.map((r) => `${r.stored} vs ${r.acknowledged}`).join(', ')})`
        : `checked: events stored = commands acknowledged (${fmt(runs.at(-1)!.acknowledged)})`,
      errors ? `${errors} commands failed (first: ${runs.find((r) => r.firstError)?.firstError ?? '?'})` : null,
      shed ? `open loop shed ${shed} commands (past capacity)` : null,
    ].filter((x): x is string => x !== null);
    return {
      peer: p.label,
      durable: p.durable,
      available: true,
      commandsPerSec: m((r) => r.rate),
      p50Ms: m((r) => r.p50),
      p99Ms: m((r) => r.p99),
      openP50Ms: m((r) => r.open.p50),
      openP99Ms: m((r) => r.open.p99),
      cpuUsPerCommand: cpu,
      note: note.join('; '),
    };
  });
  ctx.peers({
    workload:
      `${fmt(ACCOUNTS)} accounts (opened first), round-robin Deposit of 1 from ${CALLERS} concurrent callers (closed loop, ${s.measureMs / 1000} s after ${s.warmMs / 1000} s of warm-up), ` +
      `then an open loop at ${fmt(OPEN_RATE)} commands/s for ${s.openMs / 1000} s; every peer decides with eventide's account decider, alone in its own process; ` +
      `${s.rounds} interleaved round(s), medians`,
    openRate: OPEN_RATE,
    loadavg: load,
    rows,
  });
}
