/**
 * The one table `npm run bench` prints (figure, value, unit, baseline, ratio, target, met?) and the
 * files it writes: `latest.json` (figures, curves, machine, node version, git commit) and `table.md`
 * (the same table in Markdown, for bench/README.md).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './figures.js';
import type { Curve } from './support/context.js';

export interface RunMeta {
  date: string;
  mode: 'quick' | 'full';
  command: string;
  durationSec: number;
  cpu: { count: number; model: string };
  memoryMiB: number;
  loadavgAtStart: number[];
  node: string;
  platform: string;
  git: { commit: string; dirty: boolean };
  suiteSeconds: Record<string, number>;
  failedSuites: Array<{ suite: string; error: string }>;
}

export interface Results {
  meta: RunMeta;
  figures: Figure[];
  curves: Curve[];
}

export function machineMeta(): Pick<RunMeta, 'cpu' | 'memoryMiB' | 'loadavgAtStart' | 'node' | 'platform' | 'git'> {
  const c = cpus();
  return {
    cpu: { count: c.length, model: c[0]?.model.trim() ?? 'unknown' },
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    git: gitInfo(),
  };
}

function gitInfo(): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8' }).trim().length > 0;
    return { commit, dirty };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

/** Three significant digits below 1000, thousands separators above. */
export function formatNumber(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(3);
}

interface Row {
  figure: string;
  value: string;
  unit: string;
  baseline: string;
  ratio: string;
  target: string;
  met: string;
}

function rows(figures: Figure[]): Row[] {
  return figures.map((f) => ({
    figure: f.label,
    value: f.available ? formatNumber(f.value) : 'n/a',
    unit: f.unit,
    baseline: f.baseline ? `${f.baseline.name} ${formatNumber(f.baseline.value)} ${f.baseline.unit}` : '-',
    ratio: f.ratio === null ? '-' : `${f.ratio.toFixed(f.ratio >= 10 ? 0 : 2)}x`,
    target: f.target,
    met: !f.available ? 'not available' : f.met === null ? '-' : f.met ? 'yes' : 'NO',
  }));
}

const HEAD: Row = { figure: 'figure', value: 'value', unit: 'unit', baseline: 'baseline', ratio: 'ratio', target: 'target', met: 'met?' };
const COLS = Object.keys(HEAD) as Array<keyof Row>;

export function textTable(figures: Figure[]): string {
  const all = [HEAD, ...rows(figures)];
  const width = COLS.map((c) => Math.max(...all.map((r) => r[c].length)));
  const line = (r: Row): string => COLS.map((c, i) => (c === 'value' || c === 'ratio' ? r[c].padStart(width[i]!) : r[c].padEnd(width[i]!))).join('  ');
  const sep = width.map((w) => '-'.repeat(w)).join('  ');
  return [line(HEAD), sep, ...all.slice(1).map(line)].join('\n');
}

export function markdownTable(figures: Figure[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [`| ${COLS.map((c) => HEAD[c]).join(' | ')} | note |`, `|${COLS.map((c) => (c === 'value' || c === 'ratio' ? '---:' : '---')).join('|')}|---|`];
  rows(figures).forEach((r, i) => out.push(`| ${COLS.map((c) => esc(r[c])).join(' | ')} | ${esc(figures[i]!.note)} |`));
  return out.join('\n');
}

export function writeResults(outDir: string, results: Results): string {
  const path = join(outDir, 'latest.json');
  writeFileSync(path, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(
    join(outDir, 'table.md'),
    `Run ${results.meta.date}, ${results.meta.mode} mode, \`${results.meta.command}\`, ${results.meta.durationSec.toFixed(0)} s; ` +
      `${results.meta.cpu.count} x ${results.meta.cpu.model}, node ${results.meta.node}, commit ${results.meta.git.commit.slice(0, 12)}${results.meta.git.dirty ? ' (uncommitted changes)' : ''}.\n\n` +
      markdownTable(results.figures) +
      '\n',
  );
  return path;
}
