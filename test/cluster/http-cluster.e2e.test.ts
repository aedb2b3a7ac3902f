/**
 * The HTTP server as a cluster node (docs/cluster.md, "Forwarding" and "Running it"): three eventide
 * servers started as `npm start` starts one (src/server/main.ts, configured by EVENTIDE_NATS and the
 * other variables), one nats-server under them, one group of 8 partitions. Any server answers any
 * request, with the bodies the embedded server answers; after one server is killed with SIGKILL its
 * partitions move, commands through the survivors succeed again (retried on 503 with the same
 * commandId), and no acknowledged deposit is lost or doubled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idPerPartition } from '../support/cluster-runtime.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';
import { startFailure, startServer, type ServerChild } from '../support/server-child.js';
import { makeTempDir, removeDir } from '../support/temp-dirs.js';
import { harness, type Harness } from '../server/helpers.js';

const P = 8;
const LEASE_MS = 2000;
const available = natsServerAvailable();

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

interface PartitionsBody {
  node?: string;
  members?: { nodeId: string; url?: string }[];
  partitions: { partition: number; served?: boolean; owner?: string; epoch?: number }[];
}

async function call(url: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${url}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A command sent until it is answered with something other than a 503, each retry with the same body
 * (the same commandId), after the Retry-After the 503 gave (capped at 2 s to keep the test short).
 */
async function untilAnswered(url: string, path: string, body: unknown, deadlineMs = 60_000): Promise<{ answer: Answer; retries503: number }> {
  const until = performance.now() + deadlineMs;
  for (let retries503 = 0; ; retries503++) {
    const answer = await call(url, path, body);
    if (answer.status !== 503 || performance.now() > until) return { answer, retries503 };
    await sleep(Math.min(2000, 1000 * Number(answer.headers.get('retry-after') ?? '1')));
  }
}

/** `ts` is the time of writing: two logs never agree on it. Everything else must match. */
function withoutTimes(body: Record<string, unknown>): Record<string, unknown> {
  const events = body.events as Record<string, unknown>[] | undefined;
  return events === undefined ? body : { ...body, events: events.map((e) => ({ ...e, ts: '<ts>' })) };
}

describe('cluster mode\'s start-up', () => {
  it('a bad cluster variable stops start-up with one fatal line naming it, before anything listens or connects', async () => {
    const dataDir = await makeTempDir('cluster-http');
    try {
      const bad = startServer(dataDir, { env: { EVENTIDE_NATS: 'nats://127.0.0.1:1', EVENTIDE_REPLICAS: '2' } });
      expect(await bad.exited).toBe(1);
      expect(startFailure(bad.stderr())).toMatchObject({ level: 60, code: 'InvalidOptions', msg: expect.stringContaining('EVENTIDE_REPLICAS must be 1, 3 or 5') });
    } finally {
      await removeDir(dataDir);
    }
  }, 60_000);
});

describe.skipIf(!available)(available ? 'three eventide servers as one cluster (1 nats-server)' : `three eventide servers as one cluster (skipped: ${NATS_MISSING})`, () => {
  let nats: NatsCluster;
  const servers: { nodeId: string; child: ServerChild; url: string; dataDir: string }[] = [];
  let embedded: Harness;
  const ids = idPerPartition(P, 'acct');
  /** Per account, the deposits acknowledged so far (commandId -> amount). */
  const acked = new Map<string, Map<string, number>>(ids.map((id) => [id, new Map()]));

  const partitionsOf = async (url: string): Promise<PartitionsBody> => (await call(url, '/partitions')).body as unknown as PartitionsBody;
  /** The owner of each partition, when every given server names the same one and it says it serves it. */
  const agreedOwners = async (among: typeof servers): Promise<string[] | undefined> => {
    const views = await Promise.all(among.map((s) => partitionsOf(s.url).catch(() => undefined)));
    if (views.some((v) => v === undefined)) return undefined;
    const owners = views[0]!.partitions.map((p) => p.owner);
    if (owners.some((o) => o === undefined || !among.some((s) => s.nodeId === o))) return undefined;
    for (const [i, v] of views.entries()) {
      if (v!.partitions.some((p, k) => p.owner !== owners[k] || p.served !== (owners[k] === among[i]!.nodeId))) return undefined;
    }
    return owners as string[];
  };
  const waitForOwners = async (among: typeof servers, what: string): Promise<string[]> => {
    const until = performance.now() + 60_000;
    for (;;) {
      const owners = await agreedOwners(among);
      if (owners && among.every((s) => owners.includes(s.nodeId))) return owners;
      if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  };

  beforeAll(async () => {
    nats = await startNats(1);
    embedded = await harness({}, { partitions: P });
    const group = `http${process.pid}`;
    await Promise.all(
      ['s1', 's2', 's3'].map(async (nodeId) => {
        const dataDir = await makeTempDir('cluster-http');
        // Only EVENTIDE_NATS and the node id: the replicas (1 for one URL) and the rest are the defaults.
        const child = startServer(dataDir, { env: { PARTITIONS: String(P), WORKERS: '1', EVENTIDE_NATS: nats.urls[0]!, EVENTIDE_NODE_ID: nodeId, EVENTIDE_GROUP: group, EVENTIDE_LEASE_MS: String(LEASE_MS) } });
        servers.push({ nodeId, child, url: await child.listening, dataDir });
      }),
    );
    servers.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    await waitForOwners(servers, 'every partition owned by one of the three, all three agreeing');
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled(servers.map((s) => s.child.kill('SIGTERM')));
    await Promise.allSettled(servers.map((s) => removeDir(s.dataDir)));
    await embedded?.close();
    await nats?.stop();
  }, 60_000);

  it('/partitions on every server names the same owner for each partition, which says it serves it; each says which member it is and lists the three', async () => {
    const owners = await waitForOwners(servers, 'agreement');
    for (const s of servers) {
      const view = await partitionsOf(s.url);
      expect(view.node).toBe(s.nodeId);
      expect(view.members?.map((m) => m.nodeId)).toEqual(['s1', 's2', 's3']);
      expect(view.members?.every((m) => m.url?.startsWith('http://127.0.0.1:'))).toBe(true);
      expect(view.partitions.map((p) => p.owner)).toEqual(owners);
      expect(view.partitions.every((p) => typeof p.epoch === 'number')).toBe(true);
    }
  });

  it('commands for accounts on every partition, all sent to one server, succeed (those it does not own forwarded) with the embedded server\'s bodies', async () => {
    const owners = await waitForOwners(servers, 'agreement');
    const entry = servers[0]!;
    let forwarded = 0;
    for (const id of ids) {
      const bodies = [
        { type: 'Open', data: { owner: id }, commandId: `open-${id}` },
        { type: 'Deposit', data: { amount: 10 }, commandId: `dep1-${id}` },
      ];
      for (const body of bodies) {
        const path = `/aggregates/account/${id}/commands`;
        const { answer } = await untilAnswered(entry.url, path, body);
        const local = await embedded.app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/json' }, payload: body });
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect(withoutTimes(answer.body)).toEqual(withoutTimes(local.json()));
        const via = answer.headers.get('x-eventide-forwarded-to');
        if (via !== null) forwarded++;
        expect(via).toBe(owners[ids.indexOf(id)] === entry.nodeId ? null : owners[ids.indexOf(id)]);
        if (body.type === 'Deposit') acked.get(id)!.set(body.commandId, 10);
      }
    }
    expect(forwarded).toBeGreaterThan(0);
    // A repeat of a commandId through another server answers the first result, marked duplicate.
    const again = await call(servers[1]!.url, `/aggregates/account/${ids[0]}/commands`, { type: 'Deposit', data: { amount: 10 }, commandId: `dep1-${ids[0]}` });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ version: 2, duplicate: true });
  });

  it('loads and history pages through any server match the owner\'s', async () => {
    for (const id of ids) {
      const states = await Promise.all(servers.map((s) => call(s.url, `/aggregates/account/${id}`)));
      const pages = await Promise.all(servers.map((s) => call(s.url, `/aggregates/account/${id}/events?limit=1`)));
      const past = await Promise.all(servers.map((s) => call(s.url, `/aggregates/account/${id}?version=1`)));
      for (const answers of [states, pages, past]) {
        expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
        expect(answers[1]!.body).toEqual(answers[0]!.body);
        expect(answers[2]!.body).toEqual(answers[0]!.body);
      }
      expect(states[0]!.body).toEqual({ id, type: 'account', version: 2, state: { owner: id, balance: 10, open: true } });
      expect(pages[0]!.body.next).toBe(2);
      expect(past[0]!.body).toMatchObject({ version: 1, state: { balance: 0 } });
      // The embedded server's page, for the shape.
      const local = await embedded.app.inject(`/aggregates/account/${id}/events?limit=1`);
      expect(withoutTimes(pages[0]!.body)).toEqual(withoutTimes(local.json()));
    }
    // A bad request is refused where it arrives, forwarded or not: the same 4xx as the embedded server.
    const bad = await call(servers[0]!.url, `/aggregates/account/${ids[1]}/commands`, { type: 'Deposit', data: { amount: -1 } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('InvalidCommand');
  });

  it('after one server is killed with SIGKILL, its partitions move and commands through the survivors succeed again; no acknowledged deposit is lost or doubled', async () => {
    const before = await waitForOwners(servers, 'agreement');
    const victim = servers.find((s) => s.nodeId !== 's1' && before.includes(s.nodeId))!;
    const survivors = servers.filter((s) => s !== victim);
    await victim.child.kill('SIGKILL');

    // Right away: every account gets a deposit through a survivor, retried on 503 with its commandId.
    let retried = 0;
    await Promise.all(
      ids.map(async (id, i) => {
        const commandId = `dep2-${id}`;
        const entry = survivors[i % survivors.length]!;
        const { answer, retries503 } = await untilAnswered(entry.url, `/aggregates/account/${id}/commands`, { type: 'Deposit', data: { amount: 5 }, commandId });
        retried += retries503;
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        acked.get(id)!.set(commandId, 5);
      }),
    );
    // The victim's partitions were refused for a while (503 + Retry-After), then served by a survivor.
    expect(retried).toBeGreaterThan(0);
    const after = await waitForOwners(survivors, 'the survivors owning every partition');
    expect(after).not.toContain(victim.nodeId);

    for (const id of ids) {
      const sum = [...acked.get(id)!.values()].reduce((a, b) => a + b, 0);
      for (const s of survivors) {
        const state = await call(s.url, `/aggregates/account/${id}`);
        expect(state.body).toMatchObject({ version: 1 + acked.get(id)!.size, state: { balance: sum } });
      }
      const page = await call(survivors[0]!.url, `/aggregates/account/${id}/events?limit=100`);
      const events = page.body.events as { seq: number; type: string }[];
      expect(events.map((e) => e.seq)).toEqual(events.map((_, k) => k + 1));
      expect(events.filter((e) => e.type === 'Deposited')).toHaveLength(acked.get(id)!.size);
    }
  }, 120_000);

  it('a server stopped with SIGTERM hands its partitions over (no lease to wait out) and exits 0; the last one then serves everything', async () => {
    const alive = servers.filter((s) => s.child.child.exitCode === null && s.child.child.signalCode === null);
    const [last, leaving] = alive as [(typeof servers)[number], (typeof servers)[number]];
    expect(await leaving.child.kill('SIGTERM')).toBe(0);
    const owners = await waitForOwners([last], 'the last server owning every partition');
    expect(new Set(owners)).toEqual(new Set([last.nodeId]));
    for (const id of ids) {
      const { answer } = await untilAnswered(last.url, `/aggregates/account/${id}/commands`, { type: 'Deposit', data: { amount: 1 }, commandId: `dep3-${id}` });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(answer.headers.get('x-eventide-forwarded-to')).toBeNull();
      acked.get(id)!.set(`dep3-${id}`, 1);
      const sum = [...acked.get(id)!.values()].reduce((a, b) => a + b, 0);
      expect(answer.body).toMatchObject({ version: 1 + acked.get(id)!.size, state: { balance: sum } });
    }
  }, 120_000);
});
