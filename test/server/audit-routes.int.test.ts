/**
 * `GET /admin/audit` over HTTP: admin scope; the records of a retention change, a stream deletion and a
 * scavenge pass (who, what, when), newest first; paging backwards with `before`/`older` and forwards with
 * `from`/`next`, every record exactly once; the query checked by its schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinDomains } from '../../src/runtime/index.js';
import type { AuditPage } from '../../src/server/routes/audit.js';
import { meterDomain } from '../support/meter-domain.js';
import { harness, type Harness } from './helpers.js';

const ADMIN = 'admin-token-0123456789';
const WRITER = 'writer-token-0123456789';
const tokens = [
  { name: 'ops', token: ADMIN, scopes: ['admin'] },
  { name: 'bank', token: WRITER, scopes: ['write'] },
];
const as = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

describe('audit route', () => {
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

  const get = async (query = '', token = ADMIN) => h.app.inject({ method: 'GET', url: `/admin/audit${query}`, headers: { authorization: `Bearer ${token}` } });
  const page = async (query = ''): Promise<AuditPage> => {
    const res = await get(query);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  it('needs the admin scope', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/admin/audit' })).statusCode).toBe(401);
    const refused = await get('', WRITER);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ error: 'Forbidden', required: 'admin' });
  });

  it('answers an empty page before the first lifecycle operation', async () => {
    expect(await page()).toEqual({ records: [], head: 0 });
    expect(await page('?from=1')).toEqual({ records: [], head: 0 });
  });

  it('shows a retention change, a deletion and a scavenge pass, newest first, with who asked', async () => {
    const put = await h.app.inject({ method: 'PUT', url: '/admin/retention/meter/m1', headers: as(ADMIN), payload: { settings: { maxCount: 25 } } });
    expect(put.statusCode, put.body).toBe(200);
    const del = await h.app.inject({ method: 'POST', url: '/admin/streams/account/a1/delete', headers: as(ADMIN), payload: {} });
    expect(del.statusCode, del.body).toBe(200);
    // The scavenge removes only what every view has read.
    const last = h.runtime.log.readEvent('meter', 'm1', 100)!;
    for (const view of ['balances', 'videos']) await h.views.waitFor(view, { partition: last.partition, offset: last.offset });
    expect(await h.runtime.scavenge({ by: 'nightly' })).toMatchObject({ streams: 1, events: 70 });

    const p = await page();
    expect(p.head).toBe(3);
    expect(p.older).toBeUndefined();
    expect(p.records).toMatchObject([
      { seq: 3, kind: 'ScavengeCompleted', target: { aggregateType: 'meter' }, by: 'nightly', details: { streams: 1, events: 70 } },
      { seq: 2, kind: 'StreamDeleted', target: { aggregateType: 'account', id: 'a1' }, by: 'ops', details: { version: 2 } },
      { seq: 1, kind: 'RetentionSet', target: { aggregateType: 'meter', id: 'm1' }, by: 'ops', details: { settings: { maxCount: 25 } } },
    ]);
    for (const r of p.records) expect(new Date(r.ts).toISOString()).toBe(r.ts);
    expect(new Date(p.records[0]!.ts).getTime()).toBeGreaterThanOrEqual(new Date(p.records[2]!.ts).getTime());
  });

  it('pages backwards from the newest with before/older, and forwards with from/next, each record once', async () => {
    // Twelve more records: twelve different type-wide settings.
    for (let i = 0; i < 12; i++) {
      const res = await h.app.inject({ method: 'PUT', url: '/admin/retention/meter', headers: as(ADMIN), payload: { settings: { maxAge: 86_400_000 * (i + 1) } } });
      expect(res.statusCode, res.body).toBe(200);
    }
    const head = 15;
    const backwards: number[] = [];
    let cursor: number | undefined;
    let pages = 0;
    do {
      const p = await page(`?limit=4${cursor === undefined ? '' : `&before=${cursor}`}`);
      expect(p.head).toBe(head);
      expect(p.records.length).toBeLessThanOrEqual(4);
      backwards.push(...p.records.map((r) => r.seq));
      cursor = p.older;
      pages++;
    } while (cursor !== undefined);
    expect(pages).toBe(4);
    expect(backwards).toEqual(Array.from({ length: head }, (_, i) => head - i));

    const forwards: number[] = [];
    let from: number | undefined = 1;
    while (from !== undefined) {
      const p = await page(`?from=${from}&limit=6`);
      forwards.push(...p.records.map((r) => r.seq));
      from = p.next;
    }
    expect(forwards).toEqual(Array.from({ length: head }, (_, i) => i + 1));

    expect((await page('?before=3')).records.map((r) => r.seq)).toEqual([2, 1]);
    expect(await page('?before=1')).toEqual({ records: [], head });
    expect((await page('?before=999&limit=1')).records.map((r) => r.seq)).toEqual([head]);
    expect(await page('?from=99')).toEqual({ records: [], head });
    expect((await page()).records).toHaveLength(head);
  });

  it('refuses a query its schema does not allow, and before with from', async () => {
    for (const q of ['?limit=0', '?limit=501', '?before=0', '?from=0', '?before=x', '?since=1']) {
      const res = await get(q);
      expect(res.statusCode, q).toBe(400);
    }
    const both = await get('?before=5&from=1');
    expect(both.statusCode).toBe(400);
    expect(both.json()).toMatchObject({ error: 'InvalidQuery' });
  });
});
