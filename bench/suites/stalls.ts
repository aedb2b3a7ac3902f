/**
 * Stalls: where the commands slower than 20 ms come from. An open loop through `createRuntime` (the
 * latency suite's workload: round-robin Deposits over 10 000 warm accounts, the built-in views) at
 * 5 000 commands/s for 60 s (10 s quick), paced by due time, with the runtime's trace on
 * (`createRuntime({ trace: true })`, src/runtime/trace.ts). Every command whose latency from its due
 * time exceeds 20 ms is a stall, and each stall is laid over the spans every thread recorded meanwhile.
 *
 * Attribution (one cause per stall, `attribute` below):
 * - the spans overlapping the stall's wait [due, answered]; each scores the time of the wait it covers,
 *   less what spans nested in it on the same thread cover (a hydration inside a drain scores for
 *   itself, not for the drain; a GC inside either scores for the GC);
 * - the cause is the kind of the best-scoring span if that span covers at least half of the wait beyond
 *   the run's median latency (the part a normal command does not wait);
 * - otherwise a `loop-delay` span (a thread's event loop held without a recorded span) that covers as
 *   much names the thread and whether it was on a CPU (`loop-blocked`: work the trace does not know),
 *   waiting for one (`preempted`: the machine's other work), or neither (`off-cpu`: a lock or
 *   synchronous I/O);
 * - else `unattributed` (with the best candidate, for digging).
 *
 * The box: a sampler thread reads every thread's `/proc/self/task/<tid>/schedstat` (time on a CPU and
 * time runnable but waiting for one) every 20 ms; each stall reports the share of our threads' CPU
 * demand during its wait that went to waiting for a CPU, and the run reports the same for all of it.
 */
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { measured } from '../figures.js';
import type { BenchContext, Suite } from '../support/context.js';
import { runCount } from '../support/drive.js';
import { tenThousandAccounts } from '../support/fixtures.js';
import { accountIds, depositer, startRuntime } from '../support/runtime.js';
import { summarise } from '../support/stats.js';
import { removeTempDir } from '../support/tmp.js';
import type { Runtime, TraceSpan } from '../../src/runtime/index.js';

export const STALL_MS = 20;
const RATE = 5000;
const ACCOUNTS = 10_000;
/** How often the trace rings are emptied during the run (they hold 32k spans per thread). */
const COLLECT_MS = 1000;
const sizes = (quick: boolean) => ({ seconds: quick ? 10 : 60, settleMs: quick ? 500 : 2000 });

const now = (): number => performance.timeOrigin + performance.now();

export const stallsSuite: Suite = {
  name: 'stalls',
  figures: ['stalls.attributed'],
  steps: () => 3,
  async run(ctx) {
    const s = sizes(ctx.quick);
    ctx.step('copying the 10k-account data dir');
    const dir = await tenThousandAccounts('stalls');
    try {
      const rt = await startRuntime(dir, { trace: true });
      try {
        const send = depositer(rt, accountIds(ACCOUNTS));
        ctx.step('warm-up: every account once');
        await runCount(ACCOUNTS, 256, send);
        await openLoop(RATE, s.settleMs, send);
        ctx.step(`open loop at ${RATE} cmd/s for ${s.seconds} s, trace on`);
        const load0 = loadavg();
        const sampler = startSampler();
        const collector = collectSpans(rt);
        const cpu0 = process.cpuUsage();
        const t0 = now();
        const run = await openLoop(RATE, s.seconds * 1000, send);
        const wall = now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const box = await sampler.stop();
        const trace = await collector.stop();
        report(ctx, { run, trace, box, wallMs: wall, cpuMs: (cpu.user + cpu.system) / 1000, load: [load0, loadavg()], seconds: s.seconds });
      } finally {
        await rt.close();
      }
    } finally {
      removeTempDir(dir);
    }
  },
};

// ------------------------------------------------------------------ load

interface Timed {
  /** Epoch ms, one per answered command: when it was due, when it was answered. */
  due: Float64Array;
  done: Float64Array;
  n: number;
  shed: number;
  errors: number;
  firstError: string | null;
}

/**
 * support/drive.ts's open loop, keeping each command's due and answer times (on the trace's clock)
 * rather than only their difference: a 1 ms timer sends what is due, a command's latency runs from its
 * due time, and past a second's worth waiting, commands are shed (counted, never sent).
 */
async function openLoop(rate: number, durationMs: number, issue: () => Promise<unknown>): Promise<Timed> {
  const total = Math.max(1, Math.floor((rate * durationMs) / 1000));
  const out: Timed = { due: new Float64Array(total), done: new Float64Array(total), n: 0, shed: 0, errors: 0, firstError: null };
  const maxWaiting = Math.max(1000, rate);
  let due = 0;
  let waiting = 0;
  const inflight: Promise<void>[] = [];
  const t0 = now();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const upTo = Math.min(total, Math.floor(((now() - t0) * rate) / 1000) + 1);
      for (; due < upTo; due++) {
        if (waiting >= maxWaiting) {
          out.shed++;
          continue;
        }
        const dueAt = t0 + (due * 1000) / rate;
        waiting++;
        inflight.push(
          issue().then(
            () => {
              waiting--;
              out.due[out.n] = dueAt;
              out.done[out.n++] = now();
            },
            (err: unknown) => {
              waiting--;
              out.errors++;
              out.firstError ??= String((err as Error)?.message ?? err);
            },
          ),
        );
      }
      if (due >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(inflight);
  return out;
}

/** Empties the runtime's trace rings every COLLECT_MS (a span seen twice across collections counts once). */
function collectSpans(rt: Runtime): { stop(): Promise<{ spans: TraceSpan[]; dropped: number }> } {
  const seen = new Set<string>();
  const spans: TraceSpan[] = [];
  let dropped = 0;
  let since = now();
  const pull = async (): Promise<void> => {
    const asked = now();
    const got = await rt.traceSpans(since);
    since = asked - 50;
    dropped += got.dropped;
    for (const sp of got.spans) {
      const key = `${sp.thread}|${sp.kind}|${sp.start}|${sp.end}`;
      if (seen.has(key)) continue;
      seen.add(key);
      spans.push(sp);
    }
  };
  // Start from what the rings already hold (the settle phase), so the run's first stalls have their spans.
  since = 0;
  let busy: Promise<void> = pull();
  const timer = setInterval(() => void (busy = busy.then(pull)), COLLECT_MS);
  return {
    async stop() {
      clearInterval(timer);
      // GC entries reach their observer a turn later: let the last ones in.
      await new Promise((r) => setTimeout(r, 200));
      await busy.then(pull);
      return { spans: spans.sort((a, b) => a.start - b.start), dropped };
    },
  };
}

// ------------------------------------------------------------------ the box

/** Per sampler tick: the end of its interval (epoch ms), and our threads' time on a CPU / waiting for one in it. */
interface BoxSample {
  t: number;
  cpuMs: number;
  runqMs: number;
}

/**
 * A thread of its own (so it samples while the main thread stalls) reading every thread's schedstat
 * every 20 ms through descriptors opened once; its own thread is left out.
 */
function startSampler(): { stop(): Promise<BoxSample[]> } {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const fs = require('node:fs');
    const self = fs.readlinkSync('/proc/thread-self').split('/').pop();
    const fds = new Map(), last = new Map(), out = [];
    const buf = Buffer.alloc(128);
    const list = () => { try { for (const tid of fs.readdirSync('/proc/self/task')) if (tid !== self && !fds.has(tid)) fds.set(tid, fs.openSync('/proc/self/task/' + tid + '/schedstat', 'r')); } catch {} };
    const tick = () => {
      let cpu = 0, runq = 0;
      for (const [tid, fd] of fds) {
        let text;
        try { text = buf.toString('latin1', 0, fs.readSync(fd, buf, 0, 128, 0)); } catch { fs.closeSync(fd); fds.delete(tid); last.delete(tid); continue; }
        const [c, r] = text.split(' ').map(Number);
        const p = last.get(tid);
        if (p) { cpu += (c - p[0]) / 1e6; runq += (r - p[1]) / 1e6; }
        last.set(tid, [c, r]);
      }
      out.push(performance.timeOrigin + performance.now(), cpu, runq);
    };
    list(); tick();
    let n = 0;
    const timer = setInterval(() => { if (++n % 25 === 0) list(); tick(); }, 20);
    parentPort.on('message', () => { clearInterval(timer); tick(); parentPort.postMessage(out); });
  `;
  const w = new Worker(code, { eval: true });
  return {
    stop: () =>
      new Promise<BoxSample[]>((resolve, reject) => {
        w.once('error', reject);
        w.once('message', (flat: number[]) => {
          const samples: BoxSample[] = [];
          // The first tick only primes each thread's counters.
          for (let i = 3; i < flat.length; i += 3) samples.push({ t: flat[i]!, cpuMs: flat[i + 1]!, runqMs: flat[i + 2]! });
          void w.terminate();
          resolve(samples);
        });
        w.postMessage('stop');
      }),
  };
}

/** Our threads' CPU time and run-queue wait within [from, to] (samples weighted by their overlap). */
function boxDuring(samples: readonly BoxSample[], from: number, to: number): { cpuMs: number; runqMs: number } {
  let cpuMs = 0;
  let runqMs = 0;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!.t;
    const b = samples[i]!.t;
    if (b <= from) continue;
    if (a >= to) break;
    const f = (Math.min(b, to) - Math.max(a, from)) / (b - a);
    cpuMs += f * samples[i]!.cpuMs;
    runqMs += f * samples[i]!.runqMs;
  }
  return { cpuMs, runqMs };
}

// ------------------------------------------------------------------ attribution

export interface Stall {
  due: number;
  done: number;
  latencyMs: number;
  cause: string;
  /** The span that was chosen (or the best candidate of an unattributed stall). */
  span: TraceSpan | null;
  /** ms of the wait it covers (nested spans excluded). */
  coveredMs: number;
  /** Share of our threads' CPU demand during the wait spent waiting for a CPU (0..1; NaN without samples). */
  boxShare: number;
}

/** Kinds that are symptoms (a thread held), not work: they explain only when no work span does. */
const SYMPTOM = 'loop-delay';
/** Kinds that do not occupy their thread (the wait for the disk while the thread decides on). */
const ASYNC = new Set(['flush']);

/** Spans grouped by the lane they occupy: a thread's own work, its async waits, its loop probe. */
function laneOf(s: TraceSpan): string {
  return s.kind === SYMPTOM ? `${s.thread}/loop` : ASYNC.has(s.kind) ? `${s.thread}/io` : s.thread;
}

const overlap = (s: { start: number; end: number }, from: number, to: number): number => Math.max(0, Math.min(s.end, to) - Math.max(s.start, from));

/**
 * Picks one cause for a stall (see the header). `spans` sorted by start; `startIdx` a lower bound for
 * the first span that may overlap (spans start at most `maxSpanMs` before they end).
 */
export function attribute(spans: readonly TraceSpan[], from: number, to: number, medianMs: number, maxSpanMs: number): { cause: string; span: TraceSpan | null; coveredMs: number } {
  const candidates: TraceSpan[] = [];
  let lo = 0;
  let hi = spans.length;
  // first span with start >= from - maxSpanMs
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (spans[mid]!.start < from - maxSpanMs) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < spans.length && spans[i]!.start < to; i++) if (overlap(spans[i]!, from, to) > 0) candidates.push(spans[i]!);
  const need = 0.5 * Math.max(0, to - from - medianMs);
  let best: TraceSpan | null = null;
  let bestScore = 0;
  let bestSymptom: TraceSpan | null = null;
  let symptomScore = 0;
  for (const s of candidates) {
    const lane = laneOf(s);
    // What it covers, less what spans nested in it (same lane, inside it) cover.
    const nested: Array<[number, number]> = [];
    for (const c of candidates) {
      if (c !== s && laneOf(c) === lane && c.start >= s.start && c.end <= s.end && (c.start > s.start || c.end < s.end)) nested.push([Math.max(c.start, from), Math.min(c.end, to)]);
    }
    const score = overlap(s, from, to) - unionMs(nested);
    if (s.kind === SYMPTOM) {
      if (score > symptomScore) [bestSymptom, symptomScore] = [s, score];
    } else if (score > bestScore) [best, bestScore] = [s, score];
  }
  if (best && bestScore >= need) return { cause: best.kind, span: best, coveredMs: bestScore };
  if (bestSymptom && symptomScore >= need) return { cause: loopCause(bestSymptom), span: bestSymptom, coveredMs: symptomScore };
  const fallback = bestScore >= symptomScore ? best : bestSymptom;
  return { cause: 'unattributed', span: fallback, coveredMs: Math.max(bestScore, symptomScore) };
}

/** The length of a union of intervals. */
function unionMs(intervals: Array<[number, number]>): number {
  intervals.sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  for (const [a, b] of intervals) {
    if (b <= end) continue;
    total += b - Math.max(a, end);
    end = b;
  }
  return total;
}

/** What held a thread's event loop when no span says: its own unrecorded work, the machine, or a wait. */
function loopCause(s: TraceSpan): string {
  const cpu = s.cpuMs ?? -1;
  const runq = s.runqMs ?? -1;
  if (cpu < 0 || runq < 0) return `loop-delay (${s.thread})`;
  const len = s.end - s.start;
  if (runq >= cpu && runq >= 0.3 * len) return `preempted (${s.thread})`;
  if (cpu >= 0.3 * len) return `loop-blocked (${s.thread})`;
  return `off-cpu (${s.thread})`;
}

// ------------------------------------------------------------------ report

interface Outcome {
  run: Timed;
  trace: { spans: TraceSpan[]; dropped: number };
  box: BoxSample[];
  wallMs: number;
  cpuMs: number;
  load: number[][];
  seconds: number;
}

function report(ctx: BenchContext, o: Outcome): void {
  const { run, trace } = o;
  const lat = new Float64Array(run.n);
  for (let i = 0; i < run.n; i++) lat[i] = run.done[i]! - run.due[i]!;
  const l = summarise(lat);
  const maxSpanMs = trace.spans.reduce((m, s) => Math.max(m, s.end - s.start), 0);
  const stalls: Stall[] = [];
  for (let i = 0; i < run.n; i++) {
    if (lat[i]! <= STALL_MS) continue;
    const a = attribute(trace.spans, run.due[i]!, run.done[i]!, l.p50, maxSpanMs);
    const b = boxDuring(o.box, run.due[i]!, run.done[i]!);
    stalls.push({ due: run.due[i]!, done: run.done[i]!, latencyMs: lat[i]!, ...a, boxShare: b.cpuMs + b.runqMs > 0 ? b.runqMs / (b.cpuMs + b.runqMs) : Number.NaN });
  }
  /** Per cause: stalls, and of them those whose wait our threads spent mostly waiting for a CPU. */
  const byCause = new Map<string, { n: number; box: number }>();
  for (const s of stalls) {
    const c = byCause.get(s.cause) ?? { n: 0, box: 0 };
    c.n++;
    if (s.boxShare > 0.5) c.box++;
    byCause.set(s.cause, c);
  }
  const attributed = stalls.filter((s) => s.cause !== 'unattributed').length;
  const boxBound = stalls.filter((s) => s.boxShare > 0.5).length;
  const all = boxDuring(o.box, -Infinity, Infinity);
  const pct = (n: number, of: number): string => `${of ? ((100 * n) / of).toFixed(1) : '0'} %`;
  const table = [...byCause].sort((a, b) => b[1].n - a[1].n).map(([k, c]) => `${k} ${c.n} (${pct(c.n, stalls.length)}; ${c.box} box-bound)`);
  const worst = [...stalls].sort((a, b) => b.latencyMs - a.latencyMs).slice(0, 5).map(describe);
  const spanKinds = new Map<string, number>();
  for (const s of trace.spans) spanKinds.set(s.kind, (spanKinds.get(s.kind) ?? 0) + 1);

  ctx.info(`stalls: ${stalls.length} commands over ${STALL_MS} ms of ${run.n} (${pct(stalls.length, run.n)}); attributed ${attributed} (${pct(attributed, stalls.length)})`);
  ctx.info(`stalls by cause: ${table.join('; ') || 'none'}`);
  for (const w of worst) ctx.info(`  worst: ${w}`);
  ctx.info(`stalls: latency p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms; ${trace.spans.length} spans (${[...spanKinds].map(([k, n]) => `${k} ${n}`).join(', ')}), dropped ${trace.dropped}`);
  ctx.info(`stalls: box: our threads waited ${all.runqMs.toFixed(0)} ms for a CPU and ran ${all.cpuMs.toFixed(0)} ms (${pct(all.runqMs, all.runqMs + all.cpuMs)} of their demand); stalls whose wait was mostly waiting for a CPU: ${boxBound}; load average ${o.load[0]!.map((x) => x.toFixed(1)).join('/')} -> ${o.load[1]!.map((x) => x.toFixed(1)).join('/')}`);
  if (process.env.STALLS_OUT) {
    void import('node:fs').then((fs) => fs.writeFileSync(process.env.STALLS_OUT!, JSON.stringify({ stalls, latency: l, byCause: Object.fromEntries(byCause), box: all, spans: spanKinds.size ? Object.fromEntries(spanKinds) : {} }, null, 1)));
  }

  const value = stalls.length ? (100 * attributed) / stalls.length : 100;
  ctx.figure(
    measured('stalls.attributed', {
      value,
      note:
        `attributed ${attributed} of ${stalls.length} stalls (commands over ${STALL_MS} ms from their due time) of ${run.n} commands; open loop ${RATE} cmd/s for ${o.seconds} s through createRuntime (trace on), 10k accounts` +
        `${run.shed ? `, ${run.shed} shed` : ''}${run.errors ? `, ${run.errors} errors: ${run.firstError}` : ''}; ` +
        `by cause: ${table.join(', ') || 'none'}; latency p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms; ` +
        `worst: ${worst.slice(0, 3).join(' | ') || '-'}; ` +
        `box: our threads' CPU demand ${pct(all.runqMs, all.runqMs + all.cpuMs)} waiting for a CPU, ${boxBound} stalls mostly so; process CPU ${(o.cpuMs / o.wallMs).toFixed(2)} cores; load ${o.load[0]![0]!.toFixed(1)} -> ${o.load[1]![0]!.toFixed(1)}` +
        (trace.dropped ? `; ${trace.dropped} spans dropped` : ''),
    }),
  );
}

function describe(s: Stall): string {
  const sp = s.span;
  const what = sp ? `${sp.kind} on ${sp.thread} ${(sp.end - sp.start).toFixed(1)} ms${sp.kind === SYMPTOM ? ` (cpu ${sp.cpuMs?.toFixed(1)}, runq ${sp.runqMs?.toFixed(1)})` : sp.count ? ` (n=${sp.count})` : ''}` : 'no span';
  return `${s.latencyMs.toFixed(1)} ms: ${s.cause} [${what}, covers ${s.coveredMs.toFixed(1)} ms; box ${Number.isNaN(s.boxShare) ? '-' : `${(100 * s.boxShare).toFixed(0)} %`}]`;
}
