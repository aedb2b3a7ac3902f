/**
 * Latency of one in-process command under a fixed offered load (open loop, measured from the moment
 * each command was due): the p99 at half the measured throughput and at 1,000 and 5,000 cmd/s (the
 * figures, issue 13), and p50/p99 across
 * offered loads around it (the curve, whose knee is the capacity). Runs on the throughput suite's
 * warm runtime, right after its last round.
 */
import { rawFlushLatency } from '../baselines/raw-flush.js';
import { measured } from '../figures.js';
import type { BenchContext } from '../support/context.js';
import { openLoop } from '../support/drive.js';
import { summarise } from '../support/stats.js';

export const latencySizes = (quick: boolean) =>
  quick ? { halfMs: 800, pointMs: 400, fractions: [0.25, 1.0] } : { halfMs: 8000, pointMs: 4000, fractions: [0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.1] };

/** The fixed offered loads issue 13 names (p99 <= 5 ms at both). */
const FIXED_RATES = [
  [1000, 'latency.1k.p99'],
  [5000, 'latency.5k.p99'],
] as const;

export function latencySteps(quick: boolean): number {
  return 1 + FIXED_RATES.length + latencySizes(quick).fractions.length;
}

export async function latencyFigures(ctx: BenchContext, send: () => Promise<unknown>, capacity: number): Promise<void> {
  const s = latencySizes(ctx.quick);
  const half = Math.max(100, Math.round(capacity / 2));
  ctx.step(`latency: p99 at ${half} cmd/s`);
  const r = await openLoop(half, s.halfMs, send);
  const l = summarise(r.latenciesMs);
  // The disk's own floor, measured now: one put + fsync at a time (see baselines/raw-flush.ts).
  const disk = await rawFlushLatency(ctx.quick ? 50 : 300);
  const note = `raw-flush (one put + fsync at a time): p50 ${disk.p50.toFixed(1)} ms, p99 ${disk.p99.toFixed(1)} ms; open loop at ${half} cmd/s (half the measured capacity), ${s.halfMs / 1000} s, ${l.n} commands, achieved ${Math.round(r.achieved)}/s${r.shed ? `, ${r.shed} shed (backlog > ${Math.max(1000, half)})` : ''}${r.errors ? `, ${r.errors} errors: ${r.firstError}` : ''}`;
  ctx.figure(measured('latency.half.p99', { value: l.p99, baseline: { name: 'raw-flush p99', value: disk.p99, unit: 'ms' }, note }));
  ctx.figure(measured('latency.half.p50', { value: l.p50, baseline: { name: 'raw-flush p50', value: disk.p50, unit: 'ms' }, note: `same run; max ${l.max.toFixed(1)} ms` }));

  for (const [rate, id] of FIXED_RATES) {
    ctx.step(`latency: p99 at ${rate} cmd/s`);
    const f = await openLoop(rate, s.halfMs, send);
    const fl = summarise(f.latenciesMs);
    const fnote = `open loop at ${rate} cmd/s for ${s.halfMs / 1000} s from each command's due time, ${fl.n} commands, achieved ${Math.round(f.achieved)}/s; p50 ${fl.p50.toFixed(2)} ms, max ${fl.max.toFixed(1)} ms${f.shed ? `, ${f.shed} shed` : ''}${f.errors ? `, ${f.errors} errors: ${f.firstError}` : ''}`;
    ctx.figure(measured(id, { value: fl.p99, baseline: { name: 'raw-flush p99', value: disk.p99, unit: 'ms' }, note: fnote }));
  }

  const p50: Array<[number, number]> = [[half, l.p50]];
  const p99: Array<[number, number]> = [[half, l.p99]];
  for (const f of s.fractions) {
    const rate = Math.max(100, Math.round(capacity * f));
    if (rate === half) continue;
    ctx.step(`latency at ${rate} cmd/s`);
    const ps = summarise((await openLoop(rate, s.pointMs, send)).latenciesMs);
    p50.push([rate, ps.p50]);
    p99.push([rate, ps.p99]);
  }
  const byRate = (a: [number, number], b: [number, number]): number => a[0] - b[0];
  ctx.curve({
    id: 'latency-vs-load',
    title: `In-process command latency vs offered load (capacity ~${Math.round(capacity)} cmd/s)`,
    xLabel: 'offered load (commands/s)',
    yLabel: 'latency (ms)',
    yLog: true,
    series: [
      { name: 'p50', points: p50.sort(byRate) },
      { name: 'p99', points: p99.sort(byRate) },
    ],
  });
}
