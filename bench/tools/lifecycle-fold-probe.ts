/**
 * What the stream-deletion handling costs hydration's hot loop: the decider's own evolve against
 * `streamFold`'s (which checks each event for the runtime's `$` types and keeps the stream's lifecycle),
 * over the same in-memory account events, interleaved, median of 10 runs. No log and no decoding: this
 * isolates the per-event check (a real fold also decodes each event, which costs far more).
 *
 *   node --import tsx bench/tools/lifecycle-fold-probe.ts [events=1000000]
 */
import { accountDecider, type AnyDecider } from '../../src/domain/index.js';
import { streamFold } from '../../src/runtime/index.js';

const n = Number(process.argv[2] ?? 1_000_000);
const decider = accountDecider as unknown as AnyDecider;
const events = [{ type: 'AccountOpened', data: { owner: 'a' } }, ...Array.from({ length: n - 1 }, () => ({ type: 'Deposited', data: { amount: 1 } }))];

function foldWith(evolve: (s: unknown, e: { type: string; data: unknown }) => unknown): unknown {
  let s: unknown = decider.initialState();
  for (const e of events) s = evolve(s, e);
  return s;
}
const plain = (): unknown => foldWith((s, e) => decider.evolve(s, e as never));
const lifecycle = (): unknown => foldWith(streamFold(decider).evolve);
const ms = (f: () => unknown): number => {
  const t = performance.now();
  f();
  return performance.now() - t;
};
for (let i = 0; i < 3; i++) ms(plain), ms(lifecycle);
const a: number[] = [];
const b: number[] = [];
for (let i = 0; i < 10; i++) a.push(ms(plain)), b.push(ms(lifecycle));
const median = (x: number[]): number => x.sort((p, q) => p - q)[x.length >> 1]!;
const rate = (t: number): string => `${(n / t / 1000).toFixed(1)} M events/s`;
console.log(`fold of ${n} events: decider.evolve ${rate(median(a))}, streamFold ${rate(median(b))} (${((median(b) / median(a)) * 100).toFixed(0)}% of the time)`);
