/**
 * The feed's catch-up: `CLIENTS` WebSocket clients (in a child process) open `/feed?from=start` at once
 * on a log of `EVENTS` events, while in-process Deposits are offered at a fixed rate (open loop, latency
 * from each command's due time). The figure is the commands' p99 while the clients catch up, next to the
 * p99 of the same load with no client (measured before the clients connect and again after they caught
 * up: both windows pooled, so a drift of the shared box counts against neither side). Also reported:
 * catch-up throughput (events/s per client: its log events over its own time from hello to caught up;
 * total: every client's events over the wall time from the first hello to the last caught-up), loss
 * (gaps, duplicates, clients closed before catching up), and both processes' CPU.
 *
 * Is it fair? The load generator is in the server's process, as an embedded caller would be, and does the
 * same work with and without clients. The clients are in another process on the same two cores, and
 * every byte the server sends is copied twice by the kernel and read by them: 500 clients x 1M events of
 * ~220 bytes is ~110 GB of loopback, work a deployment would spread over other machines. The child keeps
 * its own share small (bench/support/feed-tally.ts).
 *
 * Exploring: `CATCHUP_CLIENTS`, `CATCHUP_EVENTS`, `CATCHUP_RATE` override the sizes; `CATCHUP_FEED`
 * (JSON) adds `feed` options of `buildServer`; `CATCHUP_CAP_S` caps the loaded phase (the figure then
 * says how far the clients got); `CATCHUP_CHILD_NICE` runs the client process at that nice level.
 */
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { measured, notAvailable } from '../figures.js';
import { lineReader, REPO_ROOT } from '../support/child.js';
import type { Suite } from '../support/context.js';
import { openLoop, runCount } from '../support/drive.js';
import { accountIds, depositer, seedAndSettle, startRuntime } from '../support/runtime.js';
import { accounts } from '../support/seed.js';
import { NO_SERVER, srcExists, srcModule } from '../support/server.js';
import { percentile } from '../support/stats.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import { fmt } from './throughput.js';

const CHILD = new URL('./catch-up-child.ts', import.meta.url);
/** Every bench client is on 127.0.0.1: lift the per-address caps (64 feed sockets by default) for them. */
const BENCH_CLIENTS_FROM_ONE_ADDRESS = { maxConnectionsPerAddress: 20_000, maxFeedPerAddress: 20_000 };

const sizes = (quick: boolean) => {
  const s = quick ? { clients: 50, events: 20_000, accounts: 1_000, rate: 500, aloneSeconds: 1, capSeconds: 60 } : { clients: 500, events: 1_000_000, accounts: 10_000, rate: 1_000, aloneSeconds: 10, capSeconds: 420 };
  const env = (name: string, v: number): number => (process.env[name] ? Number(process.env[name]) : v);
  return { ...s, clients: env('CATCHUP_CLIENTS', s.clients), events: env('CATCHUP_EVENTS', s.events), rate: env('CATCHUP_RATE', s.rate), capSeconds: env('CATCHUP_CAP_S', s.capSeconds), childNice: env('CATCHUP_CHILD_NICE', 0) };
};

interface ChildReport {
  clients: Array<{ ms: number | null; events: number; bytes: number }>;
  wallMs: number;
  gaps: number;
  duplicates: number;
  closed: number[];
  reconnects: number;
  cpuMs: number;
}

interface FastifyApp {
  listen(o: { port: number; host: string }): Promise<string>;
  close(): Promise<unknown>;
}

/** Open-loop windows of one second at `rate` until `done()` or `capMs`; every latency, in ms. */
async function loadUntil(rate: number, done: () => boolean, capMs: number, send: () => Promise<unknown>): Promise<{ latencies: number[]; shed: number; errors: number; seconds: number }> {
  const latencies: number[] = [];
  let shed = 0;
  let errors = 0;
  const t0 = performance.now();
  while (!done() && performance.now() - t0 < capMs) {
    const r = await openLoop(rate, 1000, send);
    for (const l of r.latenciesMs) latencies.push(l);
    shed += r.shed;
    errors += r.errors;
  }
  return { latencies, shed, errors, seconds: (performance.now() - t0) / 1000 };
}

export const catchUpSuite: Suite = {
  name: 'catch-up',
  figures: ['feed.catchUp.p99'],
  steps: () => 4,
  async run(ctx) {
    if (!srcExists('server/feed/hub')) {
      ctx.step('catch-up');
      ctx.figure(notAvailable('feed.catchUp.p99', NO_SERVER));
      return;
    }
    const s = sizes(ctx.quick);
    const perAccount = Math.max(1, Math.round(s.events / s.accounts));
    const { buildServer } = (await import(srcModule('server/app').href)) as { buildServer: (o: Record<string, unknown>) => Promise<FastifyApp> };
    ctx.step(`seeding ${fmt(s.accounts * perAccount)} events`);
    const dir = makeTempDir('catch-up');
    try {
      await seedAndSettle(dir, accounts('acct-', s.accounts, perAccount), { snapshotEvery: 100, chunk: 20_000 });
      const rt = await startRuntime(dir);
      const feed = { maxClients: 10_000, ...(process.env.CATCHUP_FEED ? (JSON.parse(process.env.CATCHUP_FEED) as object) : {}) };
      const app = await buildServer({ runtime: rt, logger: false, dashboard: false, defaultMetrics: false, feed, security: BENCH_CLIENTS_FROM_ONE_ADDRESS });
      try {
        const url = (await app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws');
        const send = depositer(rt, accountIds(s.accounts));
        await runCount(s.accounts, 256, send);
        ctx.step(`${fmt(s.rate)} cmd/s with no client`);
        const before = await openLoop(s.rate, s.aloneSeconds * 1000, send);

        ctx.step(`${s.clients} clients catching up while ${fmt(s.rate)} cmd/s`);
        const heads = rt.partitions().map((p) => p.offset);
        const logEvents = heads.reduce((a, b) => a + b, 0);
        const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(CHILD), url, String(s.clients), heads.join('.')], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
        if (s.childNice) setPriority(child.pid!, s.childNice);
        const nextLine = lineReader(child);
        await nextLine(); // ready: loaded, no client connected yet
        let report: ChildReport | null = null;
        let childFailed: unknown = null;
        const reading = (async () => {
          for (;;) {
            const line = JSON.parse(await nextLine()) as Partial<ChildReport>;
            if (line.clients) return (report = line as ChildReport);
          }
        })().catch((err: unknown) => (childFailed = err));
        const cpu = process.cpuUsage();
        const t0 = performance.now();
        const loopDelay = monitorEventLoopDelay({ resolution: 5 });
        loopDelay.enable();
        child.stdin.write('go\n');
        const loaded = await loadUntil(s.rate, () => report !== null || childFailed !== null, s.capSeconds * 1000, send);
        loopDelay.disable();
        const used = process.cpuUsage(cpu);
        const serverCores = (used.user + used.system) / 1000 / (performance.now() - t0);
        child.kill();
        await reading;

        ctx.step(`${fmt(s.rate)} cmd/s with no client, again`);
        const after = await openLoop(s.rate, s.aloneSeconds * 1000, send);
        const alone = [...before.latenciesMs, ...after.latenciesMs];
        const aloneP99 = percentile(alone, 0.99);
        const p99 = percentile(loaded.latencies, 0.99);
        const r = report as ChildReport | null;
        const done = r ? r.clients.filter((c) => c.ms !== null) : [];
        const perClient = done.map((c) => (c.events / c.ms!) * 1000);
        const total = r && r.wallMs > 0 ? (done.reduce((n, c) => n + c.events, 0) / r.wallMs) * 1000 : 0;
        const bytes = done.reduce((n, c) => n + c.bytes, 0);
        const lost = r ? r.gaps + r.duplicates + (s.clients - done.length) : s.clients;
        ctx.figure(
          measured('feed.catchUp.p99', {
            value: p99,
            baseline: { name: 'no clients', value: aloneP99, unit: 'ms' },
            met: lost === 0 && p99 <= 2 * aloneP99,
            note:
              `${s.clients} clients from start on ${fmt(logEvents)} events${s.childNice ? ` (client process at nice ${s.childNice})` : ''}, Deposits offered at ${fmt(s.rate)}/s (open loop): ` +
              `p99 ${p99.toFixed(1)} ms over ${fmt(loaded.latencies.length)} commands in ${loaded.seconds.toFixed(0)} s${loaded.shed ? ` (${fmt(loaded.shed)} shed)` : ''} vs ${aloneP99.toFixed(1)} ms alone (before ${percentile(before.latenciesMs, 0.99).toFixed(1)}, after ${percentile(after.latenciesMs, 0.99).toFixed(1)}); p50 ${percentile(loaded.latencies, 0.5).toFixed(1)} vs ${percentile(alone, 0.5).toFixed(1)} ms; ` +
              (r
                ? `${done.length}/${s.clients} caught up in ${(r.wallMs / 1000).toFixed(1)} s, ${fmt(total)} events/s in total (${(bytes / 1e6 / (r.wallMs / 1000)).toFixed(0)} MB/s), per client median ${fmt(percentile(perClient, 0.5))} events/s (slowest ${fmt(percentile(perClient, 0))}); ${r.gaps} gaps, ${r.duplicates} duplicates, ${r.closed.length} closed before catching up, ${r.reconnects} reconnections after a 4008 (too slow); `
                : `clients did not finish within ${s.capSeconds} s${childFailed ? ` (${String(childFailed)})` : ''}; `) +
              `CPU: server process ${serverCores.toFixed(2)} cores, clients process ${r ? (r.cpuMs / 1000 / loaded.seconds).toFixed(2) : '?'}; server event-loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms`,
          }),
        );
      } finally {
        await app.close();
        await rt.close();
      }
    } finally {
      removeTempDir(dir);
    }
  },
};
