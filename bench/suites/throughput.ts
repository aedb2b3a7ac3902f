/**
 * Durable in-process command throughput: round-robin `Deposit`s over 10 000 accounts spread over every
 * partition, default options (`sync` durability, built-in views projected in the command transaction),
 * a closed loop of `WINDOW` concurrent callers after a warm-up that touches every account. Compared with
 * `raw-put` (the same envelopes put straight into LMDB from one thread), measured in interleaved rounds
 * so both see the same machine load; the figure is the median round. The latency figures follow on
 * the last round's warm runtime (latency.ts).
 *
 * Curves: the same load vs worker count (1 .. cores) and vs distinct aggregates (10 .. 1 000 000).
 */
import { availableParallelism } from 'node:os';
import { measured } from '../figures.js';
import { rawPut, rawPutWorkload } from '../baselines/raw-put.js';
import type { BenchContext, Suite } from '../support/context.js';
import { closedLoop, runCount } from '../support/drive.js';
import { tenThousandAccounts } from '../support/fixtures.js';
import { accountIds, depositer, PARTITIONS, seedAndSettle, startRuntime } from '../support/runtime.js';
import { median } from '../support/stats.js';
import { removeTempDir } from '../support/tmp.js';
import { latencyFigures, latencySteps } from './latency.js';

/** Concurrent callers. 1k-16k give the same rate within noise on this machine; 4k is mid-way. */
export const WINDOW = 4096;
const ACCOUNTS = 10_000;

interface Sizes {
  rounds: number;
  measureMs: number;
  rawPutEvents: number;
  curveMs: number;
  aggregates: number[];
}

const sizes = (quick: boolean): Sizes =>
  quick
    ? { rounds: 1, measureMs: 1000, rawPutEvents: 50_000, curveMs: 500, aggregates: [10, 1_000, 10_000] }
    : { rounds: 3, measureMs: 6000, rawPutEvents: 400_000, curveMs: 4000, aggregates: [10, 100, 1_000, 10_000, 100_000, 1_000_000] };

export const throughputSuite: Suite = {
  name: 'throughput',
  // Rounds, eleven latency points, the worker curve and seeding 1M accounts for the aggregates curve:
  // 8 min was not enough on a quiet box with one worker (the seed's view catch-up runs on one thread).
  fullTimeoutMs: 20 * 60_000,
  figures: ['throughput.durable', 'throughput.cpu', 'latency.1k.p99', 'latency.5k.p99', 'latency.half.p99', 'latency.half.p50'],
  steps: (quick) => {
    const s = sizes(quick);
    const cores = availableParallelism();
    return 1 + 2 * s.rounds + latencySteps(quick) + (quick ? s.aggregates.length - 1 + cores - 1 : cores + 1 + s.aggregates.length);
  },
  async run(ctx) {
    const s = sizes(ctx.quick);
    ctx.step(`seeding ${ACCOUNTS} accounts`);
    const dir = await tenThousandAccounts('throughput');
    try {
      await mainFigure(ctx, dir, s);
      await workerCurve(ctx, dir, s);
      await aggregateCurve(ctx, dir, s);
    } finally {
      removeTempDir(dir);
    }
  },
};

/** Warm-up: every account once (they hydrate), then a second of load. Quick mode: a token warm-up. */
async function warm(send: () => Promise<unknown>, accounts: number, quick: boolean): Promise<void> {
  await runCount(quick ? Math.min(accounts, 3000) : Math.min(accounts, 20_000), WINDOW, send);
  await closedLoop(quick ? 100 : 1000, WINDOW, send);
}

const points = { workers: [] as Array<[number, number]>, aggregates: [] as Array<[number, number]> };

async function mainFigure(ctx: BenchContext, dir: string, s: Sizes): Promise<void> {
  const workload = rawPutWorkload({ accounts: ACCOUNTS, events: s.rawPutEvents });
  const ids = accountIds(ACCOUNTS);
  const raw: number[] = [];
  const serialized: number[] = [];
  const cmd: number[] = [];
  // CPU time of the whole process (every thread, LMDB's writer included) per command / per put: unlike
  // rates, it hardly depends on what else the machine runs, so it is the figure to compare across runs.
  const cpuPerCmd: number[] = [];
  const cpuPerPut: number[] = [];
  let errors = 0;
  for (let r = 0; r < s.rounds; r++) {
    ctx.step(`raw-put round ${r + 1}/${s.rounds}`);
    const c0 = process.cpuUsage();
    const rp = await rawPut(workload, 'pipelined');
    raw.push(rp.rate);
    cpuPerPut.push(cpuMicros(process.cpuUsage(c0)) / rp.events);
    serialized.push((await rawPut(workload, 'serialized')).rate);
    ctx.step(`runtime round ${r + 1}/${s.rounds}`);
    const rt = await startRuntime(dir);
    try {
      const send = depositer(rt, ids);
      await warm(send, ACCOUNTS, ctx.quick);
      const c1 = process.cpuUsage();
      const res = await closedLoop(s.measureMs, WINDOW, send);
      cpuPerCmd.push(cpuMicros(process.cpuUsage(c1)) / Math.max(1, res.ops));
      errors += res.errors;
      if (res.errors) ctx.info(`throughput: ${res.errors} commands failed, first: ${res.firstError}`);
      cmd.push(res.rate);
      if (r === s.rounds - 1) {
        const value = median(cmd);
        ctx.figure(
          measured('throughput.durable', {
            value,
            baseline: { name: 'raw-put', value: median(raw), unit: 'events/s' },
            note:
              `${s.rounds} interleaved round(s) of ${s.measureMs / 1000} s, median (rounds: ${cmd.map(fmt).join(', ')}); ${WINDOW} callers; P=${PARTITIONS}, ${rt.workerCount} workers, default options; ` +
              `raw-put: pipelined 8192-put txns (flush-per-txn schedule: ${fmt(median(serialized))}/s); ` +
              `CPU (all threads): ${median(cpuPerCmd).toFixed(0)} us/command vs raw-put ${median(cpuPerPut).toFixed(1)} us/put` +
              (errors ? `; ${errors} errors` : ''),
          }),
        );
        ctx.figure(
          measured('throughput.cpu', {
            value: median(cpuPerCmd),
            baseline: { name: 'raw-put CPU per put', value: median(cpuPerPut), unit: 'us' },
            note: `process.cpuUsage() over each round's closed loop (every thread: main, workers, LMDB's write thread, GC) / commands; median of ${s.rounds} round(s): ${cpuPerCmd.map((c) => c.toFixed(0)).join(', ')} us`,
          }),
        );
        await latencyFigures(ctx, send, value);
        if (ctx.quick) {
          // Quick mode reuses this warm runtime for the aggregates curve (fewer start-ups).
          points.workers.push([rt.workerCount, value]);
          for (const k of s.aggregates) {
            if (k === ACCOUNTS) {
              points.aggregates.push([k, value]);
              continue;
            }
            ctx.step(`throughput over ${k} aggregates`);
            const sendK = depositer(rt, accountIds(k));
            points.aggregates.push([k, (await closedLoop(s.curveMs, WINDOW, sendK)).rate]);
          }
        }
      }
    } finally {
      await rt.close();
    }
  }
}

async function workerCurve(ctx: BenchContext, dir: string, s: Sizes): Promise<void> {
  const ids = accountIds(ACCOUNTS);
  for (let w = 1; w <= ctx.cores; w++) {
    if (points.workers.some((p) => p[0] === w)) continue;
    ctx.step(`throughput with ${w} worker(s)`);
    const rt = await startRuntime(dir, { workers: w });
    try {
      const send = depositer(rt, ids);
      await warm(send, ACCOUNTS, ctx.quick);
      points.workers.push([w, (await closedLoop(s.curveMs, WINDOW, send)).rate]);
    } finally {
      await rt.close();
    }
  }
  ctx.curve({
    id: 'throughput-vs-workers',
    title: `Durable Deposit throughput vs worker threads (${ACCOUNTS} accounts, ${ctx.cores} cores)`,
    xLabel: 'worker threads',
    yLabel: 'commands/s',
    series: [{ name: 'commands/s', points: points.workers.sort((a, b) => a[0] - b[0]) }],
  });
}

async function aggregateCurve(ctx: BenchContext, dir: string, s: Sizes): Promise<void> {
  if (!ctx.quick) {
    const max = Math.max(...s.aggregates);
    ctx.step(`seeding up to ${fmt(max)} accounts`);
    if (max > ACCOUNTS) {
      const more = (function* () {
        for (let i = ACCOUNTS; i < max; i++) yield { id: `acct-${i}`, events: 1 };
      })();
      await seedAndSettle(dir, more, { snapshotEvery: 100, chunk: 20_000 });
    }
    const rt = await startRuntime(dir);
    try {
      for (const k of s.aggregates) {
        ctx.step(`throughput over ${fmt(k)} aggregates`);
        const send = depositer(rt, accountIds(k));
        // Warm only what fits: above maxLiveActors (200k) or beyond what one run touches, commands
        // hit cold actors, which is what this end of the curve is about.
        await runCount(Math.min(k, 20_000), WINDOW, send);
        points.aggregates.push([k, (await closedLoop(s.curveMs, WINDOW, send)).rate]);
      }
    } finally {
      await rt.close();
    }
  }
  ctx.curve({
    id: 'throughput-vs-aggregates',
    title: 'Durable Deposit throughput vs distinct aggregates (round-robin)',
    xLabel: 'distinct aggregates',
    yLabel: 'commands/s',
    xLog: true,
    series: [{ name: 'commands/s', points: points.aggregates.sort((a, b) => a[0] - b[0]) }],
  });
}

function cpuMicros(u: NodeJS.CpuUsage): number {
  return u.user + u.system;
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
