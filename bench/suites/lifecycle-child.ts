/**
 * Child process of the lifecycle suite: one runtime (LMDB, default options but the meter domain) in a
 * fresh process, the measured process. It ingests `events` readings into one meter stream (`RecordMany`
 * of 1 000, one command at a time) while an open loop of single `Record` commands at `rate` cmd/s over
 * `meters` other meters measures each command's latency from its due time. With `keep`, the big stream
 * has `maxCount: keep` and the background scavenge runs every `everyMs`. One JSON line out.
 *
 * The open loop runs in this process, as in the latency and stalls suites: the commands are in-process
 * (`runtime.execute`), so their caller lives with the runtime; the bench's own process only orchestrates.
 *
 * The scavenge's LMDB steps are timed by wrapping the main-thread log's `removeStreamPrefix` and
 * `trimPartition` (the scavenge calls them through that object); passes are counted by polling
 * `runtime.lastScavenge` every 5 ms (a pass's wall time is then known to within 5 ms).
 */
import { statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { builtinDomains, createRuntime, type ScavengeReport } from '../../src/runtime/index.js';
import { openLoopUntil, runCount } from '../support/drive.js';
import { meterDomain } from '../support/meter-domain.js';
import { summarise } from '../support/stats.js';

export interface LifecycleArgs {
  dir: string;
  events: number;
  rate: number;
  meters: number;
  sampleEvery: number;
  /** maxCount of the big stream; null: no retention (the baseline). */
  keep: number | null;
  /** scavengeEveryMs; null: the default. */
  everyMs: number | null;
  /**
   * Probes only (not the suite): instead of the background schedule, this process runs the passes,
   * each `everyMs` after the previous one ended (no queue), with `budget` removals per step.
   */
  ownLoop?: { budget?: number };
}

export interface LifecycleSample {
  events: number;
  logBytes: number;
  atS: number;
  /** p99 of the load's commands answered since the previous sample (ms). */
  p99: number;
}

export interface StepTimes {
  count: number;
  /** From the call to its answer (the transaction committed and flushed). */
  wallMs: number;
  maxMs: number;
  /** The part on the main thread before the call returned (reading what to remove, staging the puts). */
  syncMs: number;
  syncMaxMs: number;
}

export interface LifecycleReport {
  ingestS: number;
  load: { sent: number; answered: number; shed: number; errors: number; firstError: string | null; p50: number; p99: number; max: number; mean: number };
  logBytesStart: number;
  logBytesEnd: number;
  samples: LifecycleSample[];
  streamStart: number;
  /** Passes seen to end (by the 5 ms poll), and the ticks of the background timer meanwhile. */
  passes: number;
  ticks: number;
  /** Passes asked for before the last one seen had started: the timer's queue at its longest. */
  maxQueued: number;
  passWallMs: number;
  passMaxMs: number;
  passEvents: number;
  /** The scavenge's LMDB steps by kind (a stream's prefix; a partition's index, most of them no-ops here). */
  steps: { removeStreamPrefix: StepTimes; trimPartition: StepTimes };
  lastReport: ScavengeReport | null;
  lastError: string | null;
  cpuUs: number;
  loadavg: { before: number[]; after: number[] };
}

const a = JSON.parse(process.argv[2] ?? '') as LifecycleArgs;
const PER_COMMAND = 1_000;
const load0 = loadavg();
const createdAt = Date.now();
const rt = await createRuntime({ dataDir: a.dir, domains: [...builtinDomains, meterDomain], ...(a.ownLoop ? { scavengeEveryMs: 0 } : a.everyMs !== null ? { scavengeEveryMs: a.everyMs } : {}) });
const logFile = join(a.dir, 'log.mdb');
const size = (): number => statSync(logFile).size;

// The scavenge's steps: wall time to the step's answer, and the part spent on this thread before it returned.
const newSteps = (): StepTimes => ({ count: 0, wallMs: 0, maxMs: 0, syncMs: 0, syncMaxMs: 0 });
const stepsOf = { removeStreamPrefix: newSteps(), trimPartition: newSteps() };
const log = rt.log as unknown as Record<'removeStreamPrefix' | 'trimPartition', (...args: unknown[]) => Promise<unknown>>;
for (const name of ['removeStreamPrefix', 'trimPartition'] as const) {
  const original = log[name].bind(log);
  const steps = stepsOf[name];
  log[name] = (...args: unknown[]) => {
    const t0 = performance.now();
    const p = original(...args);
    const sync = performance.now() - t0;
    steps.syncMs += sync;
    steps.syncMaxMs = Math.max(steps.syncMaxMs, sync);
    return p.finally(() => {
      const ms = performance.now() - t0;
      steps.count++;
      steps.wallMs += ms;
      steps.maxMs = Math.max(steps.maxMs, ms);
    });
  };
}
let passes = 0;
let passWallMs = 0;
let passMaxMs = 0;
let passEvents = 0;
let seenAt: number | null = null;
let lastDone = 0;
let maxQueued = 0;
let lastReport: ScavengeReport | null = null;
let lastError: string | null = null;
const poll = setInterval(() => {
  const last = rt.lastScavenge;
  if (!last || last.at === seenAt) return;
  seenAt = last.at;
  passes++;
  // A pass asked for while one runs starts once it ends (Scavenger.run chains them): its own time runs
  // from the later of its request and the previous pass's end. The runtime's clock is the system clock.
  const now = Date.now();
  const ms = now - Math.max(last.at, lastDone);
  lastDone = now;
  passWallMs += ms;
  // How far behind the timer the pass ran: the ticks between its request and its start.
  if (a.everyMs) maxQueued = Math.max(maxQueued, Math.floor((now - ms - last.at) / a.everyMs));
  passMaxMs = Math.max(passMaxMs, ms);
  if ('report' in last) {
    passEvents += last.report.events;
    lastReport = last.report;
  } else lastError = last.error;
}, 5);

try {
  if (a.keep !== null) await rt.setRetention({ aggregateType: 'meter', id: 'big' }, { maxCount: a.keep });
  const meters = Array.from({ length: a.meters }, (_, i) => `m-${i}`);
  let next = 0;
  const record = (): Promise<unknown> => rt.execute('meter', meters[next++ % meters.length]!, { type: 'Record', data: { value: 1 } });
  // Every load meter once (its actor and first events exist), so the run measures warm commands.
  const warm = await runCount(a.meters, 64, record);
  if (warm.errors) throw new Error(`warm-up: ${warm.firstError}`);
  await new Promise((r) => setTimeout(r, 500));

  const values = Array.from({ length: PER_COMMAND }, (_, i) => i % 1000);
  const logBytesStart = size();
  const samples: { events: number; logBytes: number; atMs: number }[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ingest = (async () => {
    for (let n = 0; n < a.events; ) {
      await rt.execute('meter', 'big', { type: 'RecordMany', data: { values } });
      n += PER_COMMAND;
      if (n % a.sampleEvery === 0 || n >= a.events) samples.push({ events: n, logBytes: size(), atMs: performance.now() - t0 });
    }
    return (performance.now() - t0) / 1000;
  })();
  let ingesting = true;
  void ingest.finally(() => (ingesting = false));
  const own = a.ownLoop
    ? (async () => {
        while (ingesting) {
          await new Promise((r) => setTimeout(r, a.everyMs ?? 200));
          await rt.scavenge(a.ownLoop!.budget !== undefined ? { budget: a.ownLoop!.budget } : {});
        }
      })()
    : Promise.resolve();
  const run = await openLoopUntil(a.rate, ingest, record);
  await own;
  const ingestS = await ingest;
  const cpu = process.cpuUsage(cpu0);
  const logBytesEnd = size();
  const l = summarise(run.latenciesMs);
  // Per sample: the p99 of the commands answered since the previous one (the load's t0 is the ingest's, within a tick).
  let from = 0;
  const withP99: LifecycleSample[] = samples.map((s) => {
    const window = run.latenciesMs.filter((_, i) => run.answeredAtMs[i]! > from && run.answeredAtMs[i]! <= s.atMs);
    from = s.atMs;
    return { events: s.events, logBytes: s.logBytes, atS: s.atMs / 1000, p99: summarise(window).p99 };
  });
  // Let a pass that was running finish (and the poll see it) before the last figures.
  await new Promise((r) => setTimeout(r, 20));
  const report: LifecycleReport = {
    ingestS,
    load: { sent: run.sent, answered: run.latenciesMs.length, shed: run.shed, errors: run.errors, firstError: run.firstError, p50: l.p50, p99: l.p99, max: l.max, mean: l.mean },
    logBytesStart,
    logBytesEnd,
    samples: withP99,
    streamStart: rt.log.streamStart('meter', 'big'),
    passes,
    ticks: a.everyMs ? Math.floor((Date.now() - createdAt) / a.everyMs) : 0,
    maxQueued,
    passWallMs,
    passMaxMs,
    passEvents,
    steps: stepsOf,
    lastReport,
    lastError,
    cpuUs: cpu.user + cpu.system,
    loadavg: { before: load0, after: loadavg() },
  };
  console.log(JSON.stringify(report));
} finally {
  clearInterval(poll);
  await rt.close();
}
