/**
 * A quick, repeatable look at durable command throughput and CPU per command, for profiling changes
 * to the command path without running the whole suite:
 *
 *   node --import tsx bench/tools/throughput-probe.ts [seconds=5] [accounts=10000]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/tools/throughput-probe.ts
 *   PROBE_RATE=15000 node --import tsx bench/tools/throughput-probe.ts   (open loop: latency at that rate;
 *     PROBE_RATE=24000,1000: one after the other)
 *   PROBE_RATE=1000 PROBE_CLOSED=0 node --cpu-prof ...   (the open loop only: a profile of small drains)
 *   PROBE_MAIN_PROFILE=/tmp/main.cpuprofile node --import tsx bench/tools/throughput-probe.ts
 *     (the main thread only, during the measured window only: no seeding, no start-up)
 *
 * Same workload as the throughput figure (round-robin Deposits, 4096 callers, default options).
 */
import { cpuUsage } from 'node:process';
import { closedLoop, openLoop, runCount } from '../support/drive.js';
import { summarise } from '../support/stats.js';
import { tenThousandAccounts } from '../support/fixtures.js';
import { accountIds, depositer, startRuntime } from '../support/runtime.js';
import { profileMainThread } from '../support/main-profile.js';
import { removeTempDir } from '../support/tmp.js';
import { perOperation, threadTicks } from '../support/threads.js';

const seconds = Number(process.argv[2] ?? 5);
const accounts = Number(process.argv[3] ?? 10_000);
/** Concurrent callers (PROBE_WINDOW=1: one command at a time, i.e. one per drain: the fixed cost of a batch). */
const window = Number(process.env['PROBE_WINDOW'] ?? 4096);
const dir = await tenThousandAccounts('probe');
// PROBE_WORKERS: actor workers (default: the runtime's, one per core).
const rt = await startRuntime(dir, process.env['PROBE_WORKERS'] ? { workers: Number(process.env['PROBE_WORKERS']) } : {});
const send = depositer(rt, accountIds(accounts));
try {
  await runCount(accounts, 4096, send);
  await closedLoop(1000, 4096, send);
  // PROBE_RATE=24000,1000: open loops one after the other (what a phase leaves behind shows in the next).
  for (const rate of (process.env['PROBE_RATE'] ?? '').split(',').map(Number).filter((r) => r > 0)) {
    const c0 = cpuUsage();
    const t0 = threadTicks();
    const commits0 = await commits();
    const l = summarise((await openLoop(rate, seconds * 1000, send)).latenciesMs);
    const c = cpuUsage(c0);
    const drains = (await commits()) - commits0;
    console.log(`${drains} commits (${(l.n / Math.max(1, drains)).toFixed(1)} commands each)`);
    console.log(`open loop ${rate}/s: p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms (${l.n} commands), ${((c.user + c.system) / Math.max(1, l.n)).toFixed(1)} us CPU/command (user ${(c.user / Math.max(1, l.n)).toFixed(1)}, sys ${(c.system / Math.max(1, l.n)).toFixed(1)})`);
    console.log(perOperation(t0, threadTicks(), l.n));
  }
  if (process.env['PROBE_CLOSED'] !== '0') await measureClosedLoop();
} finally {
  await rt.close();
  removeTempDir(dir);
}

async function commits(): Promise<number> {
  return (await rt.stats()).reduce((n, st) => n + st.batchesCommitted, 0);
}

async function measureClosedLoop(): Promise<void> {
  const stopProfile = await profileMainThread(process.env['PROBE_MAIN_PROFILE']);
  const commits0 = await commits();
  const cpu0 = cpuUsage();
  const ticks0 = threadTicks();
  const r = await closedLoop(seconds * 1000, window, send);
  const cpu = cpuUsage(cpu0);
  const ticks1 = threadTicks();
  const batches = (await commits()) - commits0;
  await stopProfile();
  const n = r.ops;
  console.log(`${Math.round(r.rate)} cmd/s, ${((cpu.user + cpu.system) / n).toFixed(1)} us CPU/command (user ${(cpu.user / n).toFixed(1)}, sys ${(cpu.system / n).toFixed(1)}), ${r.errors} errors; ${batches} commits (${(n / Math.max(batches, 1)).toFixed(0)} commands each)`);
  console.log(perOperation(ticks0, ticks1, n));
}
