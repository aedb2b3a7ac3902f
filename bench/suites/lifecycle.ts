/**
 * Data lifecycle (issue 16): "a 1M-event stream with `maxCount` keeps disk use bounded under load while
 * commands keep their p99". Two fresh processes (lifecycle-child.ts), one after the other, each a
 * runtime on an empty LMDB data dir with default options but the meter domain:
 * - baseline: 1 000 000 readings into one meter stream (`RecordMany` of 1 000, one command at a time),
 *   no retention, the default scavenge schedule (300 s: no pass runs within the ingest);
 * - scavenge: the same with `maxCount: 10 000` on that stream and the background scavenge every 200 ms
 *   (the scavenge-disk e2e test's period: the default 300 s is longer than the whole ingest, so the
 *   default would measure nothing; 200 ms is the tightest disk bound and the most scavenge work per
 *   second, the worst case for the commands).
 * Meanwhile, in both, an open loop of single `Record` commands at 1 000 cmd/s over 1 000 other meters
 * (warmed first) measures each command's latency from its due time. Figures: the load's p99 and p50
 * with the scavenge against the baseline's, and log.mdb at the end against the baseline's; the curve
 * is log.mdb every 100k events (50k in quick mode). Quick mode ingests 200 000 events, and only when
 * named (`--quick --only lifecycle`): a plain quick run leaves it out (`notInQuick`).
 */
import { measured } from '../figures.js';
import type { Suite } from '../support/context.js';
import { runChild } from '../support/child.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import type { LifecycleArgs, LifecycleReport, StepTimes } from './lifecycle-child.js';

const CHILD = new URL('./lifecycle-child.ts', import.meta.url);
export const LIFECYCLE = { rate: 1000, meters: 1000, keep: 10_000, everyMs: 200 };
const sizes = (quick: boolean) => (quick ? { events: 200_000, sampleEvery: 50_000 } : { events: 1_000_000, sampleEvery: 100_000 });
const MODES = ['baseline', 'scavenge'] as const;

const mib = (b: number): number => b / 2 ** 20;
const f1 = (n: number): string => n.toFixed(1);
const load = (l: number[]): string => l.map((x) => x.toFixed(1)).join('/');

const steps = (what: string, t: StepTimes): string =>
  `${t.count} ${what} steps ${(t.wallMs / 1000).toFixed(1)} s to their answers (longest ${t.maxMs.toFixed(0)} ms), ${(t.syncMs / 1000).toFixed(2)} s of it on the main thread (longest ${t.syncMaxMs.toFixed(0)} ms)`;

/** One child on a fresh data dir; its CPU profile when LIFECYCLE_PROF names a directory. */
async function runMode(mode: (typeof MODES)[number], events: number, sampleEvery: number): Promise<LifecycleReport> {
  const dir = makeTempDir(`lifecycle-${mode}`);
  try {
    const args: LifecycleArgs = { dir, events, sampleEvery, rate: LIFECYCLE.rate, meters: LIFECYCLE.meters, keep: mode === 'scavenge' ? LIFECYCLE.keep : null, everyMs: mode === 'scavenge' ? LIFECYCLE.everyMs : null };
    const prof = process.env.LIFECYCLE_PROF;
    const { result } = await runChild<LifecycleReport>(CHILD, [JSON.stringify(args)], prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}/${mode}`] : []);
    if (result.load.errors) throw new Error(`${mode}: ${result.load.errors} commands failed: ${result.load.firstError}`);
    return result;
  } finally {
    removeTempDir(dir);
  }
}

export const lifecycleSuite: Suite = {
  name: 'lifecycle',
  figures: ['lifecycle.p99', 'lifecycle.p50', 'lifecycle.logSize'],
  // Two fresh runtimes ingesting 200k events each took 45-64 s on the shared 2-core box (load 12-20),
  // over the ~20 s a quick run can spare for it.
  notInQuick: 'two runtimes ingesting 200k events each take 45-64 s on the busy box; run npm run bench -- --quick --only lifecycle',
  steps: () => MODES.length,
  async run(ctx) {
    const s = sizes(ctx.quick);
    const r = {} as Record<(typeof MODES)[number], LifecycleReport>;
    for (const mode of MODES) {
      ctx.step(`${mode}: ${s.events.toLocaleString('en')} events into one stream, ${LIFECYCLE.rate} Record/s alongside`);
      r[mode] = await runMode(mode, s.events, s.sampleEvery);
    }
    const { baseline: b, scavenge: v } = r;
    const size = `${(s.events / 1000).toFixed(0)}k events (RecordMany of 1 000) into one meter stream while ${LIFECYCLE.rate} Record cmd/s (open loop, from due time) go to ${LIFECYCLE.meters} other meters${ctx.quick ? ' (quick size)' : ''}`;
    const loadNote = (x: LifecycleReport): string =>
      `${x.load.answered} commands in ${f1(x.ingestS)} s of ingest, p50 ${x.load.p50.toFixed(1)} ms, p99 ${x.load.p99.toFixed(1)} ms, max ${x.load.max.toFixed(0)} ms${x.load.shed ? `, ${x.load.shed} shed` : ''}; loadavg ${load(x.loadavg.before)} -> ${load(x.loadavg.after)}`;
    const scav = `${v.streamStart - 1} events removed, ${v.passes} passes seen of ${v.ticks} timer ticks (longest queue ${v.maxQueued} ticks), passes ${(v.passWallMs / 1000).toFixed(1)} s (longest ${(v.passMaxMs / 1000).toFixed(1)} s); ${steps('prefix', v.steps.removeStreamPrefix)}; ${steps('index', v.steps.trimPartition)}`;
    ctx.figure(
      measured('lifecycle.p99', {
        value: v.load.p99,
        baseline: { name: 'no retention p99', value: b.load.p99, unit: 'ms' },
        note: `${size}; maxCount ${LIFECYCLE.keep}, scavenge every ${LIFECYCLE.everyMs} ms: ${loadNote(v)}; ${scav}. Baseline (no retention): ${loadNote(b)}`,
      }),
    );
    ctx.figure(measured('lifecycle.p50', { value: v.load.p50, baseline: { name: 'no retention p50', value: b.load.p50, unit: 'ms' }, note: 'same runs' }));
    const curve = (x: LifecycleReport): string => x.samples.map((p) => f1(mib(p.logBytes))).join(', ');
    ctx.figure(
      measured('lifecycle.logSize', {
        value: mib(v.logBytesEnd),
        baseline: { name: 'no retention', value: mib(b.logBytesEnd), unit: 'MiB' },
        note: `log.mdb at the end of the ingest (empty runtime + warm-up: ${f1(mib(v.logBytesStart))} MiB); every ${s.sampleEvery / 1000}k events, with maxCount: ${curve(v)}; no retention: ${curve(b)}; per-window load p99 with maxCount (ms): ${v.samples.map((p) => p.p99.toFixed(0)).join(', ')}, no retention: ${b.samples.map((p) => p.p99.toFixed(0)).join(', ')}`,
      }),
    );
    ctx.curve({
      id: 'lifecycle-log-size',
      title: `log.mdb while ${(s.events / 1000).toFixed(0)}k events go into one stream (maxCount ${LIFECYCLE.keep}, scavenge every ${LIFECYCLE.everyMs} ms)`,
      xLabel: 'events ingested (thousands)',
      yLabel: 'log.mdb (MiB)',
      series: MODES.map((m) => ({ name: m === 'baseline' ? 'no retention' : `maxCount ${LIFECYCLE.keep}`, points: r[m].samples.map((p): [number, number] => [p.events / 1000, mib(p.logBytes)]) })),
    });
    ctx.info(`lifecycle: ${JSON.stringify({ baseline: b, scavenge: v })}`);
  },
};
