/**
 * `eventide/client` against a real server on a real socket (`buildServer`, listening on 127.0.0.1):
 * every method once on its happy path and on the errors a caller must be able to tell apart by code,
 * deadlines and aborts, and bearer tokens (HTTP and the feed's subprotocol).
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createClient, type EventideClient } from '../../src/client/index.js';
import type { AccountCommand, AccountEvent, AccountState } from '../../src/domain/index.js';
import type { BalanceRow } from '../../src/projections/index.js';
import { harness, type Harness } from '../server/helpers.js';
import { clientFailureOf as failure } from '../support/errors.js';

let h: Harness;
let client: EventideClient;

beforeAll(async () => {
  h = await harness();
  client = createClient({ baseUrl: await h.listen() });
  h.app.server.on('connection', (socket: Socket) => {
    unused.add(socket);
    socket.once('data', () => unused.delete(socket));
  });
});
/**
 * Connections that never sent a byte. Node's fetch (undici) opens one to replace a socket it destroyed on
 * an abort; a closing server never times such a connection out (server.close() stops the headers-timeout
 * sweep, and it is not "idle" to closeIdleConnections), so app.close() would wait for it forever.
 */
const unused = new Set<Socket>();
afterAll(async () => {
  for (const socket of unused) socket.destroy();
  await h?.close();
});

describe('commands', () => {
  it('executes a command and answers the state, the events and a position', async () => {
    const r = await client.execute<AccountState>('account', 'c-1', { type: 'Open', data: { owner: 'Ada' } });
    expect(r).toMatchObject({ id: 'c-1', type: 'account', version: 1, state: { owner: 'Ada', balance: 0, open: true } });
    expect(r.events).toEqual([expect.objectContaining({ aggregateType: 'account', stream: 'c-1', type: 'AccountOpened', seq: 1, data: { owner: 'Ada' }, meta: {} })]);
    expect(r.position).toBe(h.runtime.partitions().map((p) => (p.partition === r.events[0]!.partition ? r.events[0]!.offset + 1 : 0)).join('.'));
  });

  it('sends expectedVersion and the ids, and answers a repeated commandId with the first result', async () => {
    const options = { expectedVersion: 1, commandId: 'dep-1', correlationId: 'corr-1', causationId: 'cause-1' };
    const first = await client.execute<AccountState>('account', 'c-1', { type: 'Deposit', data: { amount: 500 } }, options);
    expect(first).toMatchObject({ version: 2, state: { balance: 500 } });
    expect(first.duplicate).toBeUndefined();
    expect(first.events[0]!.meta).toEqual({ commandId: 'dep-1', correlationId: 'corr-1', causationId: 'cause-1' });
    const again = await client.execute('account', 'c-1', { type: 'Deposit', data: { amount: 500 } }, { commandId: 'dep-1' });
    expect(again).toMatchObject({ version: 2, duplicate: true });
  });

  it('lets data be left out for a command without required fields', async () => {
    await h.runtime.execute('video', 'c-vid', { type: 'Upload', data: { path: 'uploads/v1', bytes: 10, sha256: 'a'.repeat(64) } });
    expect(await client.execute('video', 'c-vid', { type: 'Cancel' })).toMatchObject({ version: 2, state: { status: 'CANCELLED' } });
  });

  it.each([
    ['a version conflict', () => client.execute('account', 'c-1', { type: 'Deposit', data: { amount: 1 } }, { expectedVersion: 0 }), 'VersionConflict', 409, { expected: 0, actual: 2 }],
    ['a domain rule', () => client.execute('account', 'c-1', { type: 'Withdraw', data: { amount: 10_000 } }), 'InsufficientFunds', 422, { balance: 500, amount: 10_000 }],
    ['a domain conflict', () => client.execute('account', 'c-1', { type: 'Open', data: { owner: 'Eve' } }), 'AccountAlreadyOpen', 409, {}],
    ['a reused command id', () => client.execute('account', 'c-1', { type: 'Deposit', data: { amount: 7 } }, { commandId: 'dep-1' }), 'IdempotencyKeyReused', 409, {}],
    ['a schema error', () => client.execute('account', 'c-1', { type: 'Deposit', data: { amount: '5' } }), 'InvalidCommand', 400, { path: '/data/amount' }],
    ['an unknown command', () => client.execute('account', 'c-1', { type: 'Transfer', data: {} }), 'UnknownCommandType', 400, { known: ['Open', 'Deposit', 'Withdraw'] }],
    ['an internal command', () => client.execute('video', 'c-vid', { type: 'StartProcessing', data: { attempt: 1 } }), 'UnknownCommandType', 400, { known: ['Cancel'] }],
    ['an unknown aggregate type', () => client.execute('spaceship', 'x', { type: 'Launch' }), 'UnknownAggregateType', 404, { type: 'spaceship' }],
    ['a bad id', () => client.execute('account', 'a b', { type: 'Open', data: { owner: 'x' } }), 'InvalidId', 400, {}],
  ] as const)('throws %s with its code, status and details', async (_what, call, code, status, details) => {
    const err = await failure(call());
    expect(err).toMatchObject({ code, status, details });
    expect(err.message).not.toBe('');
  });
});

describe('state, history and diff', () => {
  beforeAll(async () => {
    await client.execute('account', 'c-2', { type: 'Open', data: { owner: 'Bo' } });
    for (const amount of [10, 20, 30]) await client.execute('account', 'c-2', { type: 'Deposit', data: { amount } });
  });

  it('loads the current state, and the state as of a version or a time (Date, ISO-8601, epoch ms)', async () => {
    expect(await client.load('account', 'c-2')).toEqual({ id: 'c-2', type: 'account', version: 4, state: { owner: 'Bo', balance: 60, open: true } });
    expect(await client.load('account', 'c-2', { version: 2 })).toMatchObject({ version: 2, state: { balance: 10 } });
    const second = (await client.history('account', 'c-2', { from: 2, limit: 1 })).events[0]!;
    for (const at of [new Date(second.ts), second.ts, Date.parse(second.ts)]) {
      expect((await client.load('account', 'c-2', { at })).version).toBeGreaterThanOrEqual(2);
    }
  });

  it('throws StreamNotFound, NotFound and InvalidQuery as the server answers them', async () => {
    expect(await failure(client.load('account', 'nobody'))).toMatchObject({ code: 'StreamNotFound', status: 404 });
    expect(await failure(client.load('account', 'c-2', { version: 99 }))).toMatchObject({ code: 'NotFound', status: 404 });
    expect(await failure(client.load('account', 'c-2', { at: 1000 }))).toMatchObject({ code: 'NotFound', status: 404 });
    expect(await failure(client.load('account', 'c-2', { at: 'yesterday' }))).toMatchObject({ code: 'InvalidQuery', status: 400 });
  });

  it('reads the history a page at a time, and every event across pages', async () => {
    const page = await client.history('account', 'c-2', { limit: 3 });
    expect(page.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(page.next).toBe(4);
    expect((await client.history('account', 'c-2', { from: page.next! })).events.map((e) => e.seq)).toEqual([4]);
    const all = [];
    for await (const e of client.events('account', 'c-2', { limit: 1 })) all.push(e.seq);
    expect(all).toEqual([1, 2, 3, 4]);
  });

  it('shows the diff between two versions, or times, or from before the first event', async () => {
    const d = await client.diff<AccountState>('account', 'c-2', 1, 3);
    expect(d.from).toEqual({ version: 1, state: { owner: 'Bo', balance: 0, open: true } });
    expect(d.to).toMatchObject({ version: 3, state: { balance: 30 } });
    expect(d.events.map((e) => e.seq)).toEqual([2, 3]);
    const last = (await client.history('account', 'c-2', { from: 4 })).events[0]!;
    const whole = await client.diff('account', 'c-2', 0, new Date(last.ts));
    expect(whole.from).toEqual({ version: 0, state: null });
    expect(whole.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(await failure(client.diff('account', 'c-2', 3, 1))).toMatchObject({ code: 'InvalidQuery', status: 400 });
  });

  it("types one aggregate with the domain's state, commands and events", async () => {
    const accounts = client.aggregate<AccountState, AccountCommand, AccountEvent>('account');
    const r = await accounts.execute('c-3', { type: 'Open', data: { owner: 'Cy' } });
    const opened = r.events[0]!;
    expect(opened.type === 'AccountOpened' ? opened.data.owner : undefined).toBe('Cy');
    expect((await accounts.load('c-3')).state.owner).toBe('Cy');
    expect((await accounts.history('c-3')).events).toHaveLength(1);
    expect((await accounts.diff('c-3', 0, 1)).to.state.open).toBe(true);
  });
});

describe('views', () => {
  it('reads its own write: a row as of the position a command answered', async () => {
    const r = await client.execute('account', 'v-1', { type: 'Open', data: { owner: 'Vi' } });
    const row = await client.views.get<BalanceRow>('balances', 'v-1', { position: r.position });
    expect(row).toMatchObject({ view: 'balances', id: 'v-1', row: { owner: 'Vi', balance: 0, version: 1 } });
    expect(await failure(client.views.get('balances', 'nobody'))).toMatchObject({ code: 'NotFound', status: 404 });
    expect(await failure(client.views.get('nope', 'v-1'))).toMatchObject({ code: 'NotFound', status: 404 });
  });

  it('lists rows a page at a time with the lag, and iterates every row', async () => {
    await client.views.get('balances', 'c-3', { position: h.runtime.partitions().map((p) => p.offset).join('.') });
    const page = await client.views.list('balances', { limit: 2 });
    expect(page.rows).toHaveLength(2);
    expect(page.lag).toHaveLength(4);
    expect(page.next).toBe(page.rows[1]!.id);
    const ids = [];
    for await (const row of client.views.rows('balances', { limit: 2 })) ids.push(row.id);
    expect(ids).toEqual(['c-1', 'c-2', 'c-3', 'v-1']);
  });

  it('rebuilds a view and follows the rebuild to its swap; reconciles it with no drift', async () => {
    const started = await client.views.rebuild('balances');
    expect(['building', 'swapped']).toContain(started.state);
    await expect.poll(async () => (await client.views.rebuildStatus('balances')).state).toBe('swapped');
    expect(await client.views.reconcile('balances', { repair: false, max: 10 })).toMatchObject({ drift: 0, mismatches: [], damaged: [] });
  });

  it('throws ViewLagging (retriable, with Retry-After) when the view does not reach a position in time', async () => {
    const ahead = h.runtime.partitions().map((p) => p.offset + 1).join('.');
    const err = await failure(client.views.get('balances', 'v-1', { position: ahead, waitMs: 20 }));
    expect(err).toMatchObject({ code: 'ViewLagging', status: 503, retriable: true, retryAfter: 1 });
  });
});

describe('health and partitions', () => {
  it('answers health and the partition map', async () => {
    expect(await client.health()).toMatchObject({ status: 'ok', partitions: 4, workers: 1, aggregateTypes: ['account', 'video'] });
    const map = await client.partitions();
    expect(map.partitions.map((p) => p.partition)).toEqual([0, 1, 2, 3]);
    expect(map.partitions.reduce((n, p) => n + p.offset, 0)).toBe(h.runtime.partitions().reduce((n, p) => n + p.offset, 0));
    expect(map.partitions[0]!.views.balances).toEqual({ checkpoint: expect.any(Number), lag: expect.any(Number) });
    expect(map.workers).toHaveLength(1);
  });
});

describe('deadlines, aborts and no server', () => {
  // A view read that waits for a position the log never reaches: the server holds the request.
  const stalled = () => h.runtime.partitions().map((p) => p.offset + 1000).join('.');

  it('throws Timeout when the answer does not come within timeoutMs', async () => {
    const err = await failure(client.views.get('balances', 'v-1', { position: stalled(), waitMs: 10_000, timeoutMs: 50 }));
    expect(err).toMatchObject({ code: 'Timeout', status: 0, retriable: true });
  });

  it('throws Aborted when the caller aborts', async () => {
    const controller = new AbortController();
    const pending = failure(client.views.get('balances', 'v-1', { position: stalled(), waitMs: 10_000, signal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    expect(await pending).toMatchObject({ code: 'Aborted', status: 0 });
  });

  it('throws NetworkError when nothing listens', async () => {
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await failure(createClient({ baseUrl: `http://127.0.0.1:${port}` }).health())).toMatchObject({ code: 'NetworkError', status: 0, retriable: true });
  });
});

describe('with bearer tokens', () => {
  const tokens = { admin: 'admin-token-0123456789', reader: 'reader-token-0123456789' };
  let secured: Harness;
  let base: string;

  beforeAll(async () => {
    secured = await harness({ security: { tokens: [{ name: 'ops', token: tokens.admin, scopes: ['admin'] }, { name: 'dash', token: tokens.reader, scopes: ['read'] }] } });
    base = await secured.listen();
  });
  afterAll(async () => {
    await secured?.close();
  });

  it('sends the token, and throws Unauthorized without one and Forbidden without the scope', async () => {
    const ops = createClient({ baseUrl: base, token: tokens.admin });
    expect(await ops.execute('account', 't-1', { type: 'Open', data: { owner: 'T' } })).toMatchObject({ version: 1 });
    expect(await failure(createClient({ baseUrl: base }).load('account', 't-1'))).toMatchObject({ code: 'Unauthorized', status: 401, details: { reason: 'missing_token' } });
    expect(await failure(createClient({ baseUrl: base, token: 'wrong-token-0123456789' }).load('account', 't-1'))).toMatchObject({ code: 'Unauthorized', details: { reason: 'invalid_token' } });
    const dash = createClient({ baseUrl: base, token: tokens.reader });
    expect((await dash.load('account', 't-1')).version).toBe(1);
    expect(await failure(dash.execute('account', 't-1', { type: 'Deposit', data: { amount: 1 } }))).toMatchObject({ code: 'Forbidden', status: 403 });
  });

  it('opens the feed with the token as its subprotocol, and ends with Unauthorized without one', async () => {
    const feed = createClient({ baseUrl: base, token: tokens.reader }).feed({ from: 'start', WebSocket });
    const first = await feed.next();
    expect(first.done).toBe(false);
    expect(first.value!.events[0]).toMatchObject({ stream: 't-1', type: 'AccountOpened' });
    await feed.close();
    const refused = createClient({ baseUrl: base }).feed({ from: 'start', WebSocket });
    expect(await failure(refused.next())).toMatchObject({ code: 'Unauthorized', status: 401 });
  });
});
