/** Starting runtimes on seeded data dirs and sending them the bench's commands. */
import { projectionEngine, Views } from '../../src/projections/index.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/runtime/index.js';
import { seedAccounts, type SeedOptions, type SeedStream } from './seed.js';

export const PARTITIONS = 16;

/**
 * A runtime with the projection engine and the built-in views, as `npm start` runs it (the figures
 * include the views' live path); `viewLag` opens the main-thread side on it.
 */
export async function startRuntime(dataDir: string, options: Partial<RuntimeOptions> = {}): Promise<Runtime> {
  return createRuntime({ dataDir, partitions: PARTITIONS, workerPlugins: [projectionEngine()], ...options });
}

export function accountIds(n: number, prefix = 'acct-'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

/**
 * A round-robin Deposit load over `ids`: the throughput figure's workload. The position carries over
 * from one call to the next (warm-up, then measurement), so a measurement continues where the warm-up
 * stopped instead of revisiting the actors it just warmed.
 */
export function depositer(rt: Runtime, ids: readonly string[]): () => Promise<unknown> {
  const n = ids.length;
  let next = 0;
  return () => rt.execute('account', ids[next++ % n]!, { type: 'Deposit', data: { amount: 1 } });
}

/** Events the runtime's views (projections) have not applied yet, over every view and partition. */
export async function viewLag(rt: Runtime): Promise<() => number> {
  const views = await Views.open(rt);
  return () => views.names().reduce((n, v) => n + views.lag(v).reduce((m, l) => m + l.lag, 0), 0);
}

/** Waits until every view has applied every event in the log. */
export async function catchUpViews(rt: Runtime, timeoutMs = 600_000): Promise<void> {
  const behind = await viewLag(rt);
  const t0 = performance.now();
  for (let lag = behind(); lag > 0; lag = behind()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`views still ${lag} events behind after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Seeds streams straight into the log (see seed.ts), then runs the runtime once until its views have
 * caught up: seeding bypasses the live projection, and a measurement must not start with the workers
 * busy projecting the seed. Returns the seconds the catch-up took (worth reporting: it is the view
 * rebuild rate).
 */
export async function seedAndSettle(dir: string, streams: Iterable<SeedStream>, options: Omit<SeedOptions, 'partitions'>): Promise<number> {
  await seedAccounts(dir, streams, { partitions: PARTITIONS, ...options });
  const rt = await startRuntime(dir);
  try {
    const t0 = performance.now();
    await catchUpViews(rt);
    return (performance.now() - t0) / 1000;
  } finally {
    await rt.close();
  }
}
