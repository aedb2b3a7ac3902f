import { PARTITIONS, startRuntime } from '../support/runtime.js';
import { seedAccounts } from '../support/seed.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';
import { summarise } from '../support/stats.js';
const dir = makeTempDir('gc');
const N = 2000;
const seeded = [];
for (let i = 0; i < N; i++) seeded.push({ id: `m-${i}`, events: 150 });
await seedAccounts(dir, seeded, { partitions: PARTITIONS, snapshotEvery: 100, chunk: 20000 });
const rt = await startRuntime(dir, { workerPlugins: [], stateCacheSize: 0, coldLoads: (process.env.MODE ?? 'log') as 'log' });
for (let i = 0; i < N; i++) await rt.load('account', `m-${i}`);
console.error('--- measuring');
const t = new Float64Array(N * 3);
let k = 0;
for (let pass = 0; pass < 3; pass++) for (let i = 0; i < N; i++) { const t0 = performance.now(); await rt.load('account', `m-${i}`); t[k++] = (performance.now() - t0) * 1000; }
const s = summarise(t);
console.error('p50', s.p50.toFixed(1), 'p99', s.p99.toFixed(1), 'max', s.max.toFixed(0));
await rt.close();
removeTempDir(dir);
