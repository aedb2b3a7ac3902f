/**
 * `GET /admin/audit` in cluster mode (two servers as `npm start` starts them, one nats-server): the member
 * that serves the audit stream's partition answers its records (a deletion made through the other member
 * among them, recorded once); the other member forwards the read to it and answers the same records
 * (once its own view of the stream's head has caught up: src/server/routes/audit.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../src/partition/index.js';
import { idPerPartition } from '../support/cluster-runtime.js';
import { partitionsOf, sharing, startClusterServers, stopClusterServers, type ClusterServer } from '../support/cluster-servers.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';

const P = 4;
const available = natsServerAvailable();
const ADMIN = 'admin-token-0123456789abcdef0123';
const admin = { authorization: `Bearer ${ADMIN}` };
const AUDIT_PARTITION = partitionOf('lifecycle', P);

async function call(url: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${url}${path}`, body === undefined ? { headers: admin } : { method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** Calls `fn` until its answer is not a 503 (a partition changing hands), at most 60 s. */
async function settled(fn: () => ReturnType<typeof call>): ReturnType<typeof call> {
  const end = performance.now() + 60_000;
  for (;;) {
    const a = await fn();
    if (a.status !== 503 || performance.now() > end) return a;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!available)(available ? 'cluster mode: the audit route (2 servers, 1 nats-server)' : `cluster mode: the audit route (skipped: ${NATS_MISSING})`, () => {
  let nats: NatsCluster;
  let servers: ClusterServer[] = [];

  beforeAll(async () => {
    nats = await startNats(1);
    servers = await startClusterServers(['a1', 'a2'], { natsUrl: nats.urls[0]!, partitions: P, group: `aud${process.pid}`, env: { EVENTIDE_TOKENS: `ops:${ADMIN}:admin` } });
    await sharing(servers, 90_000, admin);
  }, 180_000);

  afterAll(async () => {
    await stopClusterServers(servers);
    await nats?.stop();
  }, 60_000);

  it('the audit stream\'s owner answers its records; the other member forwards the read and answers the same', async () => {
    const owners = (await partitionsOf(servers[0]!.url, admin)).partitions.map((p) => p.owner!);
    const owner = servers.find((s) => s.nodeId === owners[AUDIT_PARTITION])!;
    const other = servers.find((s) => s !== owner)!;
    // A stream the other member owns, deleted through it: its audit record crosses to the owner.
    const id = idPerPartition(P, 'aud').find((i) => owners[partitionOf(i, P)] === other.nodeId)!;
    const open = await settled(() => call(other.url, `/aggregates/account/${id}/commands`, { type: 'Open', data: { owner: 'Ada' }, commandId: `${id}-open` }));
    expect(open.status, JSON.stringify(open.body)).toBe(200);
    const del = await settled(() => call(other.url, `/admin/streams/account/${id}/delete`, { commandId: `${id}-delete` }));
    expect(del.status, JSON.stringify(del.body)).toBe(200);

    const page = await settled(() => call(owner.url, '/admin/audit'));
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    expect(page.body).toMatchObject({ head: 1, records: [{ seq: 1, kind: 'StreamDeleted', target: { aggregateType: 'account', id }, by: 'ops' }] });

    // The other member: forwarded to the owner; its head is its own view, which follows the owner's.
    await expect.poll(async () => (await call(other.url, '/admin/audit')).body, { timeout: 30_000 }).toEqual(page.body);
    const forward = await call(other.url, '/admin/audit?from=1');
    expect(forward.status, JSON.stringify(forward.body)).toBe(200);
    expect(forward.body).toMatchObject({ head: 1, records: [{ seq: 1, kind: 'StreamDeleted', by: 'ops' }] });
  }, 120_000);
});
