/**
 * A quick look at the feed's catch-up alone (no command load): N clients (a child process) catch up from
 * `start` on a seeded log; prints the time, the throughput, both processes' CPU, the main thread's
 * event-loop delay, CPU per thread (main, the reader thread, the rest) and how many chunks the feed read.
 *
 *   node --import tsx bench/tools/catch-up-probe.ts [clients=50] [events=100000]
 *   PROBE_FEED='{"maxCatchUps":8}' node --import tsx bench/tools/catch-up-probe.ts
 *   PROBE_DIR=/tmp/x  keeps (or reuses) the seeded data dir there
 *   PROBE_MAIN_PROFILE=/tmp/main.cpuprofile  profiles the main thread during the catch-up only (its
 *     first PROBE_PROFILE_S seconds, default 20: a long profile outgrows a string)
 *   PROBE_RATE=1000  also offers Deposits at that rate (open loop) and prints their p99 per second
 *     (they are committed: a PROBE_DIR grows with each such run)
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { lineReader, REPO_ROOT } from '../support/child.js';
import { openLoop } from '../support/drive.js';
import { accountIds, depositer } from '../support/runtime.js';
import { percentile } from '../support/stats.js';
import { seedAndSettle, startRuntime } from '../support/runtime.js';
import { accounts } from '../support/seed.js';
import { threadSeconds, threadTicks } from '../support/threads.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import { buildServer } from '../../src/server/index.js';
import { Views } from '../../src/projections/index.js';

const clients = Number(process.argv[2] ?? 50);
const events = Number(process.argv[3] ?? 100_000);
const streams = Math.min(10_000, Math.max(1, Math.round(events / 100)));
const dir = process.env.PROBE_DIR ?? makeTempDir('catch-up-probe');
if (!existsSync(`${dir}/log.mdb`)) await seedAndSettle(dir, accounts('acct-', streams, Math.round(events / streams)), { snapshotEvery: 100, chunk: 20_000 });
const rt = await startRuntime(dir);
const views = await Views.open(rt);
const feed = { maxClients: 10_000, ...(process.env.PROBE_FEED ? (JSON.parse(process.env.PROBE_FEED) as object) : {}) };
const app = await buildServer({ runtime: rt, views, logger: false, dashboard: false, defaultMetrics: false, feed, security: { maxConnectionsPerAddress: 20_000, maxFeedPerAddress: 20_000 } });
const url = (await app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws');
const heads = rt.partitions().map((p) => p.offset);

const profile = process.env.PROBE_MAIN_PROFILE;
const session = profile ? new Session() : null;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../suites/catch-up-child.ts', import.meta.url)), url, String(clients), heads.join('.')], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
const next = lineReader(child);
await next(); // ready
let profiled: Promise<void> = Promise.resolve();
if (session) {
  profiled = new Promise((resolve) =>
    setTimeout(() => {
      void session.post('Profiler.stop').then(({ profile: p }) => {
        writeFileSync(profile!, JSON.stringify(p));
        resolve();
      });
    }, Number(process.env.PROBE_PROFILE_S ?? 20) * 1000),
  );
}
const loop = monitorEventLoopDelay({ resolution: 2 });
loop.enable();
const cpu = process.cpuUsage();
const ticks0 = threadTicks();
const t0 = performance.now();
child.stdin.write('go\n');
// Optional command load, in one-second windows: the p99 of each says when commands waited.
const rate = Number(process.env.PROBE_RATE ?? 0);
const perSecond: number[] = [];
let finished = false;
const loading = (async () => {
  if (!rate) return;
  const send = depositer(rt, accountIds(streams));
  while (!finished) perSecond.push(+percentile((await openLoop(rate, 1000, send)).latenciesMs, 0.99).toFixed(1));
})();
let report: { clients: Array<{ ms: number | null; events: number; bytes: number }>; wallMs: number; gaps: number; duplicates: number; closed: number[]; reconnects: number; cpuMs: number };
for (;;) {
  const line = JSON.parse(await next()) as typeof report;
  if (line.clients) {
    report = line;
    break;
  }
}
const wall = performance.now() - t0;
finished = true;
await loading;
await profiled;
const used = process.cpuUsage(cpu);
const threads = threadSeconds(ticks0, threadTicks());
const sum = (list: typeof threads) => +list.reduce((n, t) => n + t.seconds, 0).toFixed(2);
loop.disable();
const done = report.clients.filter((c) => c.ms !== null);
const total = done.reduce((n, c) => n + c.events, 0);
const bytes = done.reduce((n, c) => n + c.bytes, 0);
const metrics = (await app.inject('/metrics')).body;
const chunkReads = Number(/^eventide_feed_chunks_read_total (\d+)/m.exec(metrics)?.[1]);
const pauses = Number(/^eventide_feed_slow_consumers_total\{action="paused"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
console.log(
  JSON.stringify({
    clients,
    logEvents: heads.reduce((a, b) => a + b, 0),
    caughtUp: done.length,
    seconds: +(report.wallMs / 1000).toFixed(2),
    eventsPerSecond: Math.round((total / report.wallMs) * 1000),
    mbPerSecond: Math.round(bytes / 1e3 / report.wallMs),
    gaps: report.gaps,
    duplicates: report.duplicates,
    closed: report.closed,
    reconnects: report.reconnects,
    serverCores: +((used.user + used.system) / 1000 / wall).toFixed(2),
    clientCores: +(report.cpuMs / wall).toFixed(2),
    // CPU seconds: the main thread (sends), threads started during the catch-up (the feed's reader), the rest (actor workers, LMDB, GC).
    cpuSeconds: { main: sum(threads.filter((t) => t.tid === String(process.pid))), started: sum(threads.filter((t) => !ticks0.has(t.tid))), other: sum(threads.filter((t) => t.tid !== String(process.pid) && ticks0.has(t.tid))) },
    loopDelayP99Ms: +(loop.percentile(99) / 1e6).toFixed(1),
    loopDelayMaxMs: +(loop.max / 1e6).toFixed(1),
    chunkReads,
    ...(rate ? { commandP99PerSecond: perSecond } : {}),
    pauses,
  }),
);
child.kill();
await app.close();
await views.close();
await rt.close();
if (!process.env.PROBE_DIR) removeTempDir(dir);
