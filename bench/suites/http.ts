/**
 * HTTP command throughput: `POST /aggregates/account/:id/commands` (Deposit over 10 000 accounts) on
 * the project's server, vs `fastify-floor`, both loaded by autocannon from a load generator in its own
 * process (bench/support/load-generator.ts: as users measure; never inside the server) with the same
 * connections, in interleaved rounds. Until `src/server/app.ts` exists the row says so and the floor
 * is still measured (so the baseline's harness stays proven).
 *
 * Both sides get the same treatment before each measured run: a fresh server, then the same untimed
 * warm-up load of one request per account (10 000 requests, the same connections). For the floor it
 * warms the JIT; for the runtime it also brings every account's actor into memory, as the throughput
 * suite's warm-up does (bench/README.md, Method). Without it, 10 000 of the ~25 000 requests of an 8 s
 * run were first touches (a cold hydrate each, on a freshly started runtime), which the floor never
 * pays: the figure measured hydration as much as the route. The warm-up's own rate (the first touches)
 * is reported in the note, so the cold figure is not hidden.
 *
 * The note also gives p99 and CPU per request, both sides: the server process's, all threads
 * (`process.cpuUsage()`, stable on this shared box where rates are not), and its main thread alone.
 */
import { measured, notAvailable } from '../figures.js';
import { loadHttp, startFastifyFloor, type HttpLoad } from '../baselines/fastify-floor.js';
import type { Suite } from '../support/context.js';
import { tenThousandAccounts } from '../support/fixtures.js';
import { startRuntime } from '../support/runtime.js';
import { findServer, NO_SERVER } from '../support/server.js';
import { median } from '../support/stats.js';
import { removeTempDir } from '../support/tmp.js';
import { fmt } from './throughput.js';

const ACCOUNTS = 10_000;
const CONNECTIONS = 64;
const sizes = (quick: boolean) => (quick ? { rounds: 1, seconds: 1.5 } : { rounds: 3, seconds: 8 });

/** The warm-up, then the measured load, on one server. */
async function warmThenLoad(url: string, seconds: number): Promise<{ warm: HttpLoad; run: HttpLoad }> {
  const warm = await loadHttp(url, { connections: CONNECTIONS, seconds, accounts: ACCOUNTS, requests: ACCOUNTS });
  const run = await loadHttp(url, { connections: CONNECTIONS, seconds, accounts: ACCOUNTS });
  return { warm, run };
}

/** `cpu X us/req (main thread Y)` as medians over the rounds. */
function cpuText(runs: HttpLoad[]): string {
  const all = median(runs.map((r) => r.cpuUsPerRequest));
  const mains = runs.map((r) => r.mainCpuUsPerRequest).filter((v): v is number => v !== null);
  return `${all.toFixed(0)} us${mains.length ? ` (main thread ${median(mains).toFixed(0)})` : ''}`;
}

export const httpSuite: Suite = {
  name: 'http',
  figures: ['http.throughput'],
  steps: (quick) => 1 + 2 * sizes(quick).rounds,
  async run(ctx) {
    const s = sizes(ctx.quick);
    const factory = await findServer();
    let dir: string | null = null;
    try {
      ctx.step('seeding');
      if (factory) dir = await tenThousandAccounts('http');
      const floor: HttpLoad[] = [];
      const served: HttpLoad[] = [];
      const firstTouch: number[] = [];
      let issues = '';
      for (let r = 0; r < s.rounds; r++) {
        ctx.step(`fastify-floor round ${r + 1}/${s.rounds}`);
        const f = await startFastifyFloor();
        try {
          floor.push((await warmThenLoad(f.url, s.seconds)).run);
        } finally {
          await f.close();
        }
        ctx.step(`server round ${r + 1}/${s.rounds}`);
        if (!factory || !dir) continue;
        const rt = await startRuntime(dir);
        const srv = await factory(rt);
        try {
          const { warm, run } = await warmThenLoad(srv.url, s.seconds);
          for (const res of [warm, run]) if (res.non2xx || res.errors) issues = `; ${res.non2xx} non-2xx, ${res.errors} errors`;
          firstTouch.push(warm.rate);
          served.push(run);
        } finally {
          await srv.close();
          await rt.close();
        }
      }
      const base = { name: 'fastify-floor', value: median(floor.map((l) => l.rate)), unit: 'req/s' };
      if (!factory) {
        ctx.figure(notAvailable('http.throughput', `${NO_SERVER} (fastify-floor measured: ${fmt(base.value)} req/s, ${CONNECTIONS} connections)`));
        return;
      }
      ctx.figure(
        measured('http.throughput', {
          value: median(served.map((l) => l.rate)),
          baseline: base,
          note:
            `autocannon in its own process, ${CONNECTIONS} connections, ${s.seconds} s x ${s.rounds} interleaved rounds, median; ` +
            `p99 server ${median(served.map((l) => l.p99ms)).toFixed(1)} ms, floor ${median(floor.map((l) => l.p99ms)).toFixed(1)} ms; ` +
            `each side warmed first with the same ${fmt(ACCOUNTS)} requests (one per account: the runtime's first touches ran at ${fmt(median(firstTouch))} req/s); ` +
            `server-process CPU per request, all threads: eventide ${cpuText(served)}, floor ${cpuText(floor)}${issues}`,
        }),
      );
    } finally {
      if (dir) removeTempDir(dir);
    }
  },
};
