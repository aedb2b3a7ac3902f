/**
 * The longest stretches a thread spent without an idle sample in a `node --cpu-prof` profile, each with
 * the functions on the stack in most of its samples: where a stall's "loop-blocked" time went.
 *
 *   node --import tsx bench/tools/profile-blocks.ts <file.cpuprofile> [blocks=5] [frames=14]
 *
 * A stretch is a run of consecutive samples none of which is `(idle)`; its length is from its first
 * sample to its last. A function's share is the fraction of the stretch's samples with it on the stack.
 */
import { readFileSync } from 'node:fs';
import type { Profile, ProfileNode } from './cpuprofile-summary.js';

const [file, blocksArg, framesArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-blocks.ts <file.cpuprofile> [blocks=5] [frames=14]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const label = (n: ProfileNode): string => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').pop() ?? ''}:${n.callFrame.lineNumber + 1}`;
const stackOf = (id: number): Set<string> => {
  const out = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) out.add(label(nodes.get(at)!));
  return out;
};

interface Stretch {
  start: number;
  end: number;
  samples: number[];
}
const stretches: Stretch[] = [];
let current: Stretch | null = null;
let t = profile.startTime;
profile.samples.forEach((id, i) => {
  t += profile.timeDeltas[i]!;
  if (nodes.get(id)!.callFrame.functionName === '(idle)') {
    if (current) stretches.push(current);
    current = null;
    return;
  }
  current ??= { start: t, end: t, samples: [] };
  current.end = t;
  current.samples.push(id);
});
if (current) stretches.push(current);

stretches.sort((a, b) => b.end - b.start - (a.end - a.start));
for (const s of stretches.slice(0, Number(blocksArg ?? 5))) {
  const counts = new Map<string, number>();
  for (const id of s.samples) for (const f of stackOf(id)) counts.set(f, (counts.get(f) ?? 0) + 1);
  console.log(`${((s.end - s.start) / 1000).toFixed(1)} ms, ${s.samples.length} samples, ${((s.start - profile.startTime) / 1e6).toFixed(1)} s into the profile`);
  for (const [f, c] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, Number(framesArg ?? 14))) console.log(`  ${((100 * c) / s.samples.length).toFixed(1).padStart(5)} %  ${f}`);
}
