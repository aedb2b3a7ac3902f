/**
 * A quick look at the HTTP command path as the http suite measures it (load generator in its own
 * process), for profiling the server's main thread without running the whole suite:
 *
 *   node --import tsx bench/tools/http-probe.ts [seconds=8] [connections=64]
 *   PROBE_MAIN_PROFILE=/tmp/http-main.cpuprofile node --import tsx bench/tools/http-probe.ts
 *     (the server's main thread only, during the measured window only; summarise it with
 *     bench/tools/cpuprofile-summary.ts)
 *
 * Same workload as the http suite (Deposits over 10 000 accounts, a warm-up of one request per account).
 * Prints the commits of the measured window (requests per commit) and each thread's CPU per request.
 */
import { loadHttp } from '../baselines/fastify-floor.js';
import { tenThousandAccounts } from '../support/fixtures.js';
import { startRuntime } from '../support/runtime.js';
import { findServer } from '../support/server.js';
import { profileMainThread } from '../support/main-profile.js';
import { removeTempDir } from '../support/tmp.js';
import { perOperation, threadTicks } from '../support/threads.js';

const seconds = Number(process.argv[2] ?? 8);
const connections = Number(process.argv[3] ?? 64);
const ACCOUNTS = 10_000;
const factory = await findServer();
if (!factory) throw new Error('no server in src/server/app.ts');
const dir = await tenThousandAccounts('http-probe');
const rt = await startRuntime(dir);
const srv = await factory(rt);
try {
  await loadHttp(srv.url, { connections, seconds, accounts: ACCOUNTS, requests: ACCOUNTS });
  const stopProfile = await profileMainThread(process.env['PROBE_MAIN_PROFILE']);
  const commits = async () => (await rt.stats()).reduce((n, st) => n + st.batchesCommitted, 0);
  const commits0 = await commits();
  const ticks0 = threadTicks();
  const r = await loadHttp(srv.url, { connections, seconds, accounts: ACCOUNTS });
  const ticks1 = threadTicks();
  const batches = (await commits()) - commits0;
  await stopProfile();
  const n = Math.max(1, r.ok);
  console.log(`${batches} commits (${(n / Math.max(1, batches)).toFixed(1)} requests each); per request, by thread: ${perOperation(ticks0, ticks1, n)}`);
  console.log(`${Math.round(r.rate)} req/s, p50 ${r.p50ms} ms, p99 ${r.p99ms} ms, server CPU ${r.cpuUsPerRequest.toFixed(0)} us/req (main thread ${r.mainCpuUsPerRequest?.toFixed(0) ?? '?'}), generator ${r.generatorCpuUsPerRequest.toFixed(0)} us/req, ${r.non2xx} non-2xx, ${r.errors} errors`);
} finally {
  await srv.close();
  await rt.close();
  removeTempDir(dir);
}
