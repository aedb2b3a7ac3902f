/**
 * The HTTP load generator, run as its own process (`node --import tsx bench/support/load-generator.ts
 * '<json options>'`), as a user measures a server: autocannon never shares a thread, or a CPU count,
 * with the server it loads. `connections` keep-alive connections post Deposits round-robin over
 * `accounts` ids for `seconds`, or for exactly `requests` requests (a warm-up touching every account
 * once). Prints one JSON line: the answers, the latency and the generator's own CPU.
 */
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  accounts: number;
  requests?: number;
  body: string;
}

export interface LoadResult {
  total: number;
  non2xx: number;
  errors: number;
  durationS: number;
  p50ms: number;
  p99ms: number;
  /** The generator's own CPU (user + system, us) over the run. */
  generatorCpuUs: number;
}

const o = JSON.parse(process.argv[2] ?? '') as LoadOptions;
let n = 0;
const cpu0 = process.cpuUsage();
const r = await autocannon({
  url: o.url,
  connections: o.connections,
  ...(o.requests !== undefined ? { amount: o.requests } : { duration: o.seconds }),
  requests: [
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: o.body,
      setupRequest: (req) => ({ ...req, path: `/aggregates/account/acct-${n++ % o.accounts}/commands` }),
    },
  ],
});
const cpu = process.cpuUsage(cpu0);
const result: LoadResult = { total: r.requests.total, non2xx: r.non2xx, errors: r.errors, durationS: r.duration, p50ms: r.latency.p50, p99ms: r.latency.p99, generatorCpuUs: cpu.user + cpu.system };
process.stdout.write(`${JSON.stringify(result)}\n`);
