/**
 * `/admin/scavenge` over HTTP: admin scope, the body checked by its schema, a pass that removes what
 * retention hides from a type no view folds whole (meters) and leaves accounts (the `balances` view folds
 * every account event) with the reason, recorded in the audit stream as done by the token's name; `GET`
 * answers the last pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinDomains } from '../../src/runtime/index.js';
import { meterDomain } from '../support/meter-domain.js';
import { harness, type Harness } from './helpers.js';

const ADMIN = 'admin-token-0123456789';
const WRITER = 'writer-token-0123456789';
const tokens = [
  { name: 'ops', token: ADMIN, scopes: ['admin'] },
  { name: 'bank', token: WRITER, scopes: ['write'] },
];
const as = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

describe('scavenge routes', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await harness({ security: { tokens, rateLimit: false } }, { domains: [...builtinDomains, meterDomain], snapshotEvery: 10, scavengeEveryMs: 0 });
    for (let v = 0; v < 100; v += 10) {
      const res = await h.app.inject({ method: 'POST', url: '/aggregates/meter/m1/commands', headers: as(WRITER), payload: { type: 'RecordMany', data: { values: Array.from({ length: 10 }, (_, i) => v + i) } } });
      expect(res.statusCode, res.body).toBe(200);
    }
    const res = await h.app.inject({ method: 'POST', url: '/aggregates/account/a1/commands', headers: as(WRITER), payload: { type: 'Open', data: { owner: 'Ada' } } });
    expect(res.statusCode, res.body).toBe(200);
  });
  afterAll(() => h?.close());

  const post = (payload: unknown, token = ADMIN) => h.app.inject({ method: 'POST', url: '/admin/scavenge', headers: as(token), payload: payload as object });
  const get = (token = ADMIN) => h.app.inject({ method: 'GET', url: '/admin/scavenge', headers: { authorization: `Bearer ${token}` } });

  it('needs the admin scope', async () => {
    expect((await post({}, WRITER)).statusCode).toBe(403);
    expect((await get(WRITER)).statusCode).toBe(403);
    expect((await h.app.inject({ method: 'POST', url: '/admin/scavenge', payload: {} })).statusCode).toBe(401);
  });

  it('refuses a body its schema does not allow, an unknown type and an id without its type', async () => {
    expect((await post({ aggregateType: 'meter', extra: 1 })).statusCode).toBe(400);
    expect((await post({ aggregateType: 'meter', id: 'no spaces' })).statusCode).toBe(400);
    const unknown = await post({ aggregateType: 'nope' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'UnknownAggregateType' });
    expect((await post({ id: 'm1' })).json()).toMatchObject({ error: 'InvalidQuery' });
  });

  it('runs a pass: removes what retention hides where no view folds the type whole, says why it left the rest', async () => {
    expect((await get()).json()).toBeNull();
    for (const [url, settings] of [['/admin/retention/meter/m1', { maxCount: 25 }], ['/admin/retention/account', { maxCount: 1 }]] as const) {
      const res = await h.app.inject({ method: 'PUT', url, headers: as(ADMIN), payload: { settings } });
      expect(res.statusCode, res.body).toBe(200);
    }
    // The views must have consumed what goes: wait for the meter's last event (the `meter` type has no view,
    // but the guard still holds the scavenge to what every view has read).
    const last = h.runtime.log.readEvent('meter', 'm1', 100)!;
    await h.views.waitFor('balances', { partition: last.partition, offset: last.offset });
    await h.views.waitFor('videos', { partition: last.partition, offset: last.offset });

    const res = await post(null);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ streams: 1, events: 70, skipped: [{ aggregateType: 'account', reason: expect.stringContaining('view balances') }] });
    const page = await h.app.inject({ method: 'GET', url: '/aggregates/meter/m1/events?from=70', headers: { authorization: `Bearer ${WRITER}` } });
    expect(page.statusCode).toBe(410);
    expect(page.json()).toMatchObject({ error: 'Gone', firstVersion: 76 });
    expect((await get()).json()).toMatchObject({ at: expect.any(Number), report: { streams: 1, events: 70 } });
    const audit = await h.runtime.history('$audit', 'lifecycle');
    expect(audit.at(-1)).toMatchObject({ type: 'ScavengeCompleted', data: { target: { aggregateType: 'meter' }, by: 'ops', details: { events: 70 } } });
    // Again: nothing left to remove.
    expect((await post({ aggregateType: 'meter', id: 'm1' })).json()).toMatchObject({ streams: 0, events: 0 });
  });
});
