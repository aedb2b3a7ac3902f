/**
 * Full hydration of one long stream vs the raw-scan baseline, in one process, without the rest of the
 * suite: for profiling the fold path.
 *
 *   node --import tsx bench/tools/hydration-probe.ts [events=300000] [rounds=5]
 */
import { accountDecider, type AnyDecider } from '../../src/domain/index.js';
import { LmdbLog } from '../../src/log/index.js';
import { hydrate } from '../../src/runtime/index.js';
import { RawLog } from '../baselines/raw-scan.js';
import { PARTITIONS } from '../support/runtime.js';
import { seedAccounts } from '../support/seed.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

const events = Number(process.argv[2] ?? 300_000);
const rounds = Number(process.argv[3] ?? 5);
// A snapshot version no stored snapshot has: hydrate folds the whole stream.
const noSnapshots: AnyDecider = { ...accountDecider, snapshotVersion: -1 };
const dir = makeTempDir('hydration-probe');
try {
  await seedAccounts(dir, [{ id: 'long', events }], { partitions: PARTITIONS, snapshotEvery: 100, chunk: 20_000 });
  const log = LmdbLog.open(dir, { partitions: PARTITIONS });
  const raw = RawLog.open(dir);
  for (let r = 0; r < rounds; r++) {
    let t0 = performance.now();
    const sc = raw.scan('account', 'long');
    const scanRate = sc.events / ((performance.now() - t0) / 1000);
    t0 = performance.now();
    const h = hydrate(log, noSnapshots, 'account', 'long');
    const rate = h.folded / ((performance.now() - t0) / 1000);
    console.log(`raw-scan ${Math.round(scanRate)} events/s, hydrate ${Math.round(rate)} events/s (${(rate / scanRate).toFixed(2)}x)`);
  }
  await raw.close();
  await log.close();
} finally {
  removeTempDir(dir);
}
