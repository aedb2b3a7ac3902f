/**
 * Baseline `fastify-floor`: a fastify route at the runtime's command path that validates the same body
 * with a JSON schema and answers a constant, no runtime behind it. Loaded by `loadHttp` below, the
 * same load the HTTP figure uses (same connections, same requests, same warm-up), from a load generator
 * in its own process (bench/support/load-generator.ts), as users measure.
 *
 * Gotchas: until 2026-12 autocannon ran in the bench's process, on the server's main thread, so the
 * floor measured autocannon sharing a thread with fastify (5k req/s on a loaded box, 24k quiet, against
 * 45-52k from a separate process): ratios from before are not comparable. `threadCpuUs`
 * (support/threads.ts) reads the server's main thread's own CPU time (Linux `/proc`), which separates
 * it from the runtime's worker threads in `process.cpuUsage()`.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import type { LoadOptions, LoadResult } from '../support/load-generator.js';
import { threadCpuUs } from '../support/threads.js';

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
  p50ms: number;
  p99ms: number;
  non2xx: number;
  errors: number;
  /** 2xx answers. */
  ok: number;
  /** The server process's CPU, every thread (`process.cpuUsage()`: server, runtime workers, LMDB), per 2xx answer. */
  cpuUsPerRequest: number;
  /** CPU of the server's main thread alone per 2xx answer; null off Linux. */
  mainCpuUsPerRequest: number | null;
  /** The load generator's own CPU per 2xx answer (its own process). */
  generatorCpuUsPerRequest: number;
}

const generator = fileURLToPath(new URL('../support/load-generator.ts', import.meta.url));

/** Runs the load generator process once and answers its result line. */
function runGenerator(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', generator, JSON.stringify(options)], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`load generator failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as LoadResult);
    });
  });
}

/**
 * `connections` keep-alive connections posting Deposits round-robin over `accounts` ids, for `seconds`,
 * or for exactly `requests` requests when given (a warm-up that touches every account once), from a
 * load generator in its own process; the CPU figures are this (the server's) process's.
 */
export async function loadHttp(url: string, o: { connections: number; seconds: number; accounts: number; requests?: number }): Promise<HttpLoad> {
  const cpu0 = process.cpuUsage();
  const main0 = threadCpuUs();
  const r = await runGenerator({ url, connections: o.connections, seconds: o.seconds, accounts: o.accounts, body: HTTP_BODY, ...(o.requests !== undefined ? { requests: o.requests } : {}) });
  const cpu = process.cpuUsage(cpu0);
  const main1 = threadCpuUs();
  const ok = r.total - r.non2xx;
  const per = (us: number) => us / Math.max(ok, 1);
  return {
    rate: ok / r.durationS,
    p50ms: r.p50ms,
    p99ms: r.p99ms,
    non2xx: r.non2xx,
    errors: r.errors,
    ok,
    cpuUsPerRequest: per(cpu.user + cpu.system),
    mainCpuUsPerRequest: main0 === null || main1 === null ? null : per(main1 - main0),
    generatorCpuUsPerRequest: per(r.generatorCpuUs),
  };
}
