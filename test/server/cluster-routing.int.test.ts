/**
 * The HTTP routes in cluster mode (src/server/cluster-routing.ts), through fastify's inject, with a
 * runtime that says `NotOwner` and a fake `runtime.cluster` standing for the NATS transport: what is
 * forwarded (and exactly what is sent), what is answered from the refusal itself, how the owner's
 * answers and errors come back, and what this server answers the requests other members forward to it.
 * The real transport between real servers: test/cluster/http-cluster.e2e.test.ts.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DomainError, ErrorCodes, RuntimeError } from '../../src/kernel/index.js';
import type { ClusterLink, ForwardHandler, Runtime } from '../../src/runtime/index.js';
import { buildServer } from '../../src/server/index.js';
import { harness, type Harness } from './helpers.js';

interface Sent {
  nodeId: string;
  request: Record<string, unknown>;
}

const notOwner = (owner?: string): RuntimeError =>
  new RuntimeError(ErrorCodes.NotOwner, 'partition 0 is not served by this node', { partition: 0, retryAfterMs: 2000, ...(owner !== undefined ? { owner } : {}) }, true);

describe('the aggregate routes on a cluster node', () => {
  let owner: Harness;
  let app: FastifyInstance;
  let handler: ForwardHandler | undefined;
  const sent: Sent[] = [];
  /** What the fake transport does with the next forwarded request (default: the owner's handler answers). */
  let transport: ((s: Sent) => Promise<unknown>) | undefined;
  /** Who the node's runtime names as the owner (undefined: nobody). */
  let refusedFor: string | undefined = 'b';

  beforeAll(async () => {
    // The owner: a real runtime whose routes answer what the forwarded requests ask for, through the
    // handler its own server gave to `serve` (as its node would, over NATS).
    owner = await harness();
    let ownerHandler: ForwardHandler | undefined;
    const ownerLink: ClusterLink = { nodeId: 'b', group: 'g', members: () => [], serve: async (h) => void (ownerHandler = h), forward: () => Promise.reject(new Error('the owner never forwards')) };
    const ownerApp = await buildServer({ runtime: { ...owner.runtime, cluster: ownerLink } as Runtime, defaultMetrics: false, dashboard: false });
    handler = ownerHandler;
    await ownerApp.close();

    const link: ClusterLink = {
      nodeId: 'a',
      group: 'g',
      members: () => [{ nodeId: 'a', meta: { url: 'http://127.0.0.1:1' } }, { nodeId: 'b', meta: {} }],
      serve: async () => undefined,
      forward: async (nodeId, request) => {
        const s = { nodeId, request: request as unknown as Record<string, unknown> };
        sent.push(s);
        if (transport) return transport(s) as never;
        const r = request as unknown as { op: string; aggregateType: string; id: string; command?: { type: string; data?: unknown }; options?: object; query?: object; from?: number | string; to?: string; limit?: number };
        if (r.op === 'execute') return handler!.execute(r.aggregateType, r.id, r.command!, r.options ?? {}) as never;
        if (r.op === 'load') return handler!.load(r.aggregateType, r.id, r.query) as never;
        if (r.op === 'diff') return handler!.diff!(r.aggregateType, r.id, r.from as string, r.to!) as never;
        if (r.op === 'lifecycle') return handler!.lifecycle!(request as never) as never;
        return handler!.history(r.aggregateType, r.id, r.from as number | undefined, r.limit) as never;
      },
    };
    const refuse = async (): Promise<never> => {
      throw notOwner(refusedFor);
    };
    // This node serves nothing: every call on its runtime is refused, as on a node that owns no partition.
    const node = { ...owner.runtime, cluster: link, execute: refuse, load: refuse, history: refuse, diff: refuse, deleteStream: refuse, undeleteStream: refuse } as unknown as Runtime;
    app = await buildServer({ runtime: node, defaultMetrics: false, dashboard: false });
  });

  afterAll(async () => {
    await app?.close();
    await owner?.close();
  });

  beforeEach(() => {
    sent.length = 0;
    transport = undefined;
    refusedFor = 'b';
  });

  const post = (id: string, body: object) => app.inject({ method: 'POST', url: `/aggregates/account/${id}/commands`, headers: { 'content-type': 'application/json' }, payload: body });

  it('a command the runtime refuses naming another owner is sent to it, and its answer is the answer, with the header naming it', async () => {
    const res = await post('fw-1', { type: 'Open', data: { owner: 'Ada' }, commandId: 'c-1' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-eventide-forwarded-to']).toBe('b');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(sent).toEqual([{ nodeId: 'b', request: { op: 'execute', aggregateType: 'account', id: 'fw-1', command: { type: 'Open', data: { owner: 'Ada' } }, options: { commandId: 'c-1' } } }]);
    // The same bytes the owner's own route would have answered: read back through the owner.
    const body = res.json() as { version: number; events: { stream: string; seq: number }[]; position: string };
    expect(body).toMatchObject({ id: 'fw-1', type: 'account', version: 1, state: { owner: 'Ada', balance: 0, open: true } });
    expect(Object.keys(body)).toEqual(['id', 'type', 'version', 'events', 'state', 'position']);
    expect(await owner.runtime.load('account', 'fw-1')).toMatchObject({ version: 1 });
    // A repeat is the first answer, marked duplicate, as on the owner.
    const again = await post('fw-1', { type: 'Open', data: { owner: 'Ada' }, commandId: 'c-1' });
    expect(again.json()).toMatchObject({ id: 'fw-1', version: 1, duplicate: true });
  });

  it('the owner\'s errors come back as the owner answered them: a domain rule is 422 with its code', async () => {
    await post('fw-2', { type: 'Open', data: { owner: 'Bo' } });
    const res = await post('fw-2', { type: 'Withdraw', data: { amount: 5 } });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: 'InsufficientFunds' });
    transport = async () => {
      throw new DomainError('AccountAlreadyOpen', 'the account is already open', 'conflict');
    };
    expect((await post('fw-2', { type: 'Open', data: { owner: 'Bo' } })).statusCode).toBe(409);
  });

  it('a forwarded command the owner did not answer in time is 503 Unavailable, outcome unknown, with Retry-After', async () => {
    transport = async () => {
      throw new RuntimeError(ErrorCodes.Unavailable, 'node b did not answer within 10000 ms: retry with the same commandId', { owner: 'b', outcome: 'unknown', retryAfterMs: 1000 }, true);
    };
    const res = await post('fw-3', { type: 'Open', data: { owner: 'Cy' }, commandId: 'c-3' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toMatchObject({ error: 'Unavailable', outcome: 'unknown', owner: 'b', retriable: true });
  });

  it('a refusal naming no owner (changing hands) is answered as it is, 503 NotOwner with Retry-After, and nothing is sent', async () => {
    refusedFor = undefined;
    const res = await post('fw-4', { type: 'Open', data: { owner: 'Di' } });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.json()).toMatchObject({ error: 'NotOwner', partition: 0, retryAfterMs: 2000 });
    expect(sent).toEqual([]);
    // The node naming itself (a stale view of its own lease) is no reason to forward either.
    refusedFor = 'a';
    expect((await post('fw-4', { type: 'Open', data: { owner: 'Di' } })).statusCode).toBe(503);
    expect(sent).toEqual([]);
  });

  it('a bad command is refused where it arrives (400), without a round trip', async () => {
    const res = await post('fw-5', { type: 'Deposit', data: { amount: -1 } });
    expect(res.statusCode).toBe(400);
    expect(sent).toEqual([]);
  });

  it('loads (now, ?version, ?at) and history pages are forwarded the same way, with the owner\'s bodies', async () => {
    await post('fw-6', { type: 'Open', data: { owner: 'Ed' } });
    await post('fw-6', { type: 'Deposit', data: { amount: 7 } });
    sent.length = 0;
    const now = await app.inject('/aggregates/account/fw-6');
    expect(now.statusCode).toBe(200);
    expect(now.headers['x-eventide-forwarded-to']).toBe('b');
    expect(now.json()).toEqual({ id: 'fw-6', type: 'account', version: 2, state: { owner: 'Ed', balance: 7, open: true } });
    const past = await app.inject('/aggregates/account/fw-6?version=1');
    expect(past.json()).toMatchObject({ version: 1, state: { balance: 0 } });
    const at = await app.inject('/aggregates/account/fw-6?at=2999-01-01');
    expect(at.json()).toMatchObject({ version: 2 });
    const page = await app.inject('/aggregates/account/fw-6/events?limit=1');
    expect(page.json()).toMatchObject({ events: [{ stream: 'fw-6', seq: 1, type: 'AccountOpened' }], next: 2 });
    const second = await app.inject('/aggregates/account/fw-6/events?from=2&limit=1');
    expect(second.json()).toMatchObject({ events: [{ stream: 'fw-6', seq: 2, type: 'Deposited' }] });
    expect(sent.map((s) => s.request)).toEqual([
      { op: 'load', aggregateType: 'account', id: 'fw-6' },
      { op: 'load', aggregateType: 'account', id: 'fw-6', query: { version: 1 } },
      { op: 'load', aggregateType: 'account', id: 'fw-6', query: { at: '2999-01-01' } },
      // No `from`: the owner starts at the stream's first readable version (retention may have cut it).
      { op: 'history', aggregateType: 'account', id: 'fw-6', limit: 1 },
      { op: 'history', aggregateType: 'account', id: 'fw-6', from: 2, limit: 1 },
    ]);
    // The owner's 404 is this route's 404.
    expect((await app.inject('/aggregates/account/nobody')).statusCode).toBe(404);
  });

  it('what a node answers to forwarded requests: the routes\' bodies, public commands only (an internal one is unknown, as over HTTP)', async () => {
    const opened = await handler!.execute('account', 'fw-7', { type: 'Open', data: { owner: 'Flo' } }, {});
    expect(opened).toMatchObject({ id: 'fw-7', version: 1, events: [{ type: 'AccountOpened', seq: 1 }] });
    expect(typeof opened.events[0]!.ts).toBe('string');
    await expect(handler!.execute('video', 'v-1', { type: 'Upload', data: {} }, {})).rejects.toMatchObject({ code: 'UnknownCommandType', details: { known: ['Cancel'] } });
    expect(await handler!.load('account', 'fw-7')).toEqual({ id: 'fw-7', type: 'account', version: 1, state: { owner: 'Flo', balance: 0, open: true } });
    expect(await handler!.history('account', 'fw-7')).toMatchObject({ events: [{ seq: 1 }] });
  });

  it('a diff is forwarded the same way, its points as the route took them; a bad point is refused where it arrives, a refusal naming no owner answered at once', async () => {
    await post('fw-8', { type: 'Open', data: { owner: 'Gus' } });
    await post('fw-8', { type: 'Deposit', data: { amount: 4 } });
    sent.length = 0;
    const d = await app.inject('/aggregates/account/fw-8/diff?from=0&to=2');
    expect(d.statusCode).toBe(200);
    expect(d.headers['x-eventide-forwarded-to']).toBe('b');
    expect(d.json()).toMatchObject({ id: 'fw-8', type: 'account', from: { version: 0, state: null }, to: { version: 2, state: { balance: 4 } }, events: [{ seq: 1 }, { seq: 2 }] });
    expect(sent.map((x) => x.request)).toEqual([{ op: 'diff', aggregateType: 'account', id: 'fw-8', from: '0', to: '2' }]);
    sent.length = 0;
    expect((await app.inject('/aggregates/account/fw-8/diff?from=soon&to=2')).statusCode).toBe(400);
    expect(sent).toEqual([]);
    refusedFor = undefined;
    const changing = await app.inject('/aggregates/account/fw-8/diff?from=0&to=2');
    expect(changing.statusCode).toBe(503);
    expect(changing.headers['retry-after']).toBe('2');
    expect(changing.json()).toMatchObject({ error: 'NotOwner', retryAfterMs: 2000 });
    expect(sent).toEqual([]);
  });

  it('a stream deletion and its undelete are forwarded like a command (who asked goes along), the owner\'s answer as it is; a refusal naming no owner answered at once', async () => {
    await post('fw-9', { type: 'Open', data: { owner: 'Hal' } });
    sent.length = 0;
    const admin = (path: string, body: object) => app.inject({ method: 'POST', url: `/admin/streams/account/fw-9/${path}`, headers: { 'content-type': 'application/json' }, payload: body });
    const del = await admin('delete', { commandId: 'd-1' });
    expect(del.statusCode).toBe(200);
    expect(del.headers['x-eventide-forwarded-to']).toBe('b');
    expect(del.json()).toEqual({ id: 'fw-9', type: 'account', version: 2, changed: true, deleted: 'soft' });
    const undo = await admin('undelete', { expectedVersion: 2 });
    expect(undo.json()).toEqual({ id: 'fw-9', type: 'account', version: 3, changed: true });
    const conflict = await admin('undelete', {});
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({ error: 'StreamNotDeleted' });
    expect(sent.map((x) => x.request)).toEqual([
      { op: 'lifecycle', aggregateType: 'account', id: 'fw-9', action: 'delete', hard: false, by: null, options: { commandId: 'd-1' } },
      { op: 'lifecycle', aggregateType: 'account', id: 'fw-9', action: 'undelete', by: null, options: { expectedVersion: 2 } },
      { op: 'lifecycle', aggregateType: 'account', id: 'fw-9', action: 'undelete', by: null },
    ]);
    sent.length = 0;
    refusedFor = undefined;
    const changing = await admin('delete', { hard: true });
    expect(changing.statusCode).toBe(503);
    expect(changing.headers['retry-after']).toBe('2');
    expect(sent).toEqual([]);
  });

  it('what a node answers to a forwarded deletion\'s audit record: appended to its audit stream once per commandId', async () => {
    const record = { kind: 'StreamDeleted' as const, target: { aggregateType: 'account', id: 'fw-10' }, by: 'ops', details: { version: 3 } };
    const first = await handler!.audit!(record, 'lifecycle:test-1');
    const again = await handler!.audit!(record, 'lifecycle:test-1');
    expect(again).toEqual({ version: first.version, duplicate: true });
    const audit = await owner.runtime.history('$audit', 'lifecycle');
    expect(audit.filter((e) => (e.data as { target: { id?: string } }).target.id === 'fw-10').map((e) => [e.type, (e.data as { by: string }).by])).toEqual([['StreamDeleted', 'ops']]);
  });

  it('/partitions says which member this server is and lists the live members with their URLs', async () => {
    const res = await app.inject('/partitions');
    expect(res.json()).toMatchObject({ node: 'a', members: [{ nodeId: 'a', url: 'http://127.0.0.1:1' }, { nodeId: 'b' }] });
  });
});
