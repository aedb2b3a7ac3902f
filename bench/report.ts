/**
 * The tables `npm run bench` prints, the peers table (suites/peers.ts: eventide next to what a user
 * would pick instead) first, then the figures (figure, value, unit, baseline, ratio, target, met?), and
 * the files it writes: `latest.json` (peers, figures, curves, machine, node version, git commit) and
 * `table.md` (the same tables in Markdown, for bench/README.md).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Figure } from './figures.js';
import type { Curve, PeerRow, PeerTable } from './support/context.js';

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
  /** Null when the peers suite did not run (`--only` without it). */
  peers: PeerTable | null;
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

/** Columns padded to a common width; `right` columns are right-aligned (numbers). */
function alignedText(head: string[], body: string[][], right: (i: number) => boolean): string {
  const width = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (right(i) ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join('  ');
  return [line(head), width.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function markdown(head: string[], body: string[][], right: (i: number) => boolean): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [`| ${head.map(esc).join(' | ')} |`, `|${head.map((_, i) => (right(i) ? '---:' : '---')).join('|')}|`, ...body.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

const figureRight = (i: number): boolean => COLS[i] === 'value' || COLS[i] === 'ratio';

export function textTable(figures: Figure[]): string {
  return alignedText(
    COLS.map((c) => HEAD[c]),
    rows(figures).map((r) => COLS.map((c) => r[c])),
    figureRight,
  );
}

export function markdownTable(figures: Figure[]): string {
  return markdown(
    [...COLS.map((c) => HEAD[c]), 'note'],
    rows(figures).map((r, i) => [...COLS.map((c) => r[c]), figures[i]!.note]),
    figureRight,
  );
}

function peerHead(t: PeerTable): string[] {
  const at = `at ${formatNumber(t.openRate)}/s`;
  return ['peer', 'durable?', 'cmd/s', 'p50 ms', 'p99 ms', `p50 ms ${at}`, `p99 ms ${at}`, 'CPU us/cmd'];
}

function peerCells(r: PeerRow): string[] {
  const n = (v: number | null): string => (r.available ? formatNumber(v) : '-');
  return [r.peer, r.durable, r.available ? formatNumber(r.commandsPerSec) : 'n/a', n(r.p50Ms), n(r.p99Ms), n(r.openP50Ms), n(r.openP99Ms), n(r.cpuUsPerCommand)];
}

const peerRight = (i: number): boolean => i >= 2 && i <= 7;

function peersPreamble(t: PeerTable): string {
  const la = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' / ');
  return `${t.workload}. Latencies at capacity (closed loop) run from send to answer; at ${formatNumber(t.openRate)}/s from each command's due time. Load average (1/5/15 min) at the start: ${la(t.loadavg.before)}, at the end: ${la(t.loadavg.after)}.`;
}

export function peersText(t: PeerTable): string {
  return `${alignedText(peerHead(t), t.rows.map(peerCells), peerRight)}\n${t.rows.map((r) => `- ${r.peer}: ${r.note}`).join('\n')}`;
}

export function peersMarkdown(t: PeerTable): string {
  return `${peersPreamble(t)}\n\n${markdown(
    [...peerHead(t), 'note'],
    t.rows.map((r) => [...peerCells(r), r.note]),
    peerRight,
  )}`;
}

export function writeResults(outDir: string, results: Results): string {
  const path = join(outDir, 'latest.json');
  writeFileSync(path, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(
    join(outDir, 'table.md'),
    `Run ${results.meta.date}, ${results.meta.mode} mode, \`${results.meta.command}\`, ${results.meta.durationSec.toFixed(0)} s; ` +
      `${results.meta.cpu.count} x ${results.meta.cpu.model}, node ${results.meta.node}, commit ${results.meta.git.commit.slice(0, 12)}${results.meta.git.dirty ? ' (uncommitted changes)' : ''}.\n\n` +
      (results.peers ? `### Peers: the same workload on what a user would pick instead\n\n${peersMarkdown(results.peers)}\n\n` : '') +
      (results.figures.length ? `${results.peers ? '### Figures\n\n' : ''}${markdownTable(results.figures)}\n` : ''),
  );
  return path;
}
