/**
 * A timeline of the runtime's own pauses: each thread records spans of the work that can hold commands
 * (a drain's deciders, a batch's wait for its flush, page and snapshot writes, passivation sweeps,
 * hydration of cold actors, reply handling on the main thread), its GC pauses (`PerformanceObserver`,
 * entry type `gc`, which reports the isolate of the thread it runs in) and the stalls of its event loop
 * (a timer that measures how late it fires). `createRuntime({ trace: true })` turns it on in every thread
 * of the runtime; `runtime.traceSpans(sinceMs)` collects the spans through the worker protocol. The
 * stalls bench (bench/suites/stalls.ts) lays the spans over each slow command to say why it was slow.
 *
 * Why module-level, one recorder per thread: GC and event-loop stalls belong to a thread, not to a
 * runtime, and hooks in the hot path must cost nothing when tracing is off: the hooks live in the kernel
 * (kernel/trace-spans.ts, so the log and the server can mark spans too) and this recorder installs itself
 * there as the thread's sink while on. Enabling is counted, so two runtimes in one process (tests) share
 * the main thread's recorder, and its spans.
 *
 * Why fixed typed-array rings: bounded memory whatever the load (DESIGN: bound every buffer); the oldest
 * spans are overwritten, and `dropped` tells a collector that it missed some.
 *
 * Timestamps are `performance.timeOrigin + performance.now()` (ms since the epoch, sub-microsecond):
 * each worker thread has its own `timeOrigin`, so only the sum puts every thread on one clock.
 *
 * Gotchas:
 * - Span kinds are numbers in the ring and names outside (`SPAN_KINDS`); append new kinds at the end.
 * - Spans nest (a hydration inside a drain, a GC inside either): whoever reads them decides what the
 *   innermost one means. `flush` is not work of the thread: it is the wait from a batch's commit to its
 *   durability, while the thread goes on deciding the next batch.
 * - The loop probe reads `/proc/thread-self/schedstat` (Linux: the thread's on-CPU and run-queue
 *   time); where that file does not exist, the loop-delay spans carry -1 for both.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { SPAN_KINDS, Span, setSpanSink, type SpanKind, type SpanSink } from '../kernel/index.js';

export { SPAN_KINDS, Span, spanEnd, spanStart, type SpanKind } from '../kernel/index.js';

export interface TraceSpan {
  /** `main`, or `worker-<index>`. */
  thread: string;
  kind: SpanKind;
  /** ms since the epoch (performance.timeOrigin + performance.now()). */
  start: number;
  end: number;
  /** What the span counted: commands of a drain or of a replies message, pages, actors passivated, the GC kind. */
  count: number;
  /** loop-delay only: the thread's time on a CPU and waiting for one, between its probe's last two runs. */
  cpuMs?: number;
  runqMs?: number;
}

export interface TraceSpans {
  spans: TraceSpan[];
  /**
   * 0 when every span newer than `sinceMs` is in `spans`; otherwise the count of spans the rings
   * overwrote since tracing began (some of them newer than `sinceMs`): collect more often.
   */
  dropped: number;
}

/** Spans each thread keeps (a ring: ~1 MiB per thread while tracing). */
export const TRACE_CAPACITY = 32_768;
/** The loop probe's period, and how late it must fire to count as a stall (ms). */
const PROBE_MS = 10;
const LOOP_DELAY_MIN_MS = 5;

class ThreadTrace implements SpanSink {
  on = false;
  #users = 0;
  #thread = 'main';
  readonly #origin = performance.timeOrigin;
  #start: Float64Array = new Float64Array(0);
  #end: Float64Array = new Float64Array(0);
  #count: Float64Array = new Float64Array(0);
  #cpu: Float32Array = new Float32Array(0);
  #runq: Float32Array = new Float32Array(0);
  #kind: Uint8Array = new Uint8Array(0);
  /** Spans written since enabled (the next slot is written % capacity). */
  #written = 0;
  /** The latest end of a span overwritten before it was collected (or not). */
  #lostEnd = 0;
  #gc: PerformanceObserver | null = null;
  #stopProbe: (() => void) | null = null;

  enable(thread: string): void {
    if (this.#users++ > 0) return;
    this.#thread = thread;
    this.#start = new Float64Array(TRACE_CAPACITY);
    this.#end = new Float64Array(TRACE_CAPACITY);
    this.#count = new Float64Array(TRACE_CAPACITY);
    this.#cpu = new Float32Array(TRACE_CAPACITY);
    this.#runq = new Float32Array(TRACE_CAPACITY);
    this.#kind = new Uint8Array(TRACE_CAPACITY);
    this.#written = 0;
    this.#lostEnd = 0;
    this.on = true;
    setSpanSink(this);
    const gc = (this.#gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.#recordAt(Span.gc, e.startTime, e.startTime + e.duration, gcKind(e));
    }));
    gc.observe({ entryTypes: ['gc'] });
    this.#stopProbe = loopProbe((late, at, cpuMs, runqMs) => this.#recordAt(Span['loop-delay'], at - late, at, 0, cpuMs, runqMs));
  }

  disable(): void {
    if (this.#users === 0 || --this.#users > 0) return;
    this.on = false;
    setSpanSink(null);
    this.#gc?.disconnect();
    this.#gc = null;
    this.#stopProbe?.();
    this.#stopProbe = null;
    this.#start = this.#end = this.#count = new Float64Array(0);
    this.#cpu = this.#runq = new Float32Array(0);
    this.#kind = new Uint8Array(0);
  }

  /** `start`/`end`: this thread's performance.now(). */
  #recordAt(kind: number, start: number, end: number, count: number, cpuMs = -1, runqMs = -1): void {
    if (!this.on) return;
    const i = this.#written++ % TRACE_CAPACITY;
    if (this.#written > TRACE_CAPACITY) this.#lostEnd = Math.max(this.#lostEnd, this.#end[i]!);
    this.#kind[i] = kind;
    this.#start[i] = this.#origin + start;
    this.#end[i] = this.#origin + end;
    this.#count[i] = count;
    this.#cpu[i] = cpuMs;
    this.#runq[i] = runqMs;
  }

  record(kind: number, t0: number, count: number): void {
    this.#recordAt(kind, t0, performance.now(), count);
  }

  /** Every span still in the ring that ended after `sinceMs` (epoch ms), as columns, oldest start first. */
  columns(sinceMs: number): TraceColumns {
    if (!this.on) return emptyColumns(this.#thread);
    const n = Math.min(this.#written, TRACE_CAPACITY);
    const first = this.#written - n;
    const picked: number[] = [];
    for (let w = first; w < this.#written; w++) {
      const i = w % TRACE_CAPACITY;
      if (this.#end[i]! > sinceMs) picked.push(i);
    }
    // The ring is in order of recording (ends); readers want starts in order.
    const starts = this.#start;
    picked.sort((a, b) => starts[a]! - starts[b]!);
    const cols: TraceColumns = {
      thread: this.#thread,
      kind: new Uint8Array(picked.length),
      start: new Float64Array(picked.length),
      end: new Float64Array(picked.length),
      count: new Float64Array(picked.length),
      cpuMs: new Float32Array(picked.length),
      runqMs: new Float32Array(picked.length),
      // Overwritten spans newer than `sinceMs`: the collector missed some of them (how many is not kept).
      dropped: this.#lostEnd > sinceMs ? first : 0,
    };
    for (let k = 0; k < picked.length; k++) {
      const i = picked[k]!;
      cols.kind[k] = this.#kind[i]!;
      cols.start[k] = starts[i]!;
      cols.end[k] = this.#end[i]!;
      cols.count[k] = this.#count[i]!;
      cols.cpuMs[k] = this.#cpu[i]!;
      cols.runqMs[k] = this.#runq[i]!;
    }
    return cols;
  }
}

/**
 * One thread's spans as columns: what a worker sends the main thread. Why not span objects: a pull of
 * tens of thousands of spans cost the main thread 40-80 ms to receive as a structured clone of one object
 * each (the stalls suite's own collection then showed up as the main loop's stalls); typed arrays clone
 * as a copy of their bytes, and the objects are made once, on the main thread (`spansOf`).
 */
export interface TraceColumns {
  thread: string;
  /** Index into SPAN_KINDS. */
  kind: Uint8Array;
  start: Float64Array;
  end: Float64Array;
  count: Float64Array;
  /** loop-delay only (-1 elsewhere). */
  cpuMs: Float32Array;
  runqMs: Float32Array;
  dropped: number;
}

function emptyColumns(thread: string): TraceColumns {
  return { thread, kind: new Uint8Array(0), start: new Float64Array(0), end: new Float64Array(0), count: new Float64Array(0), cpuMs: new Float32Array(0), runqMs: new Float32Array(0), dropped: 0 };
}

/** The spans of `cols`, in their order. */
export function spansOf(cols: TraceColumns): TraceSpan[] {
  const out: TraceSpan[] = new Array(cols.kind.length);
  for (let k = 0; k < cols.kind.length; k++) {
    const kind = SPAN_KINDS[cols.kind[k]!]!;
    const span: TraceSpan = { thread: cols.thread, kind, start: cols.start[k]!, end: cols.end[k]!, count: cols.count[k]! };
    if (kind === 'loop-delay') {
      span.cpuMs = cols.cpuMs[k]!;
      span.runqMs = cols.runqMs[k]!;
    }
    out[k] = span;
  }
  return out;
}

/** Merges lists each already in order of start into one (the threads' parts of a pull). */
export function mergeByStart(parts: readonly TraceSpan[][]): TraceSpan[] {
  let merged: TraceSpan[] = [];
  for (const part of parts) {
    if (merged.length === 0) {
      merged = part;
      continue;
    }
    const out: TraceSpan[] = new Array(merged.length + part.length);
    let a = 0;
    let b = 0;
    let o = 0;
    while (a < merged.length && b < part.length) out[o++] = part[b]!.start < merged[a]!.start ? part[b++]! : merged[a++]!;
    while (a < merged.length) out[o++] = merged[a++]!;
    while (b < part.length) out[o++] = part[b++]!;
    merged = out;
  }
  return merged;
}

const recorder = new ThreadTrace();

/** Starts recording this thread's spans (counted: each `enableTrace` needs its `disableTrace`). */
export function enableTrace(thread: string): void {
  recorder.enable(thread);
}

export function disableTrace(): void {
  recorder.disable();
}

/** This thread's spans that ended after `sinceMs` (epoch ms), oldest start first; empty while tracing is off. */
export function traceSince(sinceMs: number): TraceSpans {
  const cols = recorder.columns(sinceMs);
  return { spans: spansOf(cols), dropped: cols.dropped };
}

/** The same as columns, for sending to another thread. */
export function traceColumnsSince(sinceMs: number): TraceColumns {
  return recorder.columns(sinceMs);
}

/** The epoch-ms clock spans use, for whoever compares times with them (performance.timeOrigin + now). */
export function traceClock(): number {
  return performance.timeOrigin + performance.now();
}

function gcKind(e: PerformanceEntry): number {
  return (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
}

/**
 * Calls `stalled(lateMs, nowMs, cpuMs, runqMs)` whenever the probe timer fires more than
 * LOOP_DELAY_MIN_MS after it was due: the thread's event loop was held (by work, a GC, or the machine
 * not giving it a CPU). The thread's schedstat (read through one open descriptor: ~4 us) says which:
 * on-CPU time is the thread's own work, run-queue time is the machine's other work.
 */
function loopProbe(stalled: (late: number, at: number, cpuMs: number, runqMs: number) => void): () => void {
  let fd = -1;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    // not Linux: delays are still recorded, without the split
  }
  const buf = Buffer.alloc(96);
  const read = (): [number, number] => {
    if (fd < 0) return [-1, -1];
    try {
      const text = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0));
      const sp = text.indexOf(' ');
      return [Number(text.slice(0, sp)) / 1e6, Number(text.slice(sp + 1, text.indexOf(' ', sp + 1))) / 1e6];
    } catch {
      return [-1, -1];
    }
  };
  let last = performance.now();
  let [cpu, runq] = read();
  const timer = setInterval(() => {
    const now = performance.now();
    const [c, r] = read();
    const late = now - last - PROBE_MS;
    if (late >= LOOP_DELAY_MIN_MS) stalled(late, now, c < 0 ? -1 : c - cpu, r < 0 ? -1 : r - runq);
    last = now;
    cpu = c;
    runq = r;
  }, PROBE_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (fd >= 0) closeSync(fd);
  };
}
