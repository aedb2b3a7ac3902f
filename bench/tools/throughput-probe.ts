/**
 * A quick, repeatable look at durable command throughput and CPU per command, for profiling changes
 * to the command path without running the whole suite:
 *
 *   node --import tsx bench/tools/throughput-probe.ts [seconds=5] [accounts=10000]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/tools/throughput-probe.ts
 *
 * Same workload as the throughput figure (round-robin Deposits, 4096 callers, default options).
 */
import { cpuUsage } from 'node:process';
import { closedLoop, runCount } from '../support/drive.js';
import { tenThousandAccounts } from '../support/fixtures.js';
import { accountIds, depositer, startRuntime } from '../support/runtime.js';
import { removeTempDir } from '../support/tmp.js';

const seconds = Number(process.argv[2] ?? 5);
const accounts = Number(process.argv[3] ?? 10_000);
const dir = await tenThousandAccounts('probe');
const rt = await startRuntime(dir);
try {
  const send = depositer(rt, accountIds(accounts));
  await runCount(accounts, 4096, send);
  await closedLoop(1000, 4096, send);
  const cpu0 = cpuUsage();
  const r = await closedLoop(seconds * 1000, 4096, send);
  const cpu = cpuUsage(cpu0);
  const n = r.ops;
  console.log(`${Math.round(r.rate)} cmd/s, ${((cpu.user + cpu.system) / n).toFixed(1)} us CPU/command (user ${(cpu.user / n).toFixed(1)}, sys ${(cpu.system / n).toFixed(1)}), ${r.errors} errors`);
} finally {
  await rt.close();
  removeTempDir(dir);
}
