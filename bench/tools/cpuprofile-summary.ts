/**
 * Summarises `.cpuprofile` files written by `node --cpu-prof` (one per thread): self time per function
 * and total time of the top frames, so a README can say where the time goes without opening DevTools.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/run.ts --only throughput
 *   node --import tsx bench/tools/cpuprofile-summary.ts /tmp/prof [top=25]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FrameCost {
  name: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  idleMs: number;
  busyMs: number;
  frames: FrameCost[];
}

function label(f: CallFrame): string {
  const file = f.url ? basename(f.url.replace(/^file:\/\//, '')) : '';
  return `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`;
}

export function summarise(path: string): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const name = label(node.callFrame);
    if (node.callFrame.functionName === '(idle)') idle += us;
    self.set(name, (self.get(name) ?? 0) + us);
    // Total time: charge each distinct frame name on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = label(byId.get(cur)!.callFrame);
      if (seen.has(n)) continue;
      seen.add(n);
      total.set(n, (total.get(n) ?? 0) + us);
    }
  }
  const wall = (p.endTime - p.startTime) / 1000;
  const frames = [...self.entries()]
    .map(([name, us]) => ({ name, selfMs: us / 1000, totalMs: (total.get(name) ?? us) / 1000 }))
    .sort((a, b) => b.selfMs - a.selfMs);
  return { file: basename(path), wallMs: wall, idleMs: idle / 1000, busyMs: wall - idle / 1000, frames };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const target = process.argv[2] ?? '.';
  const top = Number(process.argv[3] ?? 25);
  const files = statSync(target).isDirectory()
    ? readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(target, f))
    : [target];
  for (const f of files) {
    const s = summarise(f);
    console.log(`\n== ${s.file}: wall ${s.wallMs.toFixed(0)} ms, busy ${s.busyMs.toFixed(0)} ms`);
    for (const fr of s.frames.slice(0, top)) {
      console.log(`${fr.selfMs.toFixed(1).padStart(9)} ms self ${fr.totalMs.toFixed(1).padStart(9)} ms total  ${fr.name}`);
    }
  }
}
