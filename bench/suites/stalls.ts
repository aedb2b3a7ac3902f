/**
 * Stalls: where the commands slower than 20 ms come from. An open loop through `createRuntime` (the
 * latency suite's workload: round-robin Deposits over 10 000 warm accounts, the built-in views) at
 * 5 000 commands/s for 60 s (10 s quick), paced by due time, with the runtime's trace on
 * (`createRuntime({ trace: true })`, src/runtime/trace.ts). Every command whose latency from its due
 * time exceeds 20 ms is a stall, and each stall is laid over the spans every thread recorded meanwhile.
 *
 * Attribution (one cause per stall, `attribute` below), over the threads the command went through: the
 * main thread and the worker that owns its aggregate:
 * - each thread's timeline is cut into pieces, each piece belonging to the innermost span over it (a
 *   hydration inside a drain counts for the hydration, a GC inside either for the GC); a `flush` (the
 *   wait for the disk, while the thread decides on) is a lane of its own;
 * - per kind, the time of the stall's wait [due, answered] its pieces cover (a union: the same moment
 *   counts once). Per kind, not per span: with two batches in flight a command can wait for two
 *   flushes in a row, each shorter than the stall;
 * - the cause is the kind covering most, if it covers at least half of the wait beyond the run's median
 *   latency (the part a normal command does not wait) and at least 2 ms;
 * - otherwise a `loop-delay` span (a thread's event loop held while no span was open) that covers as
 *   much names the thread and whether it was on a CPU (`loop-blocked`: work the trace does not know),
 *   waiting for one (`preempted`: the machine's other work), or neither (`off-cpu`: a lock or
 *   synchronous I/O);
 * - otherwise the two causes covering most, if together they cover as much (`flush + preempted (...)`:
 *   a wait made of two pauses in a row);
 * - else `unattributed` (with the kind that covered most, for digging).
 *
 * The measurement runs in a child process (stalls-child.ts; `STALLS_PROF=<dir>` profiles it with
 * `--cpu-prof`), the bench's process only copies the data dir and passes the figure on. Exploring:
 * `STALLS_MS` and `STALLS_RATE` (below), `STALLS_OUT=<file>` keeps the worst stalls as JSON.
 *
 * The box: a sampler thread reads every thread's `/proc/self/task/<tid>/schedstat` (time on a CPU and
 * time runnable but waiting for one) every 20 ms; each stall reports the share of our threads' CPU
 * demand during its wait that went to waiting for a CPU, and the run reports the same for all of it.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { measured, type Figure } from '../figures.js';
import { runChild } from '../support/child.js';
import type { BenchContext, Suite } from '../support/context.js';
import { runCount } from '../support/drive.js';
import { tenThousandAccounts } from '../support/fixtures.js';
import { accountIds, depositer, startRuntime } from '../support/runtime.js';
import { partitionOf } from '../../src/partition/index.js';
import { summarise } from '../support/stats.js';
import { removeTempDir } from '../support/tmp.js';
import type { Runtime, TraceSpan } from '../../src/runtime/index.js';

/** STALLS_MS / STALLS_RATE override the threshold and the rate, for exploring smaller tails (the figure's are 20 ms at 5 000/s). */
export const STALL_MS = Number(process.env.STALLS_MS ?? 20);
const RATE = Number(process.env.STALLS_RATE ?? 5000);
const ACCOUNTS = 10_000;
/** The kind of the spans the suite records for its own trace collection on the main thread. */
const COLLECT = 'trace-collect (bench)' as TraceSpan['kind'];
/** How often the trace rings are emptied during the run (they hold 32k spans per thread); smaller pulls hold the main thread for less at a time. */
const COLLECT_MS = 250;
const sizes = (quick: boolean) => ({ seconds: quick ? 10 : 60, settleMs: quick ? 500 : 2000 });

const now = (): number => performance.timeOrigin + performance.now();

export const stallsSuite: Suite = {
  name: 'stalls',
  figures: ['stalls.attributed'],
  steps: () => 2,
  async run(ctx) {
    ctx.step('copying the 10k-account data dir');
    const dir = await tenThousandAccounts('stalls');
    try {
      const s = sizes(ctx.quick);
      ctx.step(`in a child process: warm-up, then an open loop at ${RATE} cmd/s for ${s.seconds} s, trace on`);
      const args: StallsArgs = { dir, quick: ctx.quick };
      const prof = process.env.STALLS_PROF;
      const { result } = await runChild<StallsOut>(CHILD, [JSON.stringify(args)], prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []);
      for (const m of result.infos) ctx.info(m);
      for (const f of result.figures) ctx.figure(f);
    } finally {
      removeTempDir(dir);
    }
  },
};

/** What the child is given, and what it prints (one JSON line). */
export interface StallsArgs {
  dir: string;
  quick: boolean;
}
export interface StallsOut {
  infos: string[];
  figures: Figure[];
}

const CHILD = new URL('./stalls-child.ts', import.meta.url);

/**
 * The measurement, in a process of its own (stalls-child.ts): run in the bench's process after the other
 * suites, it shared their heap, whose GC landed in the stalls it measured.
 */
export async function measureStalls(args: StallsArgs): Promise<StallsOut> {
  const out: StallsOut = { infos: [], figures: [] };
  const sink = { info: (m: string) => void out.infos.push(m), figure: (f: Figure) => void out.figures.push(f) };
  const s = sizes(args.quick);
  const rt = await startRuntime(args.dir, { trace: true });
  try {
    const send = depositer(rt, accountIds(ACCOUNTS));
    // Warm-up: every account once.
    await runCount(ACCOUNTS, 256, send);
    await openLoop(RATE, s.settleMs, send);
    const load0 = loadavg();
    const sampler = await startSampler();
    const collector = collectSpans(rt);
    const cpu0 = process.cpuUsage();
    const t0 = now();
    // The same round-robin as `send`, remembering each command's worker (its spans are the ones that matter).
    const ids = accountIds(ACCOUNTS);
    const workerOfId = ids.map((id) => rt.workerOf(partitionOf(id, rt.partitionCount)));
    let next = 0;
    const run = await openLoop(RATE, s.seconds * 1000, () => {
      const k = next++ % ids.length;
      return rt.execute('account', ids[k]!, { type: 'Deposit', data: { amount: 1 } }).then(() => workerOfId[k]!);
    });
    const wall = now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const box = await sampler.stop();
    const trace = await collector.stop();
    report(sink, { run, trace, box, wallMs: wall, cpuMs: (cpu.user + cpu.system) / 1000, load: [load0, loadavg()], seconds: s.seconds });
  } finally {
    await rt.close();
  }
  return out;
}

// ------------------------------------------------------------------ load

interface Timed {
  /** Epoch ms, one per answered command: when it was due, when it was answered; its worker (-1: unknown). */
  due: Float64Array;
  done: Float64Array;
  worker: Int16Array;
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
  const out: Timed = { due: new Float64Array(total), done: new Float64Array(total), worker: new Int16Array(total), n: 0, shed: 0, errors: 0, firstError: null };
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
            (worker) => {
              waiting--;
              out.worker[out.n] = typeof worker === 'number' ? worker : -1;
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
  // Only the keys the next pull can return again (it asks from 50 ms before this one: spans ending after
  // that): a set of every span of the run grew to hundreds of thousands of strings on the measured main
  // thread, and its GC showed up in the stalls it was measuring.
  let seen = new Set<string>();
  const spans: TraceSpan[] = [];
  let dropped = 0;
  let since = now();
  const pull = async (): Promise<void> => {
    const asked = now();
    const pending = rt.traceSpans(since);
    // The collection's own work on the main thread (copying the main ring; sorting out what it got) is a
    // span of its own, so a stall it causes is put down to the measurement, not to the runtime.
    spans.push({ thread: 'main', kind: COLLECT, start: asked, end: now(), count: 0 });
    const got = await pending;
    const t1 = now();
    since = asked - 50;
    dropped += got.dropped;
    const next = new Set<string>();
    for (const sp of got.spans) {
      const key = `${sp.thread}|${sp.kind}|${sp.start}|${sp.end}`;
      if (sp.end > since) next.add(key);
      if (seen.has(key)) continue;
      spans.push(sp);
    }
    seen = next;
    spans.push({ thread: 'main', kind: COLLECT, start: t1, end: now(), count: got.spans.length });
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
async function startSampler(): Promise<{ stop(): Promise<BoxSample[]> }> {
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
    parentPort.postMessage('ready');
    let n = 0;
    const timer = setInterval(() => { if (++n % 25 === 0) list(); tick(); }, 20);
    parentPort.on('message', () => { clearInterval(timer); tick(); parentPort.postMessage(out); });
  `;
  const w = new Worker(code, { eval: true });
  // Sampling from the run's first moment: its first stalls are often its worst.
  await new Promise((resolve, reject) => w.once('message', resolve).once('error', reject));
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
const ASYNC = new Set(['flush', 'log-commit', 'fsync']);

/** Spans grouped by the lane they occupy: a thread's own work, its async waits, its loop probe. */
function laneOf(s: TraceSpan): string {
  return s.kind === SYMPTOM ? `${s.thread}/loop` : ASYNC.has(s.kind) ? `${s.thread}/io` : s.thread;
}

const overlap = (s: { start: number; end: number }, from: number, to: number): number => Math.max(0, Math.min(s.end, to) - Math.max(s.start, from));

/** The least a cause must cover, whatever the median: a sub-millisecond piece explains no 20 ms stall. */
const MIN_COVER_MS = 2;

/** A piece of a lane's timeline and the kind it belongs to (innermost span), or a loop-delay span. */
interface Piece {
  start: number;
  end: number;
  kind: string;
  span: TraceSpan;
}

/**
 * The spans of a run cut into pieces, per lane: a thread's own work (innermost span wins), its flush
 * waits, its loop delays (kept whole); each lane sorted, pieces disjoint except in the loop lanes.
 */
export class SpanIndex {
  readonly #lanes = new Map<string, { pieces: Piece[]; longest: number }>();

  constructor(spans: readonly TraceSpan[]) {
    const byLane = new Map<string, TraceSpan[]>();
    for (const sp of spans) {
      const lane = laneOf(sp);
      const list = byLane.get(lane) ?? [];
      if (!byLane.has(lane)) byLane.set(lane, list);
      list.push(sp);
    }
    for (const [lane, list] of byLane) {
      list.sort((a, b) => a.start - b.start);
      const pieces = lane.endsWith('/loop') ? list.map((span) => ({ start: span.start, end: span.end, kind: span.kind, span })) : innermost(list);
      this.#lanes.set(lane, { pieces, longest: pieces.reduce((m, p) => Math.max(m, p.end - p.start), 0) });
    }
  }

  /** The pieces of `lane` overlapping [from, to]. */
  pieces(lane: string, from: number, to: number): Piece[] {
    const l = this.#lanes.get(lane);
    if (!l) return [];
    const ps = l.pieces;
    let lo = 0;
    let hi = ps.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ps[mid]!.start < from - l.longest) lo = mid + 1;
      else hi = mid;
    }
    const out: Piece[] = [];
    for (let i = lo; i < ps.length && ps[i]!.start < to; i++) if (overlap(ps[i]!, from, to) > 0) out.push(ps[i]!);
    return out;
  }
}

/** Cuts one lane's spans (sorted by start) into disjoint pieces, each owned by the innermost open span. */
function innermost(spans: readonly TraceSpan[]): Piece[] {
  const bounds = [...new Set(spans.flatMap((s) => [s.start, s.end]))].sort((a, b) => a - b);
  const pieces: Piece[] = [];
  const open: TraceSpan[] = [];
  let next = 0;
  for (let b = 0; b + 1 < bounds.length; b++) {
    const a = bounds[b]!;
    const z = bounds[b + 1]!;
    while (next < spans.length && spans[next]!.start <= a) open.push(spans[next++]!);
    for (let i = open.length - 1; i >= 0; i--) if (open[i]!.end <= a) open.splice(i, 1);
    if (open.length === 0) continue;
    // Innermost: the latest start (ties: the shortest).
    let inner = open[0]!;
    for (const o of open) if (o.start > inner.start || (o.start === inner.start && o.end < inner.end)) inner = o;
    const last = pieces[pieces.length - 1];
    if (last && last.span === inner && last.end === a) last.end = z;
    else pieces.push({ start: a, end: z, kind: inner.kind, span: inner });
  }
  return pieces;
}

/**
 * Picks one cause for a stall whose wait was [from, to], over the main thread's lanes and those of
 * `worker` (the aggregate's owner; -1: every worker's). See the header.
 */
export function attribute(index: SpanIndex, from: number, to: number, medianMs: number, workers: readonly string[]): { cause: string; span: TraceSpan | null; coveredMs: number } {
  const need = Math.max(MIN_COVER_MS, 0.5 * (to - from - medianMs));
  /** Per cause: the parts of the wait it covers, its longest span, and whether it is a symptom (a loop delay). */
  const causes = new Map<string, { parts: Array<[number, number]>; longest: TraceSpan; symptom: boolean; covers: number }>();
  const add = (cause: string, p: Piece, symptom: boolean): void => {
    let c = causes.get(cause);
    if (!c) causes.set(cause, (c = { parts: [], longest: p.span, symptom, covers: 0 }));
    c.parts.push([Math.max(p.start, from), Math.min(p.end, to)]);
    if (p.span.end - p.span.start > c.longest.end - c.longest.start) c.longest = p.span;
  };
  for (const thread of ['main', ...workers]) {
    for (const lane of [thread, `${thread}/io`]) for (const p of index.pieces(lane, from, to)) add(p.kind, p, false);
    for (const p of index.pieces(`${thread}/loop`, from, to)) add(loopCause(p.span), p, true);
  }
  const ranked = [...causes].map(([cause, c]) => ((c.covers = unionMs(c.parts)), [cause, c] as const)).sort((a, b) => b[1].covers - a[1].covers);
  // A work span first; a loop delay only when no work explains the wait (it is often a drain's shadow).
  const work = ranked.find(([, c]) => !c.symptom);
  if (work && work[1].covers >= need) return { cause: work[0], span: work[1].longest, coveredMs: work[1].covers };
  const first = ranked[0];
  if (!first) return { cause: 'unattributed', span: null, coveredMs: 0 };
  if (first[1].covers >= need) return { cause: first[0], span: first[1].longest, coveredMs: first[1].covers };
  // Two causes in a row (a flush, then the thread preempted): the pair whose union covers enough, best first.
  const second = ranked[1];
  if (second) {
    const both = unionMs([...first[1].parts, ...second[1].parts]);
    if (both >= need) return { cause: `${first[0]} + ${second[0]}`, span: first[1].longest, coveredMs: both };
  }
  // For digging: what covered most.
  return { cause: 'unattributed', span: first[1].longest, coveredMs: first[1].covers };
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

function report(ctx: Pick<BenchContext, 'info' | 'figure'>, o: Outcome): void {
  const { run, trace } = o;
  const lat = new Float64Array(run.n);
  for (let i = 0; i < run.n; i++) lat[i] = run.done[i]! - run.due[i]!;
  const l = summarise(lat);
  const index = new SpanIndex(trace.spans);
  const workerNames = [...new Set(trace.spans.map((x) => x.thread))].filter((t) => t !== 'main');
  const stalls: Stall[] = [];
  for (let i = 0; i < run.n; i++) {
    if (lat[i]! <= STALL_MS) continue;
    const w = run.worker[i]!;
    const a = attribute(index, run.due[i]!, run.done[i]!, l.p50, w >= 0 ? [`worker-${w}`] : workerNames);
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
  // The worst stall of each of the worst episodes (neighbours in a queue share their cause's span).
  const episodes = new Set<TraceSpan | null>();
  const worst = [...stalls]
    .sort((a, b) => b.latencyMs - a.latencyMs)
    .filter((x) => !episodes.has(x.span) && (episodes.add(x.span), true))
    .slice(0, 5)
    .map(describe);
  const spanKinds = new Map<string, number>();
  for (const s of trace.spans) spanKinds.set(s.kind, (spanKinds.get(s.kind) ?? 0) + 1);

  ctx.info(`stalls: ${stalls.length} commands over ${STALL_MS} ms of ${run.n} (${pct(stalls.length, run.n)}); attributed ${attributed} (${pct(attributed, stalls.length)})`);
  ctx.info(`stalls by cause: ${table.join('; ') || 'none'}`);
  for (const w of worst) ctx.info(`  worst: ${w}`);
  ctx.info(`stalls: latency p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms; ${trace.spans.length} spans (${[...spanKinds].map(([k, n]) => `${k} ${n}`).join(', ')}), dropped ${trace.dropped}`);
  ctx.info(`stalls: box: our threads waited ${all.runqMs.toFixed(0)} ms for a CPU and ran ${all.cpuMs.toFixed(0)} ms (${pct(all.runqMs, all.runqMs + all.cpuMs)} of their demand); stalls whose wait was mostly waiting for a CPU: ${boxBound}; load average ${o.load[0]!.map((x) => x.toFixed(1)).join('/')} -> ${o.load[1]!.map((x) => x.toFixed(1)).join('/')}`);
  if (process.env.STALLS_OUT) {
    // The worst stalls and the unattributed ones (bounded), for digging.
    const keep = [...stalls].sort((a, b) => b.latencyMs - a.latencyMs).slice(0, 300).concat(stalls.filter((x) => x.cause === 'unattributed').slice(0, 1000));
    writeFileSync(process.env.STALLS_OUT, JSON.stringify({ latency: l, byCause: Object.fromEntries(byCause), box: all, spanKinds: Object.fromEntries(spanKinds), stalls: keep }, null, 1));
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
