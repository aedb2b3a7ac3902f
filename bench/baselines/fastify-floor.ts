/**
 * Baseline `fastify-floor`: a fastify route at the runtime's command path that validates the same body
 * with a JSON schema and answers a constant, no runtime behind it. Loaded by `loadHttp` below, the
 * same in-process autocannon load the HTTP figure uses (same connections, same requests).
 */
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
  rate: number;
  p99ms: number;
  non2xx: number;
  errors: number;
}

/** `connections` keep-alive connections posting Deposits round-robin over `accounts` ids for `seconds`. */
export async function loadHttp(url: string, o: { connections: number; seconds: number; accounts: number }): Promise<HttpLoad> {
  let n = 0;
  const r = await autocannon({
    url,
    connections: o.connections,
    duration: o.seconds,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: HTTP_BODY,
        setupRequest: (req) => ({ ...req, path: `/aggregates/account/acct-${n++ % o.accounts}/commands` }),
      },
    ],
  });
  const ok = r.requests.total - r.non2xx;
  return { rate: ok / r.duration, p99ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}
