/**
 * Hydration and loads, on account streams written exactly as the actor host writes them:
 * - full hydration (no snapshot) of the longest stream through `hydrate` (the runtime's log + decider
 *   path), vs `raw-scan` of the same events, in interleaved rounds;
 * - the curve of hydration time vs stream length, without snapshots, with the snapshot at the head,
 *   and with the worst tail (99 events after the newest snapshot);
 * - cold load with snapshots (`hydrate`), also through `runtime.load` on streams no actor holds yet: read
 *   on the calling thread (the default) vs the same read done raw, and, on other streams of the same
 *   shape, through the owning worker (`coldLoads: 'owner'`, the path before); warm load through
 *   `runtime.load` (answered from the main thread's state cache) vs a bare `Map.get`, and the same warm
 *   load through the owning worker (a round trip to a live actor: the path of a stream with a command in
 *   flight) vs a bare worker round trip; a page of history (`runtime.history`) vs the same events read
 *   raw; the time machine (`runtime.load` with a random `version`) vs the same reads done raw.
 *
 * "No snapshot" uses the same stream with a decider whose `snapshotVersion` does not match, which is
 * exactly the runtime's path for a stale snapshot: one snapshot lookup, then the full fold from seq 1.
 */
import { accountDecider } from '../../src/domain/account.js';
import type { AnyDecider } from '../../src/domain/index.js';
import { EVENT_PAGE, LmdbLog } from '../../src/log/index.js';
import { hydrate } from '../../src/runtime/index.js';
import { measured } from '../figures.js';
import { RawLog } from '../baselines/raw-scan.js';
import { workerEcho } from '../baselines/worker-echo.js';
import type { BenchContext, Suite } from '../support/context.js';
import { catchUpViews, PARTITIONS, startRuntime } from '../support/runtime.js';
import { seedAccounts, type SeedStream } from '../support/seed.js';
import { median, prng, summarise, timeEach, type LatencySummary } from '../support/stats.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import { fmt } from './throughput.js';

const SNAPSHOT_EVERY = 100;
const COLD_STREAM_EVENTS = 150;
/** Events per `runtime.history` page measured. */
const HISTORY_PAGE = 100;

const sizes = (quick: boolean) =>
  quick
    ? { lengths: [1_000, 10_000, 30_000], rounds: 2, loads: 300, coldStreams: 100, timeTravels: 300 }
    : { lengths: [1_000, 10_000, 100_000, 1_000_000], rounds: 3, loads: 3000, coldStreams: 2000, timeTravels: 2000 };

const staleDecider: AnyDecider = { ...accountDecider, snapshotVersion: -1 };
const streamId = (len: number): string => `h-${len}`;

export const hydrationSuite: Suite = {
  name: 'hydration',
  figures: ['hydration.full', 'load.cold.p50', 'load.cold.runtime.p50', 'load.warm.p50', 'load.warm.miss.p50', 'history.p50', 'timemachine.p50'],
  steps: (quick) => 1 + sizes(quick).rounds + sizes(quick).lengths.length + 7,
  async run(ctx) {
    const s = sizes(ctx.quick);
    const dir = makeTempDir('hydration');
    try {
      const longest = Math.max(...s.lengths);
      ctx.step(`seeding streams of ${s.lengths.join(', ')} events`);
      const streams: SeedStream[] = s.lengths.map((len) => ({ id: streamId(len), events: len }));
      // `c-*` are loaded on the calling thread, `o-*` through their owner: both cold on first load.
      for (let i = 0; i < s.coldStreams; i++) streams.push({ id: `c-${i}`, events: COLD_STREAM_EVENTS }, { id: `o-${i}`, events: COLD_STREAM_EVENTS });
      // Not settled here: runtimeLoads waits for the views to catch up before it measures.
      await seedAccounts(dir, streams, { partitions: PARTITIONS, snapshotEvery: SNAPSHOT_EVERY, chunk: 20_000 });

      const log = LmdbLog.open(dir, { partitions: PARTITIONS });
      const raw = RawLog.open(dir);
      try {
        fullHydration(ctx, log, raw, longest, s.rounds);
        hydrationCurve(ctx, log, s.lengths);
        await coldLoad(ctx, log, raw, longest, s.loads);
      } finally {
        await raw.close();
        await log.close();
      }
      const cold = await runtimeLoads(ctx, dir, longest, s);
      const owner = await loadsThroughTheOwner(ctx, dir, longest, s);
      ctx.figure(
        measured('load.cold.runtime.p50', {
          value: cold.calling.p50,
          baseline: { name: 'raw snapshot+tail read', value: cold.raw.p50, unit: 'us' },
          note: `${s.coldStreams} streams of ${COLD_STREAM_EVENTS} events (snapshot at 100 + 50-event tail), first load of each, read on the calling thread; p99 ${cold.calling.p99.toFixed(0)} us; through the owning worker (coldLoads: 'owner', the path before) on ${s.coldStreams} other such streams: p50 ${owner.p50.toFixed(0)} us, p99 ${owner.p99.toFixed(0)} us`,
        }),
      );
    } finally {
      removeTempDir(dir);
    }
  },
};

function fullHydration(ctx: BenchContext, log: LmdbLog, raw: RawLog, len: number, rounds: number): void {
  const id = streamId(len);
  const hyd: number[] = [];
  const scan: number[] = [];
  const pageScan: number[] = [];
  let paged = 0;
  for (let r = 0; r < rounds; r++) {
    ctx.step(`full hydration of ${fmt(len)} events, round ${r + 1}/${rounds}`);
    let t0 = performance.now();
    const sc = raw.scan('account', id);
    scan.push(sc.events / ((performance.now() - t0) / 1000));
    t0 = performance.now();
    const h = hydrate(log, staleDecider, 'account', id);
    hyd.push(h.folded / ((performance.now() - t0) / 1000));
    paged = h.paged;
    t0 = performance.now();
    const ps = raw.scanPages('account', id);
    pageScan.push(ps.events / ((performance.now() - t0) / 1000));
    if (h.folded !== len || sc.events !== len) throw new Error(`hydrated ${h.folded} / scanned ${sc.events} events of ${len}`);
  }
  ctx.figure(
    measured('hydration.full', {
      value: median(hyd),
      baseline: { name: 'raw-scan', value: median(scan), unit: 'events/s' },
      note: `stream of ${fmt(len)} events${len < 1_000_000 ? ' (quick size)' : ''}, ${fmt(paged)} of them folded from pages of ${EVENT_PAGE} events; median of ${rounds} interleaved rounds; raw-scan reads one event per value (the issue's baseline); the same raw read over the pages: ${fmt(Math.round(median(pageScan)))} events/s`,
    }),
  );
}

function hydrationCurve(ctx: BenchContext, log: LmdbLog, lengths: number[]): void {
  const none: Array<[number, number]> = [];
  const head: Array<[number, number]> = [];
  const worst: Array<[number, number]> = [];
  const ms = (fn: () => unknown, reps: number): number => {
    const t: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      fn();
      t.push(performance.now() - t0);
    }
    return median(t);
  };
  for (const len of lengths) {
    ctx.step(`hydration curve at ${fmt(len)} events`);
    const id = streamId(len);
    const reps = Math.max(3, Math.min(200, Math.round(200_000 / len)));
    none.push([len, ms(() => hydrate(log, staleDecider, 'account', id), len >= 1_000_000 ? 1 : reps)]);
    head.push([len, ms(() => hydrate(log, accountDecider, 'account', id), 200)]);
    worst.push([len, ms(() => hydrate(log, accountDecider, 'account', id, len - 1), 200)]);
  }
  ctx.curve({
    id: 'hydration-vs-length',
    title: `Hydration time vs stream length (snapshot every ${SNAPSHOT_EVERY} events)`,
    xLabel: 'events in the stream',
    yLabel: 'time (ms)',
    xLog: true,
    yLog: true,
    series: [
      { name: 'no snapshot (full fold)', points: none },
      { name: 'snapshot at head', points: head },
      { name: 'snapshot + 99-event tail', points: worst },
    ],
  });
}

async function coldLoad(ctx: BenchContext, log: LmdbLog, raw: RawLog, len: number, n: number): Promise<void> {
  ctx.step('cold load with snapshots');
  const id = streamId(len);
  const us = summarise(await timeEach(n, 200, () => hydrate(log, accountDecider, 'account', id)));
  const base = summarise(await timeEach(n, 200, () => raw.load('account', id)));
  const tail = summarise(await timeEach(n, 200, () => hydrate(log, accountDecider, 'account', id, len - 1)));
  ctx.figure(
    measured('load.cold.p50', {
      value: us.p50,
      baseline: { name: 'raw snapshot read', value: base.p50, unit: 'us' },
      note: `hydrate() of the ${fmt(len)}-event stream, snapshot at head (0-event tail), ${n} loads, p99 ${us.p99.toFixed(0)} us; with a 99-event tail: p50 ${tail.p50.toFixed(0)} us`,
    }),
  );
}

/** Cold loads on the calling thread (and the same reads raw), warm loads, history and the time machine. */
async function runtimeLoads(ctx: BenchContext, dir: string, len: number, s: ReturnType<typeof sizes>): Promise<{ calling: LatencySummary; raw: LatencySummary }> {
  const rt = await startRuntime(dir);
  try {
    const id = streamId(len);
    ctx.step('cold loads through runtime.load');
    await catchUpViews(rt);
    let i = 0;
    const owner0 = rt.counters.ownerLoads;
    const calling = summarise(await timeEach(s.coldStreams, 0, () => rt.load('account', `c-${i++}`)));
    if (rt.counters.ownerLoads !== owner0) throw new Error('a cold load went to the owning worker: the figure would not measure what it says');
    const rawLog = RawLog.open(dir);
    let j = 0;
    const rawCold = summarise(await timeEach(s.coldStreams, 0, () => rawLog.load('account', `c-${j++}`)));
    await rawLog.close();

    ctx.step('history pages through runtime.history');
    let h = 0;
    const history = summarise(await timeEach(s.coldStreams, 0, () => rt.history('account', `c-${h++}`, { limit: HISTORY_PAGE })));
    const rawScan = RawLog.open(dir);
    let k = 0;
    const rawPage = summarise(await timeEach(s.coldStreams, 0, () => rawScan.scan('account', `c-${k++}`, 1, HISTORY_PAGE)));
    await rawScan.close();
    ctx.figure(
      measured('history.p50', {
        value: history.p50,
        baseline: { name: 'raw range read', value: rawPage.p50, unit: 'us' },
        note: `runtime.history({ limit: ${HISTORY_PAGE} }) of ${s.coldStreams} streams of ${COLD_STREAM_EVENTS} events (calling thread: envelopes, checksums), p99 ${history.p99.toFixed(0)} us; baseline: lmdb-js range read + msgpackr decode of the same ${HISTORY_PAGE} events`,
      }),
    );

    ctx.step('warm loads through runtime.load (state cache)');
    await rt.load('account', id); // a cache miss at most once: the stream was seeded, no command touched it
    const hits0 = rt.counters.stateCacheHits;
    const misses0 = rt.counters.stateCacheMisses;
    // A hit costs ~1 us: a long warm-up is cheap, and without one the figure measures the JIT.
    const warmup = 5_000;
    const warm = summarise(await timeEach(s.loads, warmup, () => rt.load('account', id)));
    const batch = Math.max(10_000, s.loads * 10);
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) await rt.load('account', id);
    const mean = ((performance.now() - t0) * 1000) / batch;
    if (rt.counters.stateCacheMisses !== misses0 || rt.counters.stateCacheHits - hits0 !== s.loads + warmup + batch) {
      throw new Error('the warm loads were not all answered from the state cache: the figure would not measure what it says');
    }
    const floor = mapGetFloor(await rt.load('account', id));
    ctx.figure(
      measured('load.warm.p50', {
        value: warm.p50,
        baseline: { name: 'bare Map.get', value: floor, unit: 'us' },
        note: `answered from the main thread's state cache (default size); one load at a time, ${s.loads} loads, p99 ${warm.p99.toFixed(2)} us; mean over ${fmt(batch)} back-to-back loads ${mean.toFixed(2)} us; baseline: one Map.get in a 100k-entry Map (median of 5 batches of 1M)`,
      }),
    );

    ctx.step('time machine');
    const rnd = prng(6);
    const versions = Array.from({ length: s.timeTravels + 100 }, () => 1 + Math.floor(rnd() * len));
    let v = 0;
    const tm = summarise(await timeEach(s.timeTravels, 100, () => rt.load('account', id, { version: versions[v++]! })));
    const raw = RawLog.open(dir);
    let w = 0;
    const base = summarise(await timeEach(s.timeTravels, 100, () => raw.load('account', id, versions[w++]!)));
    await raw.close();
    ctx.figure(
      measured('timemachine.p50', {
        value: tm.p50 / 1000,
        baseline: { name: 'raw snapshot+tail read', value: base.p50 / 1000, unit: 'ms' },
        note: `runtime.load({version}) at uniform random versions of the ${fmt(len)}-event stream (main thread); p99 ${(tm.p99 / 1000).toFixed(3)} ms`,
      }),
    );
    return { calling, raw: rawCold };
  } finally {
    await rt.close();
  }
}

/**
 * Loads through the owning worker (`coldLoads: 'owner'`, the state cache off): cold ones, on the `o-*`
 * streams (returned: the "before" of the calling-thread figure), then the warm load of a live actor: a
 * round trip, the path of a stream with a command in flight.
 */
async function loadsThroughTheOwner(ctx: BenchContext, dir: string, len: number, s: ReturnType<typeof sizes>): Promise<LatencySummary> {
  ctx.step('cold loads through the owning worker');
  const rt = await startRuntime(dir, { stateCacheSize: 0, coldLoads: 'owner' });
  try {
    await catchUpViews(rt);
    let i = 0;
    const cold = summarise(await timeEach(s.coldStreams, 0, () => rt.load('account', `o-${i++}`)));
    ctx.step('warm loads through the owning worker (round trip)');
    const n = s.loads;
    const id = streamId(len);
    await rt.load('account', id);
    const miss = summarise(await timeEach(n, 200, () => rt.load('account', id)));
    const echo = summarise(await workerEcho(n));
    ctx.figure(
      measured('load.warm.miss.p50', {
        value: miss.p50,
        baseline: { name: 'worker-echo', value: echo.p50, unit: 'us' },
        note: `coldLoads: 'owner', stateCacheSize: 0, actor live in its worker; one load at a time, ${n} loads, p99 ${miss.p99.toFixed(0)} us`,
      }),
    );
    return cold;
  } finally {
    await rt.close();
  }
}

/**
 * The floor of any in-thread read: one `Map.get` by a string key in a Map of 100k entries. Timed over
 * batches, since one lookup is below the clock's resolution.
 */
function mapGetFloor(loaded: { id: string; version: number; state: unknown }): number {
  const map = new Map<string, { version: number; state: unknown }>();
  for (let i = 0; i < 100_000; i++) map.set(`account\u0000x-${i}`, { version: 1, state: null });
  const key = `account\u0000${loaded.id}`;
  map.set(key, { version: loaded.version, state: loaded.state });
  const n = 1_000_000;
  let sink = 0;
  const batches: number[] = [];
  for (let b = 0; b < 5; b++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) sink += map.get(key)!.version;
    batches.push(((performance.now() - t0) * 1000) / n);
  }
  if (sink === 0) throw new Error('unreachable');
  return median(batches);
}
