/**
 * HTTP command throughput: `POST /aggregates/account/:id/commands` (Deposit over 10 000 accounts) on
 * the project's server, vs `fastify-floor`, both loaded by autocannon in this process with the same
 * connections, in interleaved rounds. Until `src/server/app.ts` exists the row says so and the floor
 * is still measured (so the baseline's harness stays proven).
 */
import { measured, notAvailable } from '../figures.js';
import { loadHttp, startFastifyFloor } from '../baselines/fastify-floor.js';
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
      const floor: number[] = [];
      const served: number[] = [];
      let issues = '';
      for (let r = 0; r < s.rounds; r++) {
        ctx.step(`fastify-floor round ${r + 1}/${s.rounds}`);
        const f = await startFastifyFloor();
        try {
          floor.push((await loadHttp(f.url, { connections: CONNECTIONS, seconds: s.seconds, accounts: ACCOUNTS })).rate);
        } finally {
          await f.close();
        }
        ctx.step(`server round ${r + 1}/${s.rounds}`);
        if (!factory || !dir) continue;
        const rt = await startRuntime(dir);
        const srv = await factory(rt);
        try {
          const res = await loadHttp(srv.url, { connections: CONNECTIONS, seconds: s.seconds, accounts: ACCOUNTS });
          if (res.non2xx || res.errors) issues = `; ${res.non2xx} non-2xx, ${res.errors} errors`;
          served.push(res.rate);
        } finally {
          await srv.close();
          await rt.close();
        }
      }
      const base = { name: 'fastify-floor', value: median(floor), unit: 'req/s' };
      if (!factory) {
        ctx.figure(notAvailable('http.throughput', `${NO_SERVER} (fastify-floor measured: ${fmt(base.value)} req/s, ${CONNECTIONS} connections)`));
        return;
      }
      ctx.figure(
        measured('http.throughput', {
          value: median(served),
          baseline: base,
          note: `autocannon in-process, ${CONNECTIONS} connections, ${s.seconds} s x ${s.rounds} interleaved rounds, median${issues}`,
        }),
      );
    } finally {
      if (dir) removeTempDir(dir);
    }
  },
};
