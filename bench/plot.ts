/**
 * Hand-written SVG line charts (no dependency): linear or log10 axes, tick labels, one polyline with
 * point markers per series, a legend. `writePlots` writes one `<curve id>.svg` per curve next to
 * `latest.json`, linked from bench/README.md.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Curve } from './support/context.js';

const W = 760;
const H = 440;
const M = { left: 84, right: 24, top: 48, bottom: 64 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

interface Axis {
  log: boolean;
  min: number;
  max: number;
  ticks: number[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1.2k, 10k, 1M, 0.05: short tick labels. */
export function shortNumber(n: number): string {
  const a = Math.abs(n);
  const trim = (x: number): string => String(Number(x.toPrecision(3)));
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= 1e3) return `${trim(n / 1e3)}k`;
  return trim(n);
}

function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * pow;
}

function axis(values: number[], log: boolean, integerTicks = false): Axis {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  if (finite.length === 0) return { log, min: log ? 1 : 0, max: log ? 10 : 1, ticks: log ? [1, 10] : [0, 1] };
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (log) {
    const a = Math.floor(Math.log10(lo));
    let b = Math.ceil(Math.log10(hi));
    if (b === a) b = a + 1;
    const ticks: number[] = [];
    for (let e = a; e <= b; e++) ticks.push(10 ** e);
    return { log, min: 10 ** a, max: 10 ** b, ticks };
  }
  if (lo > 0 && lo / hi < 0.5) lo = 0;
  if (hi === lo) {
    hi = lo + 1;
    lo = Math.max(0, lo - 1);
  }
  let step = niceStep(hi - lo, 5);
  if (integerTicks) step = Math.max(1, Math.round(step));
  const min = Math.floor(lo / step) * step;
  const max = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = min; t <= max + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { log, min, max, ticks };
}

function scaler(a: Axis, from: number, to: number): (v: number) => number {
  const f = a.log ? Math.log10 : (v: number) => v;
  const lo = f(a.min);
  const hi = f(a.max);
  return (v) => from + ((f(v) - lo) / (hi - lo || 1)) * (to - from);
}

export function renderChart(c: Curve): string {
  const xs = c.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = c.series.flatMap((s) => s.points.map((p) => p[1]));
  const xa = axis(xs, c.xLog ?? false, xs.every(Number.isInteger) && !c.xLog);
  const ya = axis(ys, c.yLog ?? false);
  const x = scaler(xa, M.left, W - M.right);
  const y = scaler(ya, H - M.bottom, M.top);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(c.title)}</text>`);
  for (const t of ya.ticks) {
    const py = y(t).toFixed(1);
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py}" y2="${py}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${M.left - 8}" y="${py}" text-anchor="end" dominant-baseline="middle">${shortNumber(t)}</text>`);
  }
  for (const t of xa.ticks) {
    const px = x(t).toFixed(1);
    out.push(`<line x1="${px}" x2="${px}" y1="${M.top}" y2="${H - M.bottom}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${px}" y="${H - M.bottom + 18}" text-anchor="middle">${shortNumber(t)}</text>`);
  }
  out.push(`<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 18}" text-anchor="middle">${esc(c.xLabel)}${xa.log ? ' (log)' : ''}</text>`);
  out.push(`<text transform="translate(20 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}${ya.log ? ' (log)' : ''}</text>`);
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.filter(([px, py]) => Number.isFinite(px) && Number.isFinite(py) && (!xa.log || px > 0) && (!ya.log || py > 0));
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ')}"/>`);
    for (const [px, py] of pts) {
      out.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(s.name)}: ${shortNumber(px)} -> ${shortNumber(py)}</title></circle>`);
    }
    const ly = M.top + 16 + i * 18;
    out.push(`<line x1="${M.left + 12}" x2="${M.left + 36}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${M.left + 42}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export function writePlots(outDir: string, curves: Curve[]): string[] {
  return curves.map((c) => {
    const file = join(outDir, `${c.id}.svg`);
    writeFileSync(file, renderChart(c));
    return file;
  });
}
