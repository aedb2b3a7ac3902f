/** `GET /console/stats` through the real HTTP stack: its shape, `since`, its validation, and the read scope. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeClock } from '../support/fake-clock.js';
import { harness, type Harness } from './helpers.js';

describe('GET /console/stats', () => {
  let h: Harness;
  const clock = fakeClock(Date.UTC(2030, 0, 1));
  beforeAll(async () => {
    // A long interval: the samples below are the first one (at registration) and those the test takes.
    h = await harness({ clock, consoleStats: { intervalMs: 3_600_000, capacity: 5 } });
  });
  afterAll(async () => h.close());

  const get = async (url: string) => {
    const res = await h.app.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() as Record<string, any> };
  };

  it('answers the samples with the read models\' names, the interval and the capacity', async () => {
    const r = await get('/console/stats');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ intervalMs: 3_600_000, capacity: 5, partitions: 4, views: ['balances', 'videos'] });
    expect(r.body['samples']).toEqual([{ t: clock.now(), events: 0, eventsPerSecond: 0, feedLag: 0, viewLag: { balances: 0, videos: 0 } }]);
  });

  it('answers only the samples after `since`', async () => {
    const first = clock.now();
    expect((await get(`/console/stats?since=${first - 1}`)).body['samples']).toHaveLength(1);
    expect((await get(`/console/stats?since=${first}`)).body['samples']).toEqual([]);
  });

  it('refuses a bad `since` or an unknown parameter with 400 InvalidQuery', async () => {
    for (const url of ['/console/stats?since=-1', '/console/stats?since=abc', '/console/stats?limit=3']) {
      const r = await get(url);
      expect(r.status, url).toBe(400);
      expect(r.body['error'], url).toBe('InvalidQuery');
    }
  });
});

describe('GET /console/stats with tokens', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({ security: { tokens: [{ name: 'viewer', token: 'stats-read-token-0123456789', scopes: ['read'] }, { name: 'acc', token: 'stats-account-token-0123456789', scopes: ['read:account'] }] } });
  });
  afterAll(async () => h.close());

  it('needs the read scope (a typed scope is not enough: it spans every type)', async () => {
    const ask = (token?: string) => h.app.inject({ method: 'GET', url: '/console/stats', headers: token ? { authorization: `Bearer ${token}` } : {} });
    expect((await ask()).statusCode).toBe(401);
    expect((await ask('stats-account-token-0123456789')).statusCode).toBe(403);
    expect((await ask('stats-read-token-0123456789')).statusCode).toBe(200);
  });
});
