import { accountDecider } from '../../src/domain/account.js';
import { LmdbLog } from '../../src/log/index.js';
import { hydrate } from '../../src/runtime/index.js';
import { seedAccounts } from '../support/seed.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
const dir = makeTempDir('micro');
const N = 3000;
const seeded = [];
for (let i = 0; i < N; i++) seeded.push({ id: `c-${i}`, events: 150 }, { id: `s-${i}`, events: 3 });
await seedAccounts(dir, seeded, { partitions: 16, snapshotEvery: 100, chunk: 20000 });
const log = LmdbLog.open(dir, { partitions: 16 });
const ev = (s: any, e: any) => accountDecider.evolve(s, e);
function cpu(label: string, fn: (i: number) => unknown, reps = 3) {
  const res: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) fn(i);
    const c = process.cpuUsage(c0);
    res.push((c.user + c.system) / N);
  }
  res.sort((a, b) => a - b);
  console.log(label.padEnd(28), 'cpu us/op (min of', reps, ')', res[0]!.toFixed(2), 'median', res[1]!.toFixed(2));
}
for (let round = 0; round < 2; round++) {
cpu('hydrate c (150)', (i) => hydrate(log, accountDecider, 'account', `c-${i}`));
cpu('hydrate s (3)', (i) => hydrate(log, accountDecider, 'account', `s-${i}`));
cpu('streamHead', (i) => log.streamHead('account', `c-${i}`));
cpu('snapshotAtOrBelow', (i) => log.snapshotAtOrBelow('account', `c-${i}`, 150));
cpu('fold 101..150', (i) => log.foldStream('account', `c-${i}`, 101, 150, accountDecider.initialState(), ev));
cpu('fold 101..101', (i) => log.foldStream('account', `c-${i}`, 101, 101, accountDecider.initialState(), ev));
cpu('fold 1..64 (1 page)', (i) => log.foldStream('account', `c-${i}`, 1, 64, accountDecider.initialState(), ev));
cpu('readStream 101..150', (i) => log.readStream('account', `c-${i}`, 101, 50));
cpu('refresh+streamHead', (i) => { log.refreshReads(); log.streamHead('account', `c-${i}`); });
}
await log.close();
removeTempDir(dir);
