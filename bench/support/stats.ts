/** Small statistics helpers: percentiles of latency samples and medians of repeated rounds. */

/** The q-quantile (0..1) of `samples` by nearest rank. Sorts a copy; empty input gives NaN. */
export function percentile(samples: ArrayLike<number>, q: number): number {
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort();
  return quantileOfSorted(sorted, q);
}

export function quantileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarise(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples as ArrayLike<number>).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
  return {
    n: sorted.length,
    p50: quantileOfSorted(sorted, 0.5),
    p99: quantileOfSorted(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
  };
}

export function median(values: readonly number[]): number {
  return percentile(values, 0.5);
}

/**
 * Times `fn` one call at a time, `n` times after `warmup` calls, and returns each call's duration in
 * microseconds. Sequential on purpose: these are latencies of one request, not throughput.
 */
export async function timeEach(n: number, warmup: number, fn: (i: number) => unknown): Promise<Float64Array> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i + warmup);
    out[i] = (performance.now() - t0) * 1000;
  }
  return out;
}

/** Deterministic PRNG (mulberry32) so runs pick the same "random" versions and ids. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
