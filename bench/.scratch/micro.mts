import { accountDecider } from '/work/wt-coldload/src/domain/account.js';
import { LmdbLog } from '/work/wt-coldload/src/log/index.js';
import { hydrate } from '/work/wt-coldload/src/runtime/index.js';
import { seedAccounts } from '/work/wt-coldload/bench/support/seed.js';
import { makeTempDir, removeTempDir } from '/work/wt-coldload/bench/support/tmp.js';
import { summarise } from '/work/wt-coldload/bench/support/stats.js';
const dir = makeTempDir('micro');
const N = 3000;
const seeded = [];
for (let i = 0; i < N; i++) seeded.push({ id: `c-${i}`, events: 150 }, { id: `s-${i}`, events: 3 });
await seedAccounts(dir, seeded, { partitions: 16, snapshotEvery: 100, chunk: 20000 });
const log = LmdbLog.open(dir, { partitions: 16 });
function time(label: string, fn: (i: number) => unknown) {
  const t = new Float64Array(N);
  for (let i = 0; i < N; i++) { const t0 = performance.now(); fn(i); t[i] = (performance.now() - t0) * 1000; }
  const s = summarise(t); console.log(label, s.p50.toFixed(2), s.p99.toFixed(2), 'mean', s.mean.toFixed(2));
}
for (let r = 0; r < 2; r++) {
time('hydrate c', (i) => hydrate(log, accountDecider, 'account', `c-${i}`));
time('hydrate s', (i) => hydrate(log, accountDecider, 'account', `s-${i}`));
time('refresh+hydrate s', (i) => { log.refreshReads(); hydrate(log, accountDecider, 'account', `s-${i}`); });
time('streamHead', (i) => log.streamHead('account', `c-${i}`));
time('snapshotAtOrBelow', (i) => log.snapshotAtOrBelow('account', `c-${i}`));
time('fold 101..150', (i) => log.foldStream('account', `c-${i}`, 101, 150, {} as any, (s) => s));
time('fold 101..150 evolve', (i) => log.foldStream('account', `c-${i}`, 101, 150, accountDecider.initialState(), (s, e) => accountDecider.evolve(s as any, e as any)));
time('fold s 1..3', (i) => log.foldStream('account', `s-${i}`, 1, 3, {} as any, (s) => s));
time('refresh', () => log.refreshReads());
time('refresh+streamHead', (i) => { log.refreshReads(); log.streamHead('account', `c-${i}`); });
time('readEvent', (i) => log.readEvent('account', `c-${i}`, 150));
}
await log.close();
removeTempDir(dir);
