/**
 * What cluster mode's v1 left out, closed (docs/cluster.md, "The HTTP server as a node"): three eventide
 * servers started as `npm start` starts one, with tokens, one nats-server, one group of 8 partitions.
 * - the diff route on a server that does not own the stream's partition answers the owner's diff;
 * - a stream deletion (and undelete) through any server is decided by the stream's owner, after the
 *   receiving server checked the admin token; its audit record lands once in the log of record, on the
 *   audit stream's partition, whoever owns that;
 * - retention settings and forget are refused on every node, over HTTP;
 * - the balances view, read through the servers that did not take the commands, comes to equal the fold,
 *   and `?position=` from a command answered by another server waits until it holds that command;
 * - a partition whose following fails degrades `/health` on the servers that follow it, naming the
 *   partition and the error, while they keep serving: its stream deleted (then restored as it was:
 *   `/health` is ok again everywhere, and the partition takes commands), or a foreign message in it;
 * - (a second cluster) an owner killed with SIGKILL: diffs through the survivors are the owner's answer
 *   or 503 with Retry-After, never another; a deletion retried with its commandId lands once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { unpackMultiple } from 'msgpackr';
import { partitionOf } from '../../src/partition/index.js';
import { idPerPartition } from '../support/cluster-runtime.js';
import { restoreStream, takeStreamAway } from '../support/jetstream-streams.js';
import { partitionsOf, sharing, startClusterServers, stopClusterServers, type ClusterServer } from '../support/cluster-servers.js';
import { NATS_MISSING, natsServerAvailable, startNats, type NatsCluster } from '../support/nats-servers.js';

const P = 8;
const available = natsServerAvailable();
const ADMIN = 'admin-token-0123456789abcdef0123';
const WRITER = 'write-token-0123456789abcdef0123';
const admin = { authorization: `Bearer ${ADMIN}` };
const writer = { authorization: `Bearer ${WRITER}` };
/** The partition of the audit stream (`$audit`/`lifecycle`): where every deletion's audit record goes. */
const AUDIT_PARTITION = partitionOf('lifecycle', P);
/** A partition no test writes to before the follow-health tests: its stream is taken away, then gets a foreign message. */
const UNTOUCHED = (AUDIT_PARTITION + 1) % P;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function call(url: string, path: string, options: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
  const headers = { ...(options.body === undefined ? {} : { 'content-type': 'application/json' }), ...(options.headers ?? writer) };
  const res = await fetch(`${url}${path}`, { method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Calls `fn` until `done` holds for its answer (or the deadline passes: the last answer is returned, for the assertion to show). */
async function until<T>(fn: () => Promise<T>, done: (t: T) => boolean, deadlineMs = 60_000): Promise<T> {
  const end = performance.now() + deadlineMs;
  for (;;) {
    const t = await fn();
    if (done(t) || performance.now() > end) return t;
    await sleep(200);
  }
}

describe.skipIf(!available)(available ? 'cluster mode: diff, stream deletion, views and follow health over HTTP (3 servers, 1 nats-server)' : `cluster mode over HTTP (skipped: ${NATS_MISSING})`, () => {
  let nats: NatsCluster;
  let servers: ClusterServer[] = [];
  const group = `adm${process.pid}`;
  /** The accounts of this file: one per partition but the untouched one. */
  const ids = idPerPartition(P, 'adm').filter((id) => partitionOf(id, P) !== UNTOUCHED);
  let owners: string[] = [];
  /** The streams the deletion test deletes: owned by servers that do not own the audit stream, so its records cross nodes. */
  let soft = '';
  let hard = '';
  const serverOf = (nodeId: string): ClusterServer => servers.find((s) => s.nodeId === nodeId)!;
  /** A server that does not own `id`'s partition (the first such, or the one after `not`). */
  const nonOwnerOf = (id: string, skip = 0): ClusterServer => servers.filter((s) => s.nodeId !== owners[partitionOf(id, P)])[skip]!;

  beforeAll(async () => {
    nats = await startNats(1);
    servers = await startClusterServers(['c1', 'c2', 'c3'], {
      natsUrl: nats.urls[0]!,
      partitions: P,
      group,
      env: { EVENTIDE_TOKENS: `ops:${ADMIN}:admin;app:${WRITER}:write` },
    });
    await sharing(servers, 90_000, admin);
    owners = (await partitionsOf(servers[0]!.url, admin)).partitions.map((p) => p.owner!);
    const remote = ids.filter((id) => owners[partitionOf(id, P)] !== owners[AUDIT_PARTITION]);
    [soft, hard] = [remote[0]!, remote[1] ?? ids.find((id) => id !== remote[0] && partitionOf(id, P) !== AUDIT_PARTITION)!];
    // Every account opened and given two deposits through c1, each retried on a 503 with its commandId.
    for (const id of ids) {
      for (const [n, command] of [{ type: 'Open', data: { owner: id } }, { type: 'Deposit', data: { amount: 10 } }, { type: 'Deposit', data: { amount: 5 } }].entries()) {
        const body = { ...command, commandId: `${id}-setup-${n}` };
        const r = await until(() => call(servers[0]!.url, `/aggregates/account/${id}/commands`, { body }), (a) => a.status !== 503);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
      }
    }
  }, 180_000);

  afterAll(async () => {
    await stopClusterServers(servers);
    await nats?.stop();
  }, 60_000);

  it('the diff route answers the same through every server: the owner\'s own, forwarded where the server does not own the partition', async () => {
    for (const id of ids) {
      const owner = owners[partitionOf(id, P)]!;
      for (const q of ['from=0&to=3', 'from=1&to=2', 'from=2&to=3']) {
        const answers = await Promise.all(servers.map((s) => call(s.url, `/aggregates/account/${id}/diff?${q}`)));
        for (const [i, a] of answers.entries()) {
          expect(a.status, JSON.stringify(a.body)).toBe(200);
          expect(a.body).toEqual(answers[0]!.body);
          expect(a.headers.get('x-eventide-forwarded-to')).toBe(servers[i]!.nodeId === owner ? null : owner);
        }
      }
      const whole = (await call(serverOf(owner).url, `/aggregates/account/${id}/diff?from=0&to=3`)).body;
      expect(whole).toMatchObject({ id, type: 'account', from: { version: 0, state: null }, to: { version: 3, state: { balance: 15 } } });
      expect((whole.events as { type: string }[]).map((e) => e.type)).toEqual(['AccountOpened', 'Deposited', 'Deposited']);
    }
    // A bad point is refused where it arrives, nothing forwarded; the owner's own refusals come back as
    // they are (an error carries no forwarded-to header, as for loads and history).
    const id = ids[0]!;
    const bad = await call(nonOwnerOf(id).url, `/aggregates/account/${id}/diff?from=yesterday&to=3`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'InvalidQuery', field: 'from' });
    expect(bad.headers.get('x-eventide-forwarded-to')).toBeNull();
    const missing = await call(nonOwnerOf(id).url, `/aggregates/account/${id}/diff?from=1&to=9`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: 'NotFound' });
    const backwards = await call(nonOwnerOf(id).url, `/aggregates/account/${id}/diff?from=3&to=1`);
    expect(backwards.status).toBe(400);
    expect(backwards.body).toMatchObject({ error: 'InvalidQuery' });
  }, 120_000);

  it('a stream deletion through a server that does not own the stream: the token is checked there, the owner decides it, its answer comes back; every server then reads it deleted, and its audit record lands once', async () => {
    const via = nonOwnerOf(soft);
    // No token, or one without the admin scope: refused where the request arrived, nothing forwarded or done.
    const anonymous = await call(via.url, `/admin/streams/account/${soft}/delete`, { body: {}, headers: {} });
    expect(anonymous.status).toBe(401);
    const notAdmin = await call(via.url, `/admin/streams/account/${soft}/delete`, { body: {}, headers: writer });
    expect(notAdmin.status).toBe(403);
    expect(notAdmin.headers.get('x-eventide-forwarded-to')).toBeNull();
    expect((await call(serverOf(owners[partitionOf(soft, P)]!).url, `/aggregates/account/${soft}`)).body).toMatchObject({ version: 3 });

    const del = await until(() => call(via.url, `/admin/streams/account/${soft}/delete`, { body: { commandId: 'del-soft-1' }, headers: admin }), (a) => a.status !== 503);
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(del.body).toEqual({ id: soft, type: 'account', version: 4, changed: true, deleted: 'soft' });
    expect(del.headers.get('x-eventide-forwarded-to')).toBe(owners[partitionOf(soft, P)]);
    for (const s of servers) {
      const r = await call(s.url, `/aggregates/account/${soft}`);
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ error: 'StreamNotFound', deleted: true });
    }
    // The same operation again through another server: nothing new, the same version.
    const again = await call(nonOwnerOf(soft, 1).url, `/admin/streams/account/${soft}/delete`, { body: { commandId: 'del-soft-1' }, headers: admin });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ id: soft, type: 'account', version: 4, changed: false, deleted: 'soft' });
    // Undone through the other server that does not own it; every server reads it back as it was.
    const undo = await call(nonOwnerOf(soft, 1).url, `/admin/streams/account/${soft}/undelete`, { body: { commandId: 'undel-soft-1' }, headers: admin });
    expect(undo.status, JSON.stringify(undo.body)).toBe(200);
    expect(undo.body).toEqual({ id: soft, type: 'account', version: 5, changed: true });
    for (const s of servers) expect((await call(s.url, `/aggregates/account/${soft}`)).body).toMatchObject({ version: 5, state: { balance: 15 } });
    // The owner's refusals come back unchanged: undelete of a live stream is 409.
    const live = await call(via.url, `/admin/streams/account/${soft}/undelete`, { body: {}, headers: admin });
    expect(live.status).toBe(409);
    expect(live.body).toMatchObject({ error: 'StreamNotDeleted' });

    const tomb = await call(nonOwnerOf(hard).url, `/admin/streams/account/${hard}/delete`, { body: { hard: true }, headers: admin });
    expect(tomb.status, JSON.stringify(tomb.body)).toBe(200);
    expect(tomb.body).toEqual({ id: hard, type: 'account', version: 4, changed: true, deleted: 'hard' });
    for (const s of servers) expect((await call(s.url, `/aggregates/account/${hard}`)).status).toBe(410);
    const refused = await call(nonOwnerOf(hard, 1).url, `/aggregates/account/${hard}/commands`, { body: { type: 'Deposit', data: { amount: 1 } } });
    expect(refused.status).toBe(410);

    // The audit records, as the log of record holds them: one per operation that changed something,
    // each naming the token that asked, in the audit stream's partition (owned by whichever server).
    const records = await auditRecords(nats.urls[0]!, group);
    const about = (id: string) => records.filter((r) => r.target.id === id).map((r) => [r.kind, r.by, r.details.version]);
    expect(about(soft)).toEqual([
      ['StreamDeleted', 'ops', 4],
      ['StreamUndeleted', 'ops', 5],
    ]);
    expect(about(hard)).toEqual([['StreamTombstoned', 'ops', 4]]);
  }, 120_000);

  it('retention settings and forget stay refused on every node, over HTTP', async () => {
    const id = ids[3]!;
    for (const s of servers) {
      for (const [method, path, body] of [
        ['PUT', '/admin/retention/account', { settings: { maxCount: 5 } }],
        ['PUT', `/admin/retention/account/${id}`, { settings: { maxCount: 5 } }],
        ['GET', '/admin/retention/account', undefined],
        ['GET', `/admin/retention/account/${id}`, undefined],
      ] as const) {
        const r = await call(s.url, path, { method, body, headers: admin });
        expect(r.status, `${method} ${path} on ${s.nodeId}`).toBe(501);
        expect(r.body).toMatchObject({ error: 'NotImplemented' });
      }
      const forget = await call(s.url, `/admin/subjects/${id}/forget`, { body: {}, headers: admin });
      expect(forget.status).toBe(501);
      expect(forget.body).toMatchObject({ error: 'NotImplemented', message: expect.stringContaining('cluster mode') });
    }
  }, 60_000);

  it('commands through one server; the balances view read through the two others comes to equal the fold of every account, and waits for a position another server answered', async () => {
    const [a, b, c] = servers as [ClusterServer, ClusterServer, ClusterServer];
    const accounts = ids.filter((id) => id !== hard); // the tombstoned one takes no more commands
    const expected = new Map<string, { balance: number; version: number }>();
    for (const id of accounts) {
      let last: Answer | undefined;
      for (const amount of [7, 11, 13]) {
        last = await until(() => call(a.url, `/aggregates/account/${id}/commands`, { body: { type: 'Deposit', data: { amount }, commandId: `${id}-view-${amount}` } }), (r) => r.status !== 503);
        expect(last.status, JSON.stringify(last.body)).toBe(200);
      }
      const state = last!.body.state as { balance: number };
      expected.set(id, { balance: state.balance, version: last!.body.version as number });
      // The fold, through the history of the stream.
      const history = (await call(a.url, `/aggregates/account/${id}/events?limit=1000`)).body.events as { type: string; data: { amount?: number } }[];
      const folded = history.reduce((sum, e) => (e.type === 'Deposited' ? sum + e.data.amount! : e.type === 'Withdrawn' ? sum - e.data.amount! : sum), 0);
      expect(state.balance).toBe(folded);
    }
    for (const s of [b, c]) {
      for (const id of accounts) {
        const want = expected.get(id)!;
        const row = await until(
          () => call(s.url, `/views/balances/${id}`),
          (r) => r.status === 200 && (r.body.row as { balance: number; version: number }).version === want.version,
        );
        expect(row.status, `${s.nodeId} ${id}: ${JSON.stringify(row.body)}`).toBe(200);
        expect(row.body.row).toMatchObject({ balance: want.balance, version: want.version, open: true });
      }
    }
    // Read-your-writes across servers: the position a command answered through one server, asked of
    // another, waits until that server's view holds the command (positions are the log of record's).
    const more = accounts[0]!;
    const dep = await until(() => call(a.url, `/aggregates/account/${more}/commands`, { body: { type: 'Deposit', data: { amount: 3 }, commandId: `${more}-view-ryw` } }), (r) => r.status !== 503);
    expect(dep.status).toBe(200);
    for (const s of [b, c]) {
      const row = await call(s.url, `/views/balances/${more}?position=${encodeURIComponent(dep.body.position as string)}&timeoutMs=30000`);
      expect(row.status, JSON.stringify(row.body)).toBe(200);
      expect(row.body.row).toMatchObject({ balance: (dep.body.state as { balance: number }).balance, version: dep.body.version });
    }
  }, 180_000);

  it('a partition\'s stream deleted: the servers that follow it are degraded (200, naming the partition), their owner is not; restored as it was, every server is ok again and the partition takes commands', async () => {
    const owner = owners[UNTOUCHED]!;
    const followers = servers.filter((x) => x.nodeId !== owner);
    const health = (s: ClusterServer) => call(s.url, '/health', { headers: {} });
    for (const s of servers) expect((await health(s)).body).toMatchObject({ status: 'ok' });
    const nc = await connect({ servers: nats.urls });
    try {
      const jsm = await jetstreamManager(nc);
      const saved = await takeStreamAway(jsm, `EVT_${group}_P${UNTOUCHED}`);
      try {
        for (const s of followers) {
          const h = await until(() => health(s), (r) => r.body.status === 'degraded');
          expect(h.status).toBe(200);
          expect(h.body.degraded).toEqual([expect.stringContaining(`partition ${UNTOUCHED}: following the log of record fails`)]);
        }
        expect((await health(serverOf(owner))).body).toMatchObject({ status: 'ok' });
      } finally {
        await restoreStream(jsm, saved);
      }
    } finally {
      await nc.close();
    }
    for (const s of servers) {
      const h = await until(() => health(s), (r) => r.body.status === 'ok');
      expect(h.body, s.nodeId).toEqual({ status: 'ok', partitions: P, workers: 1, aggregateTypes: expect.any(Array), feedClients: 0 });
    }
    // The partition goes on: an account on it opened through a follower, read through the other.
    const id = idPerPartition(P, 'restored')[UNTOUCHED]!;
    const opened = await until(() => call(followers[0]!.url, `/aggregates/account/${id}/commands`, { body: { type: 'Open', data: { owner: id }, commandId: `${id}-open` } }), (r) => r.status !== 503);
    expect(opened.status, JSON.stringify(opened.body)).toBe(200);
    expect((await call(followers[1]!.url, `/aggregates/account/${id}`)).body).toMatchObject({ version: 1, state: { open: true } });
  }, 180_000);

  it('a foreign message in a partition\'s stream: the servers that follow it say so in /health (degraded, naming the partition and the error) and keep serving; its owner stays healthy until it writes there', async () => {
    const owner = owners[UNTOUCHED]!;
    for (const s of servers) expect((await call(s.url, '/health', { headers: {} })).body).toMatchObject({ status: 'ok' });
    const nc = await connect({ servers: nats.urls });
    try {
      await jetstream(nc).publish(`evt.${group}.p.${UNTOUCHED}`, new TextEncoder().encode('not an eventide batch'));
    } finally {
      await nc.close();
    }
    for (const s of servers.filter((x) => x.nodeId !== owner)) {
      const h = await until(
        () => call(s.url, '/health', { headers: {} }),
        (r) => r.body.status === 'degraded',
      );
      expect(h.status).toBe(200);
      expect(h.body).toMatchObject({ status: 'degraded', partitions: P });
      const lines = h.body.degraded as string[];
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`partition ${UNTOUCHED}`);
      expect(lines[0]).toContain('CorruptLog');
      expect(lines[0]).toContain(`EVT_${group}_P${UNTOUCHED}`);
      const p = (await partitionsOf(s.url, admin)).partitions[UNTOUCHED] as { followError?: string };
      expect(p.followError).toContain('CorruptLog');
      // Still serving: a command through it for every other partition.
      for (const id of ids.filter((x) => x !== hard)) {
        const r = await until(() => call(s.url, `/aggregates/account/${id}/commands`, { body: { type: 'Deposit', data: { amount: 1 }, commandId: `${id}-after-${s.nodeId}` } }), (a) => a.status !== 503);
        expect(r.status).toBe(200);
      }
    }
    expect((await call(serverOf(owner).url, '/health', { headers: {} })).body).toMatchObject({ status: 'ok' });
  }, 120_000);
});

describe.skipIf(!available)(available ? 'cluster mode: diff and stream deletion while an owner dies (3 servers, 1 nats-server)' : `cluster mode, an owner dying (skipped: ${NATS_MISSING})`, () => {
  let nats: NatsCluster;
  let servers: ClusterServer[] = [];
  const group = `hov${process.pid}`;
  const ids = idPerPartition(P, 'hov');

  beforeAll(async () => {
    nats = await startNats(1);
    // No tokens: loopback clients are served everything (protected mode).
    servers = await startClusterServers(['h1', 'h2', 'h3'], { natsUrl: nats.urls[0]!, partitions: P, group });
    await sharing(servers);
    for (const id of ids) {
      for (const [n, command] of [{ type: 'Open', data: { owner: id } }, { type: 'Deposit', data: { amount: 10 } }].entries()) {
        const r = await until(() => call(servers[0]!.url, `/aggregates/account/${id}/commands`, { body: { ...command, commandId: `${id}-${n}` }, headers: {} }), (a) => a.status !== 503);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
      }
    }
  }, 180_000);

  afterAll(async () => {
    await stopClusterServers(servers);
    await nats?.stop();
  }, 60_000);

  it('an owner killed with SIGKILL: through the survivors every diff is the owner\'s answer or a 503 with Retry-After, never another answer; a deletion retried with its commandId lands once, audit record included', async () => {
    const [h1, h2, h3] = servers as [ClusterServer, ClusterServer, ClusterServer];
    const before = (await partitionsOf(h1.url)).partitions.map((p) => p.owner!);
    const baseline = new Map<string, Record<string, unknown>>();
    for (const id of ids) baseline.set(id, (await call(h1.url, `/aggregates/account/${id}/diff?from=0&to=2`, { headers: {} })).body);
    const doomed = ids.filter((id) => before[partitionOf(id, P)] === h3.nodeId);
    expect(doomed.length).toBeGreaterThan(0);
    /** The stream deleted during the handover; the others are asked for diffs all along. */
    const target = doomed[0]!;
    const asked = ids.filter((id) => id !== target);

    const answers: { id: string; via: string; status: number; body: Record<string, unknown>; retryAfter: string | null; forwardedTo: string | null }[] = [];
    let settled = false;
    const survivors = [h1, h2];
    const asking = (async () => {
      for (let round = 0; !settled; round++) {
        for (const id of asked) {
          const via = survivors[round % 2]!;
          const a = await call(via.url, `/aggregates/account/${id}/diff?from=0&to=2`, { headers: {} });
          answers.push({ id, via: via.nodeId, status: a.status, body: a.body, retryAfter: a.headers.get('retry-after'), forwardedTo: a.headers.get('x-eventide-forwarded-to') });
        }
      }
    })();
    await h3.child.kill('SIGKILL');
    // A deletion of a stream the dead server owned, through a survivor, retried with its commandId on every 503.
    const deletions: Answer[] = [];
    for (;;) {
      const d = await call(h2.url, `/admin/streams/account/${target}/delete`, { body: { commandId: 'del-during-handover' }, headers: {} });
      deletions.push(d);
      if (d.status !== 503) break;
      await sleep(Math.min(2000, 1000 * Number(d.headers.get('retry-after') ?? '1')));
    }
    // Until both survivors name one of them as the owner of every partition.
    await until(
      () => Promise.all(survivors.map((s) => partitionsOf(s.url))),
      (views) => views.every((v) => v.partitions.every((p) => p.owner === h1.nodeId || p.owner === h2.nodeId) && v.partitions.every((p, k) => p.owner === views[0]!.partitions[k]!.owner)),
    );
    settled = true;
    await asking;

    for (const a of answers) {
      if (a.status === 200) {
        expect(a.body, `${a.id} via ${a.via}`).toEqual(baseline.get(a.id));
        expect([null, h1.nodeId, h2.nodeId, h3.nodeId]).toContain(a.forwardedTo);
      } else {
        expect(a.status, `${a.id} via ${a.via}: ${JSON.stringify(a.body)}`).toBe(503);
        expect(['NotOwner', 'Unavailable']).toContain(a.body.error);
        expect(a.retryAfter).toMatch(/^\d+$/);
      }
    }
    // Right after the kill the dead owner's partitions cannot answer until their leases lapse: 503s there
    // (asked for all along, from before the kill until after the survivors own everything).
    const doomedAsked = doomed.filter((id) => id !== target);
    if (doomedAsked.length > 0) expect(answers.some((a) => a.status === 503 && doomedAsked.includes(a.id))).toBe(true);
    // After the handover, every diff through either survivor is the owner's answer again.
    for (const id of asked) for (const s of survivors) expect((await call(s.url, `/aggregates/account/${id}/diff?from=0&to=2`, { headers: {} })).body).toEqual(baseline.get(id));

    for (const d of deletions.slice(0, -1)) expect(d.headers.get('retry-after')).toMatch(/^\d+$/);
    const last = deletions[deletions.length - 1]!;
    expect(last.status, JSON.stringify(last.body)).toBe(200);
    expect(last.body).toMatchObject({ id: target, version: 3, deleted: 'soft' });
    for (const s of survivors) expect((await call(s.url, `/aggregates/account/${target}`, { headers: {} })).status).toBe(404);
    const records = (await auditRecords(nats.urls[0]!, group)).filter((r) => r.target.id === target);
    expect(records.map((r) => [r.kind, r.details.version])).toEqual([['StreamDeleted', 3]]);
  }, 180_000);
});

interface AuditRecordData {
  kind: string;
  target: { aggregateType?: string; id?: string };
  by: string | null;
  details: { version?: number };
}

/**
 * The audit stream's events as the log of record holds them: every message of the audit partition's
 * stream, decoded as the JetStream log's payload is written (partition-message.ts: one msgpack value per
 * command, `[aggregateType, stream, commandId, digest, [[seq, offset, type, data, ...], ...]]`).
 */
async function auditRecords(natsUrl: string, group: string): Promise<AuditRecordData[]> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = `EVT_${group}_P${AUDIT_PARTITION}`;
    const last = (await jsm.streams.info(stream)).state.last_seq;
    const records: AuditRecordData[] = [];
    for (let seq = 1; seq <= last; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m === null || m.data.length === 0) continue; // a takeover marker
      for (const command of unpackMultiple(m.data) as [string, string, string | null, string | null, [number, number, string, AuditRecordData][]][]) {
        if (command[0] !== '$audit') continue;
        for (const event of command[4]) records.push({ ...event[3], kind: event[2] });
      }
    }
    return records;
  } finally {
    await nc.close();
  }
}
