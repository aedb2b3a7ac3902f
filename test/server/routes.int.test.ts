/**
 * The HTTP contract of issue 3, row by row: every success and every error of every route. What a client
 * program sees (answers and error codes) goes through `eventide/client` over a real socket, as users call
 * the server; the HTTP edge itself (exact bytes, headers, content types, bodies no client would send,
 * malformed queries) goes through fastify's inject.
 */
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type EventideClient } from '../../src/client/index.js';
import type { AccountState } from '../../src/domain/index.js';
import { errors, RuntimeError, ErrorCodes } from '../../src/kernel/index.js';
import type { EventEnvelope } from '../../src/kernel/index.js';
import type { ExecuteResult, HealthReason, Runtime } from '../../src/runtime/index.js';
import { buildServer } from '../../src/server/index.js';
import { commandReplyJson, envelopeJson, envelopeJsonText } from '../../src/server/envelope-json.js';
import { dashboardDir } from '../../src/server/routes/dashboard.js';
import { command, harness, type Harness } from './helpers.js';
import { clientFailureOf as failure } from '../support/errors.js';

let h: Harness;
let client: EventideClient;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

beforeAll(async () => {
  h = await harness();
  client = createClient({ baseUrl: await h.listen() });
});

afterAll(async () => {
  await h?.close();
});

describe('POST /aggregates/:type/:id/commands', () => {
  it('executes a command and answers 200 { id, type, version, events, state } with ISO timestamps', async () => {
    const r = await client.execute('account', 'acc-ok', { type: 'Open', data: { owner: 'Ada' } });
    expect(r).toMatchObject({ id: 'acc-ok', type: 'account', version: 1, state: { owner: 'Ada', balance: 0, open: true } });
    const [e] = r.events;
    expect(e).toMatchObject({ aggregateType: 'account', stream: 'acc-ok', type: 'AccountOpened', seq: 1, data: { owner: 'Ada' }, meta: {} });
    expect(e!.ts).toMatch(ISO);
    expect(typeof e!.partition).toBe('number');
    expect(typeof e!.offset).toBe('number');
  });

  it('accepts expectedVersion and a commandId, and answers a retried commandId with the first result (duplicate: true)', async () => {
    const first = await client.execute('account', 'acc-ok', { type: 'Deposit', data: { amount: 500 } }, { expectedVersion: 1, commandId: 'dep-1' });
    expect(first).toMatchObject({ version: 2, state: { balance: 500 } });
    const again = await client.execute('account', 'acc-ok', { type: 'Deposit', data: { amount: 500 } }, { commandId: 'dep-1' });
    expect(again).toMatchObject({ version: 2, duplicate: true, state: { balance: 500 } });
    expect(h.runtime.log.streamHead('account', 'acc-ok').version).toBe(2);
  });

  it('lets data be left out for a command with no required field', async () => {
    // Upload is internal (only the pipeline sends it); Cancel is public.
    await h.runtime.execute('video', 'vid-cancel', { type: 'Upload', data: { path: 'uploads/v1', bytes: 10, sha256: 'a'.repeat(64) } });
    expect(await client.execute('video', 'vid-cancel', { type: 'Cancel' })).toMatchObject({ version: 2, state: { status: 'CANCELLED' } });
  });

  it('answers exactly the JSON of the documented reply object, with the JSON content type (duplicate included)', async () => {
    // The route writes its JSON text directly (envelope-json.ts); it must be byte for byte what
    // JSON.stringify makes of { id, type, version, events: [envelope], state, position, duplicate? }.
    const post = (body: object) =>
      h.app.inject({ method: 'POST', url: '/aggregates/account/acc-exact/commands', headers: { 'content-type': 'application/json' }, payload: body });
    await post({ type: 'Open', data: { owner: 'Zoë "Q" \\ \u2028' } });
    const body = { type: 'Deposit', data: { amount: 42 }, commandId: 'c-1', correlationId: 'corr.1', causationId: 'cause:1' };
    const res = await post(body);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const [e] = await h.runtime.history('account', 'acc-exact', { from: 2, limit: 1 });
    const expected = {
      id: 'acc-exact',
      type: 'account',
      version: 2,
      events: [{ aggregateType: 'account', stream: 'acc-exact', type: 'Deposited', seq: 2, data: { amount: 42 }, ts: new Date(e!.ts).toISOString(), partition: e!.partition, offset: e!.offset, meta: { commandId: 'c-1', correlationId: 'corr.1', causationId: 'cause:1' } }],
      state: { owner: 'Zoë "Q" \\ \u2028', balance: 42, open: true },
      position: positionAfterText(e!.partition, e!.offset, h.runtime.partitionCount),
    };
    expect(res.body).toBe(JSON.stringify(expected));
    const again = await post(body);
    expect(again.statusCode).toBe(200);
    expect(again.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(again.body).toBe(JSON.stringify({ ...expected, duplicate: true }));
  });

  const bad: Array<[string, () => Promise<unknown>, string, Record<string, unknown>?]> = [
    ['a string amount (no coercion)', () => client.execute('account', 'acc-bad', { type: 'Deposit', data: { amount: '5' } }), 'InvalidCommand', { path: '/data/amount' }],
    ['a negative amount', () => client.execute('account', 'acc-bad', { type: 'Deposit', data: { amount: -1 } }), 'InvalidCommand', { path: '/data/amount' }],
    ['a missing required data', () => client.execute('account', 'acc-bad', { type: 'Open' }), 'InvalidCommand'],
    ['an unknown field in data', () => client.execute('account', 'acc-bad', { type: 'Open', data: { owner: 'x', admin: true } }), 'InvalidCommand'],
    ['a negative expectedVersion', () => client.execute('account', 'acc-bad', { type: 'Deposit', data: { amount: 1 } }, { expectedVersion: -1 }), 'InvalidCommand'],
    ['a commandId outside the id alphabet', () => client.execute('account', 'acc-bad', { type: 'Deposit', data: { amount: 1 } }, { commandId: 'a b' }), 'InvalidCommand'],
    ['an unknown command type', () => client.execute('account', 'acc-bad', { type: 'Transfer', data: {} }), 'UnknownCommandType', { known: ['Open', 'Deposit', 'Withdraw'] }],
  ];
  it.each(bad)('answers 400 to %s and writes nothing', async (_what, call, code, details) => {
    const err = await failure(call());
    expect(err).toMatchObject({ status: 400, code });
    expect(err.message).not.toBe('');
    if (details) expect(err.details).toMatchObject(details);
    expect(h.runtime.log.streamHead('account', 'acc-bad').version).toBe(0);
  });

  // Bodies the client cannot produce: a raw request.
  it.each([
    ['an unknown top-level field', { type: 'Deposit', data: { amount: 1 }, force: true }],
    ['no type', { data: {} }],
    ['a body that is not an object', [1, 2]],
  ])('answers 400 InvalidCommand to %s and writes nothing', async (_what, body) => {
    const r = await command(h.app, 'account', 'acc-bad', body);
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('InvalidCommand');
    expect(typeof r.body.message).toBe('string');
    expect(h.runtime.log.streamHead('account', 'acc-bad').version).toBe(0);
  });

  it('answers 400 InvalidCommand to a body that is not JSON', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/aggregates/account/acc-bad/commands', headers: { 'content-type': 'application/json' }, payload: '{"type":' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'InvalidCommand' });
  });

  it.each([
    ['__proto__', '{"type":"Open","data":{"owner":"x","__proto__":{"polluted":true}}}'],
    ['constructor.prototype', '{"type":"Open","data":{"owner":"x","constructor":{"prototype":{"polluted":true}}}}'],
  ])('refuses a %s key with 400 and pollutes nothing', async (_key, payload) => {
    const res = await h.app.inject({ method: 'POST', url: '/aggregates/account/acc-proto/commands', headers: { 'content-type': 'application/json' }, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'InvalidCommand' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(h.runtime.log.streamHead('account', 'acc-proto').version).toBe(0);
  });

  it.each([
    ['a space', 'bad id'],
    ['129 characters', 'x'.repeat(129)],
    ['a slash-free but non-alphabet character', 'caf\u00e9'],
  ])('answers 400 InvalidId to an id with %s', async (_what, id) => {
    expect(await failure(client.execute('account', id, { type: 'Open', data: { owner: 'x' } }))).toMatchObject({ status: 400, code: 'InvalidId' });
  });

  it('answers 404 UnknownAggregateType to an aggregate type nobody registered', async () => {
    expect(await failure(client.execute('spaceship', 'x1', { type: 'Launch' }))).toMatchObject({ status: 404, code: 'UnknownAggregateType', details: { type: 'spaceship' } });
  });

  it('answers 409 VersionConflict with { expected, actual }', async () => {
    const err = await failure(client.execute('account', 'acc-ok', { type: 'Deposit', data: { amount: 1 } }, { expectedVersion: 0 }));
    expect(err).toMatchObject({ status: 409, code: 'VersionConflict', details: { expected: 0, actual: 2 } });
  });

  it('answers 409 to a command that conflicts with the state (a second Open)', async () => {
    expect(await failure(client.execute('account', 'acc-ok', { type: 'Open', data: { owner: 'Eve' } }))).toMatchObject({ status: 409, code: 'AccountAlreadyOpen' });
  });

  it('answers 413 PayloadTooLarge to a body over 1 MiB', async () => {
    const payload = JSON.stringify({ type: 'Open', data: { owner: 'x'.repeat(1024 * 1024 + 10) } });
    const res = await h.app.inject({ method: 'POST', url: '/aggregates/account/acc-big/commands', headers: { 'content-type': 'application/json' }, payload });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'PayloadTooLarge' });
    expect(h.runtime.log.streamHead('account', 'acc-big').version).toBe(0);
  });

  it('answers 415 UnsupportedMediaType to a body that is not JSON by content-type', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/aggregates/account/acc-bad/commands', headers: { 'content-type': 'application/xml' }, payload: '<Open/>' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ error: 'UnsupportedMediaType' });
  });

  it('answers 422 to a broken business rule (InsufficientFunds) with its details', async () => {
    const err = await failure(client.execute('account', 'acc-ok', { type: 'Withdraw', data: { amount: 10_000 } }));
    expect(err).toMatchObject({ status: 422, code: 'InsufficientFunds', details: { balance: 500, amount: 10_000 } });
  });
});

describe('the command reply JSON text (envelope-json.ts)', () => {
  const envelope = (over: Partial<EventEnvelope> = {}): EventEnvelope => ({
    aggregateType: 'account',
    stream: 'a-1',
    type: 'Deposited',
    seq: 3,
    data: { amount: 7 },
    ts: 1_764_000_000_123,
    partition: 5,
    offset: 99,
    meta: {},
    ...over,
  });
  const result = (over: Partial<ExecuteResult> = {}): ExecuteResult => ({ id: 'a-1', type: 'account', version: 3, events: [envelope()], state: { balance: 7 }, ...over });
  const P = 8;
  /** The reply object as the route built it before it wrote the text itself. */
  const reference = (r: ExecuteResult) => {
    const last = r.events[r.events.length - 1];
    return {
      id: r.id,
      type: r.type,
      version: r.version,
      events: r.events.map((e) => ({ aggregateType: e.aggregateType, stream: e.stream, type: e.type, seq: e.seq, data: e.data, ts: new Date(e.ts).toISOString(), partition: e.partition, offset: e.offset, meta: e.meta ?? {} })),
      state: r.state,
      ...(last ? { position: positionAfterText(last.partition, last.offset, P) } : {}),
      ...(r.duplicate ? { duplicate: true } : {}),
    };
  };
  const cases: Array<[string, ExecuteResult]> = [
    ['one event', result()],
    ['several events with different timestamps', result({ events: [envelope({ seq: 2, offset: 98, ts: 1 }), envelope({ ts: 1_764_000_000_124 }), envelope({ ts: 0 })] })],
    ['no events', result({ events: [] })],
    ['a duplicate', result({ duplicate: true })],
    ['duplicate: false', result({ duplicate: false })],
    ['meta with every id', result({ events: [envelope({ meta: { commandId: 'c', correlationId: 'k', causationId: 'z' } })] })],
    ['missing meta', result({ events: [envelope({ meta: undefined as never })] })],
    ['undefined data and state', result({ events: [envelope({ data: undefined })], state: undefined })],
    ['null data and state', result({ events: [envelope({ data: null })], state: null })],
    ['strings that need escaping', result({ id: 'q"\\', events: [envelope({ stream: 'q"\\', type: '\u2028\n', data: { s: '\u0000é😀"' } })], state: { s: '</script>' } })],
    ['nested data, arrays and numbers', result({ events: [envelope({ data: { a: [1, 2.5, -0, 1e21], b: { c: true, d: null } } })], state: [1, 'x', { y: [] }] })],
  ];
  it.each(cases)('is JSON.stringify of the reply object for %s', (_what, r) => {
    expect(commandReplyJson(r, P)).toBe(JSON.stringify(reference(r)));
    for (const e of r.events) expect(envelopeJsonText(e)).toBe(JSON.stringify(envelopeJson(e)));
  });

  it('throws, as the object form does, for an event whose ts is not a valid time', () => {
    expect(() => commandReplyJson(result({ events: [envelope({ ts: Number.NaN })] }), P)).toThrow(RangeError);
  });
});

describe('503 answers from an overloaded or closing runtime', () => {
  /** The real runtime with one method replaced: the server only sees the Runtime interface. */
  async function serverWith(override: Partial<Runtime>) {
    return buildServer({ runtime: { ...h.runtime, ...override } as Runtime, defaultMetrics: false, dashboard: false });
  }

  it('answers 503 Overloaded with one retry time: Retry-After in whole seconds, rounded up, and the same in ms in the body', async () => {
    const app = await serverWith({ execute: () => Promise.reject(errors.overloaded('the mailbox of account a', 1500)) });
    const r = await command(app, 'account', 'acc-ok', { type: 'Deposit', data: { amount: 1 } });
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ error: 'Overloaded', retryAfterMs: 2000, retriable: true });
    expect(r.headers['retry-after']).toBe('2');
    await app.close();
  });

  it.each([
    ['WorkerCrashed', new RuntimeError(ErrorCodes.WorkerCrashed, 'worker 0 exited', { worker: 0 }, true)],
    ['RuntimeClosed', errors.closed()],
    ['StorageFailed', new RuntimeError(ErrorCodes.StorageFailed, 'fsync failed')],
  ])('answers 503 %s with Retry-After', async (code, err) => {
    const app = await serverWith({ execute: () => Promise.reject(err) });
    const r = await command(app, 'account', 'acc-ok', { type: 'Deposit', data: { amount: 1 } });
    expect(r.status).toBe(503);
    expect(r.body.error).toBe(code);
    expect(r.headers['retry-after']).toBe('1');
    await app.close();
  });

  it('answers 500 Internal without leaking the message of an unexpected error', async () => {
    const app = await serverWith({ execute: () => Promise.reject(new TypeError('secret detail')) });
    const r = await command(app, 'account', 'acc-ok', { type: 'Deposit', data: { amount: 1 } });
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ error: 'Internal', message: 'internal error' });
    await app.close();
  });
});

describe('GET /aggregates/:type/:id', () => {
  it('answers the current state { id, type, version, state }', async () => {
    expect(await client.load('account', 'acc-ok')).toEqual({ id: 'acc-ok', type: 'account', version: 2, state: { owner: 'Ada', balance: 500, open: true } });
  });

  it('answers the state as of a version', async () => {
    expect(await client.load<AccountState>('account', 'acc-ok', { version: 1 })).toMatchObject({ version: 1, state: { balance: 0 } });
  });

  it('answers the state as of a time, given as ISO-8601 or epoch ms', async () => {
    const [first] = h.runtime.log.readStream('account', 'acc-ok', 1, 1);
    for (const at of [new Date(first!.ts).toISOString(), first!.ts, Date.now() + 60_000]) {
      expect((await client.load('account', 'acc-ok', { at })).version).toBeGreaterThanOrEqual(1);
    }
  });

  it.each([
    ['version 0', { version: 0 }],
    ['both version and at', { version: 1, at: 0 }],
    ['a time that is not a time', { at: 'yesterday' }],
  ])('answers 400 InvalidQuery to %s', async (_what, options) => {
    expect(await failure(client.load('account', 'acc-ok', options))).toMatchObject({ status: 400, code: 'InvalidQuery' });
  });

  // Queries the client cannot send: a raw request.
  it.each([
    ['a version that is not a number', '?version=abc'],
    ['an unknown parameter', '?verison=1'],
  ])('answers 400 InvalidQuery to %s', async (_what, query) => {
    const res = await h.app.inject(`/aggregates/account/acc-ok${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'InvalidQuery' });
  });

  it.each([
    ['a stream with no event', () => client.load('account', 'nobody'), 'StreamNotFound'],
    ['a version past the head', () => client.load('account', 'acc-ok', { version: 99 }), 'NotFound'],
    ['a time before the first event', () => client.load('account', 'acc-ok', { at: 1000 }), 'NotFound'],
    ['an unknown aggregate type', () => client.load('spaceship', 'x1'), 'UnknownAggregateType'],
  ])('answers 404 to %s', async (_what, call, code) => {
    expect(await failure(call())).toMatchObject({ status: 404, code });
  });

  it('answers 400 InvalidId to a bad id', async () => {
    expect(await failure(client.load('account', 'a b'))).toMatchObject({ status: 400, code: 'InvalidId' });
  });
});

describe('GET /aggregates/:type/:id/events', () => {
  it('answers the history in order, a page at a time, with next while more remain', async () => {
    for (let i = 0; i < 3; i++) await client.execute('account', 'acc-pages', i === 0 ? { type: 'Open', data: { owner: 'P' } } : { type: 'Deposit', data: { amount: i } });
    const page1 = await client.history('account', 'acc-pages', { limit: 2 });
    expect(page1.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(page1.events[0]!.ts).toMatch(ISO);
    expect(page1.next).toBe(3);
    const page2 = await client.history('account', 'acc-pages', { from: page1.next!, limit: 2 });
    expect(page2.events.map((e) => e.seq)).toEqual([3]);
    expect(page2.next).toBeUndefined();
  });

  it('answers an empty page past the end', async () => {
    expect(await client.history('account', 'acc-pages', { from: 50 })).toEqual({ events: [] });
  });

  it.each([{ limit: 0 }, { limit: 5000 }, { from: 0 }])('answers 400 InvalidQuery to %o', async (options) => {
    expect(await failure(client.history('account', 'acc-pages', options))).toMatchObject({ status: 400, code: 'InvalidQuery' });
  });

  it('answers 400 InvalidQuery to a from that is not a number', async () => {
    const res = await h.app.inject('/aggregates/account/acc-pages/events?from=x');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'InvalidQuery' });
  });

  it.each([
    ['account', 'nobody', 'StreamNotFound'],
    ['spaceship', 'x', 'UnknownAggregateType'],
  ])('answers 404 to the events of %s/%s', async (type, id, code) => {
    expect(await failure(client.history(type, id))).toMatchObject({ status: 404, code });
  });
});

describe('GET /partitions, /health, /metrics, /', () => {
  it('answers the partition map', async () => {
    const body = await client.partitions();
    expect(body.partitions).toHaveLength(4);
    expect(body.partitions.map((p) => p.partition)).toEqual([0, 1, 2, 3]);
    expect(body.partitions.reduce((n, p) => n + p.offset, 0)).toBe(h.runtime.partitions().reduce((n, p) => n + p.offset, 0));
    expect(body.workers).toHaveLength(1);
  });

  it('answers 200 to /health while the runtime is open', async () => {
    expect(await client.health()).toMatchObject({ status: 'ok', partitions: 4 });
  });

  it('answers 503 to /health while the runtime is unhealthy, one line per typed reason, in order', async () => {
    const reasons: HealthReason[] = [
      { kind: 'worker-failed', worker: 0, code: 'StorageFailed', message: 'worker 0: disk full' },
      { kind: 'partition-stopped', partition: 2, code: 'CorruptRecord', message: 'corrupt record in partition 2' },
      { kind: 'worker-down', worker: 1, code: 'WorkerCrashed', message: 'worker 1 exited with code 1 and was restarted too often; it stays down' },
      { kind: 'closed', message: 'closed' },
    ];
    const app = await buildServer({ runtime: { ...h.runtime, health: () => ({ ok: false, reasons }) } as Runtime, defaultMetrics: false });
    const res = await app.inject('/health');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ error: 'Unavailable', status: 'unhealthy', reasons: reasons.map((r) => r.message) });
    await app.close();
  });

  it('answers Prometheus text with the command, event, partition, mailbox and WebSocket metrics', async () => {
    const res = await h.app.inject('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const missing = [
      'eventide_commands_total{aggregate="account",command="Open",outcome="ok"}',
      'eventide_commands_total{aggregate="account",command="Withdraw",outcome="rejected"}',
      'eventide_commands_total{aggregate="account",command="Deposit",outcome="duplicate"}',
      'eventide_command_duration_seconds_bucket',
      'eventide_events_appended_total{aggregate="account"}',
      'eventide_partition_offset{partition="0"}',
      'eventide_feed_lag_events{partition="0"}',
      'eventide_mailbox_depth{worker="0"}',
      'eventide_worker_heap_used_bytes{worker="0"}',
      'eventide_websocket_clients',
    ].filter((name) => !res.body.includes(name));
    expect(missing).toEqual([]);
    const heap = Number(/^eventide_worker_heap_used_bytes\{worker="0"\} (\d+)$/m.exec(res.body)?.[1]);
    expect(heap).toBeGreaterThan(1024 * 1024);
  });

  it('counts every command once, however often /metrics is scraped', async () => {
    const value = (text: string, series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.slice(series.length + 1) ?? 0);
    const ok = 'eventide_commands_total{aggregate="account",command="Deposit",outcome="ok"}';
    const count = 'eventide_command_duration_seconds_count{aggregate="account",command="Deposit"}';
    const appended = 'eventide_events_appended_total{aggregate="account"}';
    const unknown = 'eventide_commands_total{aggregate="account",command="unknown",outcome="invalid"}';
    await client.execute('account', 'acc-count', { type: 'Open', data: { owner: 'x' } });
    const before = (await h.app.inject('/metrics')).body;
    expect((await h.app.inject('/metrics')).body.includes(`${ok} ${value(before, ok)}`)).toBe(true);
    for (let i = 0; i < 3; i++) await client.execute('account', 'acc-count', { type: 'Deposit', data: { amount: 1 } });
    await failure(client.execute('account', 'acc-count', { type: 'Nope', data: {} }));
    const after = (await h.app.inject('/metrics')).body;
    expect(value(after, ok) - value(before, ok)).toBe(3);
    expect(value(after, count) - value(before, count)).toBe(3);
    expect(value(after, appended) - value(before, appended)).toBe(3);
    expect(value(after, unknown) - value(before, unknown)).toBe(1);
    const again = (await h.app.inject('/metrics')).body;
    for (const s of [ok, count, appended, unknown]) expect(value(again, s)).toBe(value(after, s));
  });

  it('serves the dashboard page with a strict Content-Security-Policy', async () => {
    const res = await h.app.inject('/');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.body).toContain('/dashboard/app.js');
    // Every script of the page: served, and none writes markup (data goes in through textContent).
    const scripts = readdirSync(dashboardDir()).filter((f) => f.endsWith('.js'));
    expect(scripts).toContain('app.js');
    for (const file of scripts) {
      const js = await h.app.inject(`/dashboard/${file}`);
      expect(js.statusCode, file).toBe(200);
      expect(js.headers['content-type'], file).toMatch(/^text\/javascript/);
      expect(js.body, file).not.toMatch(/\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function/);
    }
    // uPlot comes from the installed package, under fixed names; nothing else is reachable there.
    expect((await h.app.inject('/dashboard/vendor/uPlot.iife.min.js')).statusCode).toBe(200);
    expect((await h.app.inject('/dashboard/vendor/uPlot.min.css')).headers['content-type']).toMatch(/^text\/css/);
    for (const url of ['/dashboard/nope.js', '/dashboard/index.html', '/dashboard/..%2F..%2Fapp.ts', '/dashboard/vendor/uPlot.esm.js', '/dashboard/vendor/..%2Fpackage.json']) {
      const miss = await h.app.inject(url);
      expect(miss.statusCode, url).toBe(404);
      expect(miss.json(), url).toMatchObject({ error: 'NotFound' });
    }
  });

  it('answers 426 UpgradeRequired to a plain GET /feed', async () => {
    const res = await h.app.inject('/feed');
    expect(res.statusCode).toBe(426);
    expect(res.json()).toMatchObject({ error: 'UpgradeRequired' });
  });

  it('answers 404 NotFound in the same JSON shape to an unknown route', async () => {
    for (const [method, url] of [['GET', '/nope'], ['DELETE', '/nope/either'], ['GET', '/aggregates']] as const) {
      const res = await h.app.inject({ method, url });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ error: 'NotFound' });
    }
  });
});

describe('extra plugins', () => {
  it('registers plugins with the runtime, and their errors use the same JSON shape', async () => {
    const app = await buildServer({
      runtime: h.runtime,
      defaultMetrics: false,
      plugins: [
        async (scope, { runtime }) => {
          scope.get('/extra', async () => ({ partitions: runtime.partitionCount }));
          scope.get('/extra/fail', async () => {
            throw errors.streamNotFound('video', 'v1');
          });
        },
      ],
    });
    expect((await app.inject('/extra')).json()).toEqual({ partitions: 4 });
    const fail = await app.inject('/extra/fail');
    expect(fail.statusCode).toBe(404);
    expect(fail.json()).toMatchObject({ error: 'StreamNotFound' });
    await app.close();
  });
});

/** The documented position just after one event, spelled out without the kernel: `offset + 1` in its partition, 0 elsewhere. */
function positionAfterText(partition: number, offset: number, partitions: number): string {
  return Array.from({ length: partitions }, (_, p) => (p === partition ? offset + 1 : 0)).join('.');
}
