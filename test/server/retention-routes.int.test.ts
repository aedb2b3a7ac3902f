/**
 * `/admin/retention/:type[/:id]` and `/admin/streams/:type/:id/delete|undelete` over HTTP: admin scope
 * for reading and writing, bodies checked by their JSON schema, the stream reads (events, state at a
 * version, diff) answering 410 `Gone` with the first readable version once a cut hides what they ask
 * for, and a tombstoned stream refusing commands with 410 `StreamDeleted`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness, type Harness } from './helpers.js';

const ADMIN = 'admin-token-0123456789';
const WRITER = 'writer-token-0123456789';
const tokens = [
  { name: 'ops', token: ADMIN, scopes: ['admin'] },
  { name: 'bank', token: WRITER, scopes: ['write'] },
];
const as = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

describe('retention routes', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await harness({ security: { tokens, rateLimit: false } });
    for (let i = 0; i < 5; i++) {
      const body = i === 0 ? { type: 'Open', data: { owner: 'Ada' } } : { type: 'Deposit', data: { amount: i } };
      const res = await h.app.inject({ method: 'POST', url: '/aggregates/account/h1/commands', headers: as(WRITER), payload: body });
      expect(res.statusCode, res.body).toBe(200);
    }
  });
  afterAll(() => h?.close());

  const put = (url: string, payload: unknown, token = ADMIN) => h.app.inject({ method: 'PUT', url, headers: as(token), payload: payload as object });
  const get = (url: string, token = ADMIN) => h.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

  it('needs the admin scope to read or change retention', async () => {
    expect((await put('/admin/retention/account/h1', { settings: { maxCount: 1 } }, WRITER)).statusCode).toBe(403);
    expect((await get('/admin/retention/account/h1', WRITER)).statusCode).toBe(403);
    expect((await get('/admin/retention/account', WRITER)).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'PUT', url: '/admin/retention/account', payload: { settings: null } })).statusCode).toBe(401);
  });

  it('sets a cut on a stream; its reads before the cut answer 410 Gone with the first readable version', async () => {
    const set = await put('/admin/retention/account/h1', { settings: { truncateBefore: 3 } });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toEqual({ aggregateType: 'account', id: 'h1', settings: { truncateBefore: 3 }, stream: { effective: { truncateBefore: 3 }, source: 'stream', head: 5, firstVersion: 3 }, changed: true });
    expect((await get('/admin/retention/account/h1')).json()).toMatchObject({ settings: { truncateBefore: 3 }, stream: { firstVersion: 3 } });

    const page = await get('/aggregates/account/h1/events?limit=2');
    expect(page.statusCode).toBe(200);
    expect(page.json()).toMatchObject({ events: [{ seq: 3 }, { seq: 4 }], next: 5 });
    for (const url of ['/aggregates/account/h1/events?from=1', '/aggregates/account/h1?version=2', '/aggregates/account/h1/diff?from=0&to=5', '/aggregates/account/h1/diff?from=1&to=5']) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(410);
      expect(res.json(), url).toMatchObject({ error: 'Gone', firstVersion: 3, head: 5 });
    }
    const state = await get('/aggregates/account/h1');
    expect(state.json()).toMatchObject({ version: 5, state: { balance: 10 } });
    // The audit stream names who asked (the token's name).
    const audit = await h.runtime.history('$audit', 'lifecycle');
    expect(audit.at(-1)).toMatchObject({ type: 'RetentionSet', data: { target: { aggregateType: 'account', id: 'h1' }, by: 'ops' } });
  });

  it('sets and removes a type-wide setting', async () => {
    expect((await put('/admin/retention/account', { settings: { maxAge: 86_400_000, maxCount: 100 } })).json()).toEqual({ aggregateType: 'account', settings: { maxAge: 86_400_000, maxCount: 100 }, changed: true });
    expect((await get('/admin/retention/account')).json()).toEqual({ aggregateType: 'account', settings: { maxAge: 86_400_000, maxCount: 100 } });
    expect((await put('/admin/retention/account', { settings: null })).json()).toEqual({ aggregateType: 'account', settings: null, changed: true });
  });

  it('refuses bad input with a 4xx and writes nothing', async () => {
    const cases: [string, unknown, number, string][] = [
      ['/admin/retention/account/h1', { settings: { maxCount: 0 } }, 400, 'InvalidCommand'],
      ['/admin/retention/account/h1', { settings: { maxAge: '1d' } }, 400, 'InvalidCommand'],
      ['/admin/retention/account/h1', { settings: { keep: 3 } }, 400, 'InvalidCommand'],
      ['/admin/retention/account/h1', {}, 400, 'InvalidCommand'],
      ['/admin/retention/account', { settings: { truncateBefore: 2 } }, 400, 'InvalidCommand'],
      ['/admin/retention/account/h1', { settings: { truncateBefore: 7 } }, 400, 'InvalidQuery'],
      ['/admin/retention/account/bad%20id', { settings: { maxCount: 1 } }, 400, 'InvalidId'],
      ['/admin/retention/ledger/h1', { settings: { maxCount: 1 } }, 404, 'UnknownAggregateType'],
      ['/admin/retention/%24audit/lifecycle', { settings: { maxCount: 1 } }, 404, 'UnknownAggregateType'],
    ];
    const before = (await get('/admin/retention/account/h1')).json() as unknown;
    for (const [url, body, status, code] of cases) {
      const res = await put(url, body);
      expect(res.statusCode, `${url} ${JSON.stringify(body)}: ${res.body}`).toBe(status);
      expect(res.json()).toMatchObject({ error: code });
    }
    expect((await get('/admin/retention/account/h1')).json()).toEqual(before);
    const noJson = await h.app.inject({ method: 'PUT', url: '/admin/retention/account/h1', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'text/plain' }, payload: '{"settings":null}' });
    expect(noJson.statusCode).toBe(415);
  });

  it('deletes and undeletes a stream with the admin scope only; a tombstone refuses the next command with 410', async () => {
    const cmd = (id: string, body: unknown) => h.app.inject({ method: 'POST', url: `/aggregates/account/${id}/commands`, headers: as(WRITER), payload: body as object });
    expect((await cmd('d1', { type: 'Open', data: { owner: 'Ada' } })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'POST', url: '/admin/streams/account/d1/delete', headers: as(WRITER), payload: {} })).statusCode).toBe(403);
    const del = await h.app.inject({ method: 'POST', url: '/admin/streams/account/d1/delete', headers: as(ADMIN), payload: {} });
    expect(del.statusCode, del.body).toBe(200);
    expect(del.json()).toEqual({ id: 'd1', type: 'account', version: 2, changed: true, deleted: 'soft' });
    expect((await get('/aggregates/account/d1')).json()).toMatchObject({ error: 'StreamNotFound', deleted: true });
    expect((await h.app.inject({ method: 'POST', url: '/admin/streams/account/d1/undelete', headers: as(ADMIN), payload: {} })).json()).toMatchObject({ version: 3, changed: true });
    const hard = await h.app.inject({ method: 'POST', url: '/admin/streams/account/d1/delete', headers: as(ADMIN), payload: { hard: true } });
    expect(hard.json()).toMatchObject({ version: 4, deleted: 'hard' });
    const refused = await cmd('d1', { type: 'Deposit', data: { amount: 1 } });
    expect(refused.statusCode).toBe(410);
    expect(refused.json()).toMatchObject({ error: 'StreamDeleted', id: 'd1' });
    const audit = await h.runtime.history('$audit', 'lifecycle');
    expect(audit.filter((e) => (e.data as { target: { id?: string } }).target.id === 'd1').map((e) => [e.type, (e.data as { by: string }).by])).toEqual([
      ['StreamDeleted', 'ops'],
      ['StreamUndeleted', 'ops'],
      ['StreamTombstoned', 'ops'],
    ]);
  });
});
