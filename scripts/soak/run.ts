/**
 * The kill -9 soak (issue 10): the real server in a child process, writers over HTTP in this process,
 * SIGKILL at a random moment, an immediate restart on the same data dir, and after every restart a check
 * that the log holds every acknowledged write exactly once. `npm run soak` (scripts/soak.ts) and
 * test/soak/kill9-soak.e2e.test.ts both run this one implementation.
 *
 * One cycle: `writers` loops send Deposits (each with a fresh commandId, to a random account) until a
 * random delay in [killMinMs, killMaxMs] has passed; then the server gets SIGKILL while requests are in
 * flight. Each answer is sorted (client.ts): 2xx = acknowledged, reset/timeout/5xx = unknown. The server
 * is started again at once (with `restartAfter: 'exit'` as soon as the killed process is reaped, the way a
 * supervisor restarts; with 'signal' right after the signal, while the old process may still be dying).
 * Then every unknown write is sent again with its commandId until it is acknowledged (`duplicate: true`
 * says it had been applied before the kill), and every account is verified (ledger.ts).
 *
 * A start refused because the data dir is still locked by the killed server is retried with a short
 * exponential back-off and counted (`restarts.refusedLocked`): issue 10 reports that an immediate restart
 * after kill -9 was refused by the pid-file lock; this figure shows whether that still happens.
 *
 * Gotchas:
 * - Verification runs only while no writer is running: an in-flight write would look like a phantom.
 * - Unknown writes are kept in the account's `unknown` set from before they are sent until they are
 *   answered, so a kill at any moment leaves no write the check does not know about.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { prng } from '../../bench/support/stats.js';
import { sendWrite, type Write } from './client.js';
import { AccountRecord, type Violation, type ViolationKind } from './ledger.js';
import { StartFailed, startServer, type RunningServer, type ServerSettings } from './server-process.js';

export interface SoakOptions {
  /** Kill -9 cycles (each: write, kill, restart, resolve unknowns, verify). */
  cycles: number;
  /** Concurrent HTTP writer loops. */
  writers: number;
  /** Accounts the writers deposit into (each opened once at the start). */
  accounts: number;
  /** The data dir; undefined: a fresh temporary dir, removed afterwards unless the soak failed. */
  dataDir?: string | undefined;
  keepDataDir?: boolean | undefined;
  /** The kill comes at a uniformly random moment this long after the writers start. */
  killMinMs: number;
  killMaxMs: number;
  /** 'exit': restart once the killed process is reaped; 'signal': right after sending SIGKILL. */
  restartAfter: 'exit' | 'signal';
  /** Re-read every stream in full every N cycles (0: only at the end); other cycles read the new tail. */
  fullCheckEvery: number;
  partitions?: number | undefined;
  workers?: number | undefined;
  seed: number;
  requestTimeoutMs: number;
  readyTimeoutMs: number;
  /** Progress lines (one per cycle). */
  log?: ((line: string) => void) | undefined;
}

export const DEFAULT_SOAK_OPTIONS: SoakOptions = {
  cycles: 100,
  writers: 16,
  accounts: 200,
  killMinMs: 200,
  killMaxMs: 2_000,
  restartAfter: 'exit',
  fullCheckEvery: 10,
  seed: 1,
  requestTimeoutMs: 30_000,
  readyTimeoutMs: 120_000,
};

export interface SoakResult {
  /** True only when nothing was lost, duplicated or otherwise wrong, and every unknown write was resolved. */
  ok: boolean;
  /** Set when the soak could not go on (the server would not start); `ok` is then false. */
  aborted?: string;
  options: Omit<SoakOptions, 'log'>;
  cyclesDone: number;
  writes: {
    /** Deposits acknowledged (2xx), first answers and resolved retries together. */
    acked: number;
    /** Deposits whose first answer left the outcome unknown, by cause ("ECONNRESET", "503 WorkerCrashed", ...). */
    unknown: number;
    unknownByCause: Record<string, number>;
    /** Unknown writes sent again with the same commandId and acknowledged: ... as already applied (duplicate: true). */
    unknownFoundApplied: number;
    /** ... and applied by the retry (the first attempt had not reached the log). */
    unknownAppliedOnRetry: number;
    /** Unknown writes still unresolved at the end (must be 0). */
    unresolved: number;
    /** Events in the log at the end (every stream read in full). */
    eventsInLog: number;
  };
  /** Distinct violations by kind (`lost`, `duplicated`, `phantom`, ...; see ledger.ts). */
  lost: number;
  duplicated: number;
  violationsByKind: Partial<Record<ViolationKind, number>>;
  /** The first violations, as messages. */
  violations: string[];
  restarts: {
    total: number;
    /** Start attempts refused because the data dir was still locked (each retried after a back-off). */
    refusedLocked: number;
    /** Start attempts that failed for another reason. */
    otherFailures: number;
    /** Kill (or reap) to /health 200, in ms. */
    msMin: number;
    msMedian: number;
    msMax: number;
  };
  /** The server died without being killed. */
  unexpectedExits: number;
  /** How the server ended on the final SIGTERM (expected "0"). */
  finalExit: string;
  dataDir: string;
  dataDirKept: boolean;
  wallMs: number;
}

const MAX_START_ATTEMPTS = 20;
const MAX_VIOLATION_MESSAGES = 50;
const VERIFY_CONCURRENCY = 8;

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const started = Date.now();
  const log = opts.log ?? ((): void => {});
  // Seeded: the kill moments and amounts follow the seed (which writer draws next depends on timing).
  const rand = prng(opts.seed);
  const dataDir = opts.dataDir ? resolve(opts.dataDir) : await mkdtemp(join(tmpdir(), 'eventide-soak-'));
  const settings: ServerSettings = { dataDir, partitions: opts.partitions, workers: opts.workers, readyTimeoutMs: opts.readyTimeoutMs };

  // A tag makes the run's ids unique, so a soak on a data dir of an earlier run checks only its own streams.
  const tag = Date.now().toString(36);
  const accounts = Array.from({ length: opts.accounts }, (_, i) => new AccountRecord(`soak-${tag}-${i}`));
  const byId = new Map(accounts.map((a) => [a.id, a]));
  let nextCommand = 0;

  const writes = { acked: 0, unknown: 0, unknownByCause: {} as Record<string, number>, unknownFoundApplied: 0, unknownAppliedOnRetry: 0, unresolved: 0, eventsInLog: 0 };
  const restarts = { total: 0, refusedLocked: 0, otherFailures: 0, ms: [] as number[] };
  const seenViolations = new Set<string>();
  const violationsByKind: Partial<Record<ViolationKind, number>> = {};
  const violationMessages: string[] = [];
  let unexpectedExits = 0;
  let aborted: string | undefined;
  let cyclesDone = 0;
  let finalExit = '';
  let server: RunningServer | undefined;

  const record = (v: Violation): void => {
    const key = `${v.kind}\0${v.account}\0${v.commandId ?? v.message}`;
    if (seenViolations.has(key)) return;
    seenViolations.add(key);
    violationsByKind[v.kind] = (violationsByKind[v.kind] ?? 0) + 1;
    if (violationMessages.length < MAX_VIOLATION_MESSAGES) violationMessages.push(`${v.kind}: ${v.account}: ${v.message}`);
  };

  /** Starts the server, retrying refused starts with a back-off; returns ms from `since` to healthy. */
  const start = async (since: number): Promise<{ server: RunningServer; ms: number; refused: number }> => {
    let refused = 0;
    let failures = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        const s = await startServer(settings);
        return { server: s, ms: Date.now() - since, refused };
      } catch (err) {
        if (!(err instanceof StartFailed)) throw err;
        if (err.lockRefused) {
          refused++;
          restarts.refusedLocked++;
        } else {
          failures++;
          restarts.otherFailures++;
        }
        if (attempt >= MAX_START_ATTEMPTS || failures >= 3) throw new Error(`the server would not start (${attempt} attempts): ${err.message}`);
        await sleep(Math.min(2_000, 50 * 2 ** (attempt - 1)));
      }
    }
  };

  /** Sends writes of unknown outcome again, each with its own commandId, until acknowledged. */
  const settle = async (url: string, pending: Write[], countAsUnknown: boolean): Promise<void> => {
    await forEachLimit(pending, opts.writers, async (write) => {
      const account = byId.get(write.account)!;
      for (let attempt = 1; ; attempt++) {
        const outcome = await sendWrite(url, write, opts.requestTimeoutMs);
        if (outcome.kind === 'acked') {
          account.ack(write, outcome.version);
          if (countAsUnknown) {
            writes.acked++;
            if (outcome.duplicate) writes.unknownFoundApplied++;
            else writes.unknownAppliedOnRetry++;
          }
          return;
        }
        if (outcome.kind === 'rejected') {
          account.unknown.delete(write.commandId);
          record({ kind: 'rejected', account: write.account, commandId: write.commandId, message: `${write.commandId} sent again: ${outcome.status} ${outcome.code}` });
          return;
        }
        if (attempt >= 100 || server?.hasExited()) return; // stays unknown; the next restart tries again
        await sleep(100);
      }
    });
  };

  const verifyAll = async (url: string, full: boolean): Promise<number> => {
    const before = seenViolations.size;
    await forEachLimit(accounts, VERIFY_CONCURRENCY, async (a) => {
      for (const v of await a.verify(url, full, opts.requestTimeoutMs)) record(v);
    });
    return seenViolations.size - before;
  };

  /** Writers until the kill; returns the writes acknowledged and the unknowns made in this phase. */
  const writePhase = async (s: RunningServer): Promise<{ acked: number; unknown: number; diedAlone: boolean }> => {
    let stop = false;
    let acked = 0;
    let unknown = 0;
    const loop = async (): Promise<void> => {
      while (!stop) {
        const account = accounts[Math.floor(rand() * accounts.length)]!;
        const amount = 1 + Math.floor(rand() * 1_000);
        const write: Write = { account: account.id, commandId: `d${nextCommand++}`, command: { type: 'Deposit', data: { amount } }, amount };
        account.unknown.set(write.commandId, write); // until answered: a kill now leaves it unknown
        const outcome = await sendWrite(s.url, write, opts.requestTimeoutMs);
        if (outcome.kind === 'acked') {
          account.ack(write, outcome.version);
          writes.acked++;
          acked++;
        } else if (outcome.kind === 'unknown') {
          writes.unknown++;
          unknown++;
          writes.unknownByCause[outcome.cause] = (writes.unknownByCause[outcome.cause] ?? 0) + 1;
          if (!stop) await sleep(20); // overload or a dying server: do not spin
        } else {
          account.unknown.delete(write.commandId);
          record({ kind: 'rejected', account: account.id, commandId: write.commandId, message: `deposit ${write.commandId}: ${outcome.status} ${outcome.code}` });
        }
      }
    };
    const loops = Array.from({ length: opts.writers }, loop);
    const delay = opts.killMinMs + rand() * (opts.killMaxMs - opts.killMinMs);
    let timer: NodeJS.Timeout | undefined;
    const diedAlone = await Promise.race([
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), delay))),
      s.exited.then(() => true),
    ]);
    clearTimeout(timer);
    stop = true;
    s.kill9(); // requests are in flight right now
    await Promise.all(loops);
    return { acked, unknown, diedAlone };
  };

  const pendingWrites = (): Write[] => accounts.flatMap((a) => [...a.unknown.values()]);

  try {
    log(`soak: ${opts.cycles} cycles, ${opts.writers} writers, ${opts.accounts} accounts, kill after ${opts.killMinMs}-${opts.killMaxMs} ms, seed ${opts.seed}, data dir ${dataDir}`);
    let boot = await start(Date.now());
    server = boot.server;
    // Open every account: the same settle path as unknown writes (an Open's commandId is `open`).
    const opens = accounts.map((a): Write => ({ account: a.id, commandId: 'open', command: { type: 'Open', data: { owner: a.id } }, amount: 0 }));
    for (const w of opens) byId.get(w.account)!.unknown.set(w.commandId, w);
    await settle(server.url, opens, false);
    if (pendingWrites().length > 0) throw new Error(`could not open ${pendingWrites().length} accounts`);
    await verifyAll(server.url, true);

    for (let cycle = 1; cycle <= opts.cycles; cycle++) {
      const phase = await writePhase(server);
      if (phase.diedAlone) {
        unexpectedExits++;
        log(`cycle ${cycle}: the server exited on its own (${await server.exited}); output tail:\n${server.outputTail()}`);
      }
      let since = Date.now();
      if (opts.restartAfter === 'exit') {
        await server.exited;
        since = Date.now();
      }
      boot = await start(since);
      server = boot.server;
      const pending = pendingWrites();
      await settle(server.url, pending, true);
      const t = Date.now();
      const full = opts.fullCheckEvery > 0 && cycle % opts.fullCheckEvery === 0;
      const found = await verifyAll(server.url, full);
      restarts.total++;
      restarts.ms.push(boot.ms);
      cyclesDone = cycle;
      log(
        `cycle ${cycle}/${opts.cycles}: ${phase.acked} acked, ${phase.unknown} unknown (resolved ${pending.length - pendingWrites().length}/${pending.length}), ` +
          `restart ${boot.ms} ms${boot.refused ? ` (${boot.refused} refused: data dir locked)` : ''}, ` +
          `${full ? 'full ' : ''}verify ${Date.now() - t} ms, ${found} new violations`,
      );
    }

    await verifyAll(server.url, true);
  } catch (err) {
    aborted = (err as Error).message;
    log(`soak aborted: ${aborted}`);
  } finally {
    if (server) finalExit = await server.stop(30_000);
  }

  writes.unresolved = pendingWrites().length;
  writes.eventsInLog = accounts.reduce((n, a) => n + a.verifiedSeq, 0);
  const lost = violationsByKind.lost ?? 0;
  const duplicated = violationsByKind.duplicated ?? 0;
  const ok = aborted === undefined && seenViolations.size === 0 && writes.unresolved === 0 && unexpectedExits === 0;
  const keep = !ok || opts.keepDataDir === true || opts.dataDir !== undefined;
  if (!keep) await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
  const sorted = [...restarts.ms].sort((a, b) => a - b);
  const { log: _log, ...options } = opts;
  return {
    ok,
    ...(aborted !== undefined ? { aborted } : {}),
    options,
    cyclesDone,
    writes,
    lost,
    duplicated,
    violationsByKind,
    violations: violationMessages,
    restarts: {
      total: restarts.total,
      refusedLocked: restarts.refusedLocked,
      otherFailures: restarts.otherFailures,
      msMin: sorted[0] ?? 0,
      msMedian: sorted[Math.floor(sorted.length / 2)] ?? 0,
      msMax: sorted[sorted.length - 1] ?? 0,
    },
    unexpectedExits,
    finalExit,
    dataDir,
    dataDirKept: keep,
    wallMs: Date.now() - started,
  };
}

/** The summary as a few lines of text. */
export function formatSoakResult(r: SoakResult): string {
  const causes = Object.entries(r.writes.unknownByCause)
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  const kinds = Object.entries(r.violationsByKind)
    .filter(([k]) => k !== 'lost' && k !== 'duplicated')
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return [
    `soak ${r.ok ? 'PASSED' : 'FAILED'}${r.aborted ? ` (aborted: ${r.aborted})` : ''}`,
    `  cycles (kill -9 + restart): ${r.cyclesDone} of ${r.options.cycles}; ${r.options.writers} writers over HTTP, ${r.options.accounts} accounts`,
    `  acked writes:    ${r.writes.acked} (every one checked after every restart); events in the log at the end: ${r.writes.eventsInLog}`,
    `  lost:            ${r.lost}`,
    `  duplicated:      ${r.duplicated}`,
    `  other violations: ${kinds || 'none'}`,
    `  unknown outcome: ${r.writes.unknown} (${causes || 'none'}); retried with the same commandId: ${r.writes.unknownFoundApplied} had been applied (duplicate: true), ${r.writes.unknownAppliedOnRetry} applied by the retry, ${r.writes.unresolved} unresolved`,
    `  restarts:        ${r.restarts.total}; refused (data dir locked): ${r.restarts.refusedLocked}; other start failures: ${r.restarts.otherFailures}; kill to healthy: min ${r.restarts.msMin} ms, median ${r.restarts.msMedian} ms, max ${r.restarts.msMax} ms (restart after ${r.options.restartAfter})`,
    `  unexpected server exits: ${r.unexpectedExits}; final SIGTERM exit: ${r.finalExit}`,
    `  wall time:       ${(r.wallMs / 1000).toFixed(1)} s; data dir ${r.dataDir}${r.dataDirKept ? ' (kept)' : ' (removed)'}`,
    ...r.violations.map((v) => `  ! ${v}`),
  ].join('\n');
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
