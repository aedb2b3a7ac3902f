// The memory suite's children (memory-child.ts, memory-built.mjs): RSS once the heaps settled.
//
// Why wait: right after a burst of work (the views' catch-up, 100k loads) each thread's V8 heap holds
// the burst's garbage and the headroom V8 grew for it; V8's memory reducer gives it back only after the
// thread has been quiet a while (GCs seconds apart, in steps; 20-30 s on this box), so an RSS read at
// once measured mostly slack (2.2-2.6 kB of "per actor" memory against ~0.8 kB of heap the actors
// retain; bench/README.md, "Memory"). The wait pokes the workers once a second (`poke`: a stats
// request, what a metrics scrape does): a worker with nothing at all to do was seen to keep its slack
// for longer. Plain JS so the built-package child can import it without tsx.
const MiB = 1024 * 1024;

/**
 * Waits until RSS has not moved by more than 1 MiB for `stableS` seconds (at most `maxS`), collecting
 * this thread's garbage first when `gc` is exposed and calling `poke` once a second. Resolves with
 * that RSS and how long it waited.
 */
export async function settledRss(poke, stableS = 30, maxS = 120) {
  globalThis.gc?.();
  const t0 = performance.now();
  let last = process.memoryUsage().rss;
  let since = t0;
  while (performance.now() - since < stableS * 1000 && performance.now() - t0 < maxS * 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    await poke();
    globalThis.gc?.();
    const now = process.memoryUsage().rss;
    if (Math.abs(now - last) > MiB) {
      last = now;
      since = performance.now();
    }
  }
  return { rss: last, waitedS: (performance.now() - t0) / 1000 };
}
