/**
 * The fold of a snapshot's tail alone (`log.foldStream(type, id, 101, 150)` of 150-event streams, the
 * cold-load figure's shape), CPU time per fold on one thread: for comparing fold strategies (pages
 * over the range vs event by event) in separate runs on the same data.
 *
 *   node --import tsx bench/tools/fold-tail-probe.ts [streams=2000] [passes=20] [from=101] [to=150]
 */
import { LmdbLog } from '../../src/log/index.js';
import { seedAccounts, accounts } from '../support/seed.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

const [streams = 2000, passes = 20, from = 101, to = 150] = process.argv.slice(2).map(Number);
const dir = await makeTempDir('fold-tail');
try {
  await seedAccounts(dir, accounts('f', streams, 150), { partitions: 16, snapshotEvery: 100, chunk: 20_000 });
  const log = LmdbLog.open(dir, { readOnly: true });
  const ids = Array.from(accounts('f', streams, 150), (s) => s.id);
  const evolve = (n: number): number => n + 1;
  let paged = 0;
  for (const id of ids) log.foldStream('account', id, from, to, 0, evolve); // warm the page cache
  const c0 = process.cpuUsage();
  for (let p = 0; p < passes; p++) for (const id of ids) paged += log.foldStream('account', id, from, to, 0, evolve).paged;
  const c = process.cpuUsage(c0);
  const folds = passes * ids.length;
  console.log(`${folds} folds of ${from}..${to}: ${((c.user + c.system) / folds).toFixed(2)} us CPU per fold; ${(paged / folds).toFixed(1)} events per fold from pages`);
  await log.close();
} finally {
  removeTempDir(dir);
}
