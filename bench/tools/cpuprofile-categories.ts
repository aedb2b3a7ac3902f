/**
 * Splits each thread's CPU profile into the stages of a command (wire, validation, decide/evolve,
 * record encoding, LMDB writes and reads, projection, hydration, GC, ...): every sample goes to the
 * nearest frame on its stack that belongs to a stage, walking from the leaf up.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx <script>
 *   node --import tsx bench/tools/cpuprofile-categories.ts /tmp/prof [minBusyMs=500]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

type Rule = [category: string, test: (fn: string, file: string) => boolean];

/** The actor host and the modules it is composed of (src/runtime/actor-host.ts); reply-codec.ts's decode runs on the main side. */
const ACTOR_HOST_FILES = new Set(['actor-host.ts', 'mailbox.ts', 'drain-pipeline.ts', 'command-runner.ts', 'append-planner.ts', 'reply-codec.ts', 'plugin-host.ts', 'stopped-partitions.ts']);

// Order matters only between rules that can match the same frame.
const RULES: Rule[] = [
  ['gc', (fn) => fn === '(garbage collector)'],
  ['idle', (fn) => fn === '(idle)'],
  ['wire (msgpackr batches across threads)', (_f, file) => file === 'wire.ts'],
  ['postMessage', (fn) => fn === 'postMessage'],
  ['record encode (msgpackr + crc32)', (fn) => fn === 'encodeRecord'],
  ['record decode (crc32 + msgpackr)', (fn) => fn === 'decodeRecord'],
  ['projection (balances view, live)', (_f, file) => file === 'worker-projector.ts' || file === 'view-store.ts' || file === 'balances.ts'],
  ['upcast (versioned events: decode, stamp)', (_f, file) => file === 'upcast.ts' || file === 'versioned-log.ts'],
  ['hydrate (cold actors)', (fn) => fn === 'hydrate'],
  ['lmdb put (key encoding, write instructions)', (fn, file) => file === 'write.js' || (file === 'index.js' && fn === 'writeKey')],
  ['lmdb read', (_f, file) => file === 'read.js'],
  ['decide + evolve', (_f, file) => file === 'account.ts'],
  ['validation (ajv, ids)', (fn, file) => file === 'ids.ts' || /validate/.test(fn)],
  ['router main side (execute, slot, settle)', (fn, file) => file === 'create-runtime.ts' || file === 'command-validation.ts' || file === 'worker-slot.ts' || (file === 'reply-codec.ts' && fn === 'decodeResult')],
  ['actor host (mailbox, drain, reply)', (_f, file) => ACTOR_HOST_FILES.has(file)],
  ['load generator (bench)', (_f, file) => file === 'drive.ts' || file === 'runtime.ts'],
  ['module loading (start-up)', (fn, file) => /hooks|loader|register/.test(file) || fn === 'compileSourceTextModule' || /^(makeSyncRequest|waitForWorker)$/.test(fn)],
  ['(program) native', (fn) => fn === '(program)'],
];

export function categorise(path: string): { wallMs: number; byCategory: Map<string, number> } {
  const p = JSON.parse(readFileSync(path, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
  const byId = new Map<number, Node>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const memo = new Map<number, string>();
  const categoryOf = (id: number): string => {
    const known = memo.get(id);
    if (known) return known;
    let cat = 'other';
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const file = basename(f.url.replace(/^file:\/\//, ''));
      const hit = RULES.find(([, test]) => test(f.functionName, file));
      if (hit) {
        cat = hit[0];
        break;
      }
    }
    memo.set(id, cat);
    return cat;
  };
  const byCategory = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const c = categoryOf(p.samples[i]!);
    byCategory.set(c, (byCategory.get(c) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  return { wallMs: (p.endTime - p.startTime) / 1000, byCategory };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? '.';
  const minBusy = Number(process.argv[3] ?? 500);
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).sort()) {
    const { wallMs, byCategory } = categorise(join(dir, f));
    const busy = wallMs - (byCategory.get('idle') ?? 0);
    if (busy < minBusy) continue;
    console.log(`\n== ${f}: wall ${wallMs.toFixed(0)} ms, busy ${busy.toFixed(0)} ms`);
    for (const [c, ms] of [...byCategory].sort((a, b) => b[1] - a[1])) {
      if (c === 'idle') continue;
      console.log(`${ms.toFixed(0).padStart(7)} ms ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${c}`);
    }
  }
}
