/**
 * Loads through `runtime.load` and `runtime.history` alone, without the rest of the hydration suite:
 * for measuring and profiling the read path.
 *
 *   node --import tsx bench/tools/load-probe.ts [streams=2000] [rounds=3]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/tools/load-probe.ts
 *
 * Streams are seeded as the hydration suite seeds them (seed.ts: the actor host's own bytes), each
 * round on fresh ids so every first load is cold (no state-cache entry, no live actor):
 * - cold: `c-*` streams of 150 events (snapshot at 100 + a 50-event tail, the suite's figure) and `s-*`
 *   streams of 3 events (no snapshot: a typical young account), first load of each;
 * - warm: the same load again (answered from the state cache);
 * - miss: a runtime with `stateCacheSize: 0`, loads of streams already loaded once (the actor is live
 *   in its worker when loads go there);
 * - history: `runtime.history(type, id, { limit: 100 })` of the 150-event streams.
 * Figures are per round (p50 / p99 in us); the rounds show the spread on a shared box.
 */
import { summarise, timeEach, type LatencySummary } from '../support/stats.js';
import { PARTITIONS, startRuntime } from '../support/runtime.js';
import { seedAccounts, type SeedStream } from '../support/seed.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import type { Runtime } from '../../src/runtime/index.js';

const streams = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 3);
const LONG = 150;
const SHORT = 3;

const dir = makeTempDir('load-probe');
const fmt = (s: LatencySummary): string => `p50 ${s.p50.toFixed(1)} / p99 ${s.p99.toFixed(1)} us`;
try {
  const seeded: SeedStream[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < streams; i++) seeded.push({ id: `c-${r}-${i}`, events: LONG }, { id: `s-${r}-${i}`, events: SHORT });
  }
  await seedAccounts(dir, seeded, { partitions: PARTITIONS, snapshotEvery: 100, chunk: 20_000 });
  const rt = await startRuntime(dir, { workerPlugins: [] });
  const nocache = await startRuntimeNoCache();
  try {
    for (let r = 0; r < rounds; r++) {
      const ids = (p: string) => Array.from({ length: streams }, (_, i) => `${p}-${r}-${i}`);
      const long = ids('c');
      const short = ids('s');
      const cold = summarise(await timeEach(streams, 0, (i) => rt.load('account', long[i]!)));
      const coldShort = summarise(await timeEach(streams, 0, (i) => rt.load('account', short[i]!)));
      const warm = summarise(await timeEach(streams, 0, (i) => rt.load('account', long[i]!)));
      const history = summarise(await timeEach(streams, 0, (i) => rt.history('account', long[i]!, { limit: 100 })));
      const m = ids('m');
      for (const id of m) await nocache.load('account', id);
      const miss = summarise(await timeEach(streams, 0, (i) => nocache.load('account', m[i]!)));
      console.log(
        `round ${r + 1}/${rounds}: cold (150 events: snapshot + 50) ${fmt(cold)}; cold (3 events) ${fmt(coldShort)}; warm (cache hit) ${fmt(warm)}; ` +
          `cache off, again ${fmt(miss)}; history (100 of 150 events) ${fmt(history)}`,
      );
    }
  } finally {
    await nocache.close();
    await rt.close();
  }
} finally {
  removeTempDir(dir);
}

/** A second runtime on the same data dir is not allowed (the dir lock): the cache-off one opens a copy. */
async function startRuntimeNoCache(): Promise<Runtime> {
  const copy = makeTempDir('load-probe-nocache');
  const seeded: SeedStream[] = [];
  for (let r = 0; r < rounds; r++) for (let i = 0; i < streams; i++) seeded.push({ id: `m-${r}-${i}`, events: LONG });
  await seedAccounts(copy, seeded, { partitions: PARTITIONS, snapshotEvery: 100, chunk: 20_000 });
  const rt = await startRuntime(copy, { workerPlugins: [], stateCacheSize: 0 });
  const close = rt.close.bind(rt);
  return Object.assign(rt, {
    async close() {
      await close();
      removeTempDir(copy);
    },
  });
}
