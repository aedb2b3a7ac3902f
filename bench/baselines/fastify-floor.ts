/**
 * Baseline `fastify-floor`: a fastify route at the runtime's command path that validates the same body
 * with a JSON schema and answers a constant, no runtime behind it. Loaded by `loadHttp` below, the
 * same in-process autocannon load the HTTP figure uses (same connections, same requests, same warm-up).
 *
 * Gotchas: autocannon runs in this process, on the main thread, so it shares that thread with the server
 * it loads: a request's main-thread CPU is the client's share plus the server's, for the floor and the
 * runtime alike. `mainThreadCpuUs` reads that thread's own CPU time (Linux `/proc`), which separates the
 * main thread's work from the runtime's worker threads in `process.cpuUsage()`.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import Fastify from 'fastify';

export const HTTP_BODY = JSON.stringify({ type: 'Deposit', data: { amount: 1 } });

export async function startFastifyFloor(): Promise<{ url: string; close: () => Promise<void> }> {
  const app = Fastify({ logger: false });
  app.post(
    '/aggregates/account/:id/commands',
    {
      schema: {
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$' } } },
        body: {
          type: 'object',
          required: ['type', 'data'],
          additionalProperties: false,
          properties: {
            type: { type: 'string', const: 'Deposit' },
            data: { type: 'object', required: ['amount'], additionalProperties: false, properties: { amount: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } } },
          },
        },
      },
    },
    async () => ({ id: 'constant', type: 'account', version: 1 }),
  );
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: async () => void (await app.close()) };
}

export interface HttpLoad {
  /** 2xx answers per second. */
  rate: number;
  p99ms: number;
  non2xx: number;
  errors: number;
  /** 2xx answers. */
  ok: number;
  /** `process.cpuUsage()` (every thread of the process: autocannon, server, runtime workers, LMDB) per 2xx answer. */
  cpuUsPerRequest: number;
  /** CPU of the main thread alone (autocannon + the server's main-thread part) per 2xx answer; null off Linux. */
  mainCpuUsPerRequest: number | null;
}

/** CPU time (user + system, us) of the calling thread, from /proc (USER_HZ ticks of 10 ms); null where unavailable. */
export function mainThreadCpuUs(): number | null {
  try {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return null;
  }
}

/**
 * `connections` keep-alive connections posting Deposits round-robin over `accounts` ids, for `seconds`,
 * or for exactly `requests` requests when given (a warm-up that touches every account once).
 */
export async function loadHttp(url: string, o: { connections: number; seconds: number; accounts: number; requests?: number }): Promise<HttpLoad> {
  let n = 0;
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuUs();
  const r = await autocannon({
    url,
    connections: o.connections,
    ...(o.requests !== undefined ? { amount: o.requests } : { duration: o.seconds }),
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: HTTP_BODY,
        setupRequest: (req) => ({ ...req, path: `/aggregates/account/acct-${n++ % o.accounts}/commands` }),
      },
    ],
  });
  const cpu = process.cpuUsage(cpu0);
  const main1 = mainThreadCpuUs();
  const ok = r.requests.total - r.non2xx;
  const per = (us: number) => us / Math.max(ok, 1);
  return {
    rate: ok / r.duration,
    p99ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    ok,
    cpuUsPerRequest: per(cpu.user + cpu.system),
    mainCpuUsPerRequest: main0 === null || main1 === null ? null : per(main1 - main0),
  };
}
