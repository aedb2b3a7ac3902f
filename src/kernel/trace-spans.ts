/**
 * Span hooks for the runtime's pause timeline (runtime/trace.ts records them): any layer marks the work
 * that can hold commands with `const t = spanStart(); ...; spanEnd(Span.kind, t, count)`.
 *
 * Why in the kernel: the log adapters (below the runtime) and the server (above it) mark spans too, and
 * every folder may import the kernel. The kernel imports nothing, so the recorder (rings, GC observer,
 * loop probe: node modules) stays in the runtime and installs itself here as the thread's sink.
 *
 * Cost when tracing is off: `spanStart()` is one branch and returns 0, and `spanEnd` returns at once on 0.
 *
 * Gotchas: kinds are stored by index (`Span`); append new kinds at the end of `SPAN_KINDS`.
 */

/** What a span is of, in ring order (the index is what the ring stores). */
export const SPAN_KINDS = [
  /** Worker: a drain's synchronous pass over its commands (hydrations and snapshots nest in it). */
  'drain',
  /** Worker: queueing a batch's writes into LMDB, the views' writes joining it (synchronous). */
  'commit',
  /** Worker: from a batch's commit to its durability (`flushed` under `sync`): the disk and LMDB's write thread. */
  'flush',
  /** Worker: reading back and staging the event pages of durable drains. */
  'pages',
  /** Worker: encoding a snapshot into a drain's batch (or a fresh one after a stale snapshot). */
  'snapshot',
  /** Worker: a passivation sweep (LRU overflow or idle). */
  'passivate',
  /** Worker: hydrating a cold actor from the log (snapshot + tail, or a full fold). */
  'hydrate',
  /** Worker: the plugins (live projections) hearing of a durable batch. */
  'projection',
  /** Worker: a drain's replies encoded and posted; main: a `replies` message decoded and its callers answered. */
  'replies',
  /** Main: a batch of commands encoded and posted to a worker. */
  'send',
  /** Worker: a load answered by the owner. */
  'load',
  /** Any thread: a GC pause (`count`: the GC kind, as `perf_hooks` numbers it: 1 minor, 2 major, 4 incremental, 8 weak callbacks). */
  'gc',
  /** Any thread: the event loop did not run its probe timer on time (`cpuMs`/`runqMs`: on CPU / waiting for a CPU meanwhile). */
  'loop-delay',
  /** Main: a feed client's catch-up turn (for the feed's own hook). */
  'catch-up',
  /** Worker (LMDB log): from queueing a batch's writes until its transaction is committed and visible (LMDB's write thread). */
  'log-commit',
  /** Worker (LMDB log): from a batch's commit being visible until it is flushed to disk (`sync` durability). */
  'fsync',
] as const;

export type SpanKind = (typeof SPAN_KINDS)[number];

/** Span kind numbers for the hooks (`spanEnd(Span.drain, t0)`). */
export const Span = Object.fromEntries(SPAN_KINDS.map((k, i) => [k, i])) as { readonly [K in SpanKind]: number };

/** Where a thread's spans go while it traces (runtime/trace.ts); `t0` and the end are this thread's performance.now(). */
export interface SpanSink {
  record(kind: number, t0: number, count: number): void;
}

let sink: SpanSink | null = null;

/** Installs (or, with null, removes) this thread's recorder. */
export function setSpanSink(s: SpanSink | null): void {
  sink = s;
}

/** The start of a span: this thread's clock, or 0 while tracing is off (then `spanEnd` does nothing). */
export function spanStart(): number {
  return sink ? performance.now() : 0;
}

/** Records a span from `t0` (a `spanStart()`) to now; `count`: what it handled (commands, pages, ...). */
export function spanEnd(kind: number, t0: number, count = 0): void {
  if (t0 !== 0) sink?.record(kind, t0, count);
}
