/**
 * Loads through `runtime.load` and `runtime.history` alone, without the rest of the hydration suite, for
 * measuring and profiling the read path: each figure on a runtime reading on the calling thread
 * (`coldLoads: 'log'`, the default) and on one asking the owning worker (`coldLoads: 'owner'`, the path
 * before), alternated round by round on identical data dirs.
 *
 *   node --import tsx bench/tools/load-probe.ts [streams=1000] [rounds=3]
 *   PROBE_MAIN_PROFILE=/tmp/loads.cpuprofile node --import tsx bench/tools/load-probe.ts
 *     (then: the main thread alone, over 5 passes of calling-thread loads of every 150-event stream with
 *     the cache off, profiled: node --import tsx bench/tools/cpuprofile-summary.ts /tmp)
 *
 * Streams are seeded as the hydration suite seeds them (seed.ts: the actor host's own bytes), on fresh
 * ids each round so every first load is cold (no state-cache entry, no live actor):
 * - cold: streams of 150 events (snapshot at 100 + a 50-event tail, the suite's figure), of 109 (snapshot
 *   + 9: the tail `snapshotEvery: 10` would bound it to) and of 3 events (no snapshot: a young account),
 *   first load of each;
 * - warm: the same loads again (answered from the state cache);
 * - cache off: runtimes with `stateCacheSize: 0`, the second load of each 150-event stream (the actor is
 *   live in its worker, for the loads that go there);
 * - history: `runtime.history(type, id, { limit: 100 })` of the 150-event streams (calling thread in both).
 * Figures are p50 / p99 in us, per round (the rounds show the spread on a shared box), and for the cold
 * loads the CPU time per load of all threads (`process.cpuUsage`: the worker's share included), which a
 * busy box inflates much less than latencies.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { summarise, timeEach, type LatencySummary } from '../support/stats.js';
import { PARTITIONS, startRuntime } from '../support/runtime.js';
import { seedAccounts, type SeedStream } from '../support/seed.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import type { Runtime, RuntimeOptions } from '../../src/runtime/index.js';

const streams = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 3);
const LONG = 150;
const SHORT = 3;
const NINE = 109;
const MODES = ['log', 'owner'] as const;

const fmt = (s: LatencySummary & { cpu?: number }): string => `${s.p50.toFixed(1)} / ${s.p99.toFixed(0)}${s.cpu === undefined ? '' : ` (cpu ${s.cpu.toFixed(1)})`}`;

/** Latencies of `n` calls one at a time, and the CPU time (us, all threads) per call. */
async function timed(n: number, fn: (i: number) => unknown): Promise<LatencySummary & { cpu: number }> {
  const c0 = process.cpuUsage();
  const samples = await timeEach(n, 0, fn);
  const c = process.cpuUsage(c0);
  return { ...summarise(samples), cpu: (c.user + c.system) / n };
}
const ids = (prefix: string, round: number) => Array.from({ length: streams }, (_, i) => `${prefix}-${round}-${i}`);
const dirs: string[] = [];

/** A runtime on a fresh data dir seeded with `prefixes` x rounds x streams accounts of `events` each. */
async function seeded(options: Partial<RuntimeOptions>, prefixes: Array<[string, number]>): Promise<Runtime> {
  const dir = makeTempDir('load-probe');
  dirs.push(dir);
  const all: SeedStream[] = [];
  for (let r = 0; r < rounds; r++) for (const [prefix, events] of prefixes) for (const id of ids(prefix, r)) all.push({ id, events });
  await seedAccounts(dir, all, { partitions: PARTITIONS, snapshotEvery: 100, chunk: 20_000 });
  return startRuntime(dir, { workerPlugins: [], ...options });
}

const runtimes: Runtime[] = [];
try {
  const cached = new Map<string, Runtime>();
  const uncached = new Map<string, Runtime>();
  for (const mode of MODES) {
    cached.set(mode, await seeded({ coldLoads: mode }, [['c', LONG], ['t', NINE], ['s', SHORT]]));
    uncached.set(mode, await seeded({ coldLoads: mode, stateCacheSize: 0 }, [['m', LONG]]));
  }
  runtimes.push(...cached.values(), ...uncached.values());
  for (let r = 0; r < rounds; r++) {
    const lines: string[] = [];
    for (const mode of MODES) {
      const rt = cached.get(mode)!;
      const long = ids('c', r);
      const short = ids('s', r);
      const owner0 = rt.counters.ownerLoads;
      const cold = await timed(streams, (i) => rt.load('account', long[i]!));
      const nine = ids('t', r);
      const coldNine = await timed(streams, (i) => rt.load('account', nine[i]!));
      const coldShort = await timed(streams, (i) => rt.load('account', short[i]!));
      const warm = summarise(await timeEach(streams, 0, (i) => rt.load('account', long[i]!)));
      const history = summarise(await timeEach(streams, 0, (i) => rt.history('account', long[i]!, { limit: 100 })));
      const asked = rt.counters.ownerLoads - owner0;
      const off = uncached.get(mode)!;
      const m = ids('m', r);
      for (const id of m) await off.load('account', id);
      const miss = summarise(await timeEach(streams, 0, (i) => off.load('account', m[i]!)));
      lines.push(
        `  ${mode.padEnd(5)}: cold 150 events ${fmt(cold)}; cold 109 ${fmt(coldNine)}; cold 3 ${fmt(coldShort)}; warm ${fmt(warm)}; cache off ${fmt(miss)}; history 100 ${fmt(history)} (owner asked ${asked} times)`,
      );
    }
    console.log(`round ${r + 1}/${rounds} (p50 / p99 us, ${streams} loads each)\n${lines.join('\n')}`);
  }
  const profileTo = process.env['PROBE_MAIN_PROFILE'];
  if (profileTo) await profileLoads(uncached.get('log')!, profileTo);
} finally {
  await Promise.allSettled(runtimes.map((rt) => rt.close()));
  for (const dir of dirs) removeTempDir(dir);
}

/** The main thread's profile over 5 passes of loads of every 150-event stream (cache off: each one a fold here). */
async function profileLoads(rt: Runtime, to: string): Promise<void> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const t0 = performance.now();
  let n = 0;
  for (let pass = 0; pass < 5; pass++) for (let r = 0; r < rounds; r++) for (const id of ids('m', r)) (await rt.load('account', id), n++);
  const mean = ((performance.now() - t0) * 1000) / n;
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(to, JSON.stringify(profile));
  session.disconnect();
  console.log(`profiled ${n} loads (mean ${mean.toFixed(1)} us) into ${to}`);
}
