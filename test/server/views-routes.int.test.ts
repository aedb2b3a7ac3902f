import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { command, harness, type Harness } from './helpers.js';

describe('the history routes: views, read-your-writes, rebuild, reconcile and diff', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness({}, { partitions: 4, workers: 2 });
    for (const id of ['v-a', 'v-b', 'v-c']) await command(h.app, 'account', id, { type: 'Open', data: { owner: id } });
  });
  afterAll(async () => h.close());

  const get = async (url: string) => {
    const res = await h.app.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() as Record<string, any> };
  };
  // Mutating routes take JSON only; an empty body with the JSON content type is "no body".
  const post = async (url: string) => {
    const res = await h.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' } });
    return { status: res.statusCode, body: res.json() as Record<string, any> };
  };

  it('returns a position token with each command and the view row waits for it (read-your-writes)', async () => {
    const r = await command(h.app, 'account', 'v-a', { type: 'Deposit', data: { amount: 70 } });
    expect(r.status).toBe(200);
    // The one position format: the next offset of each of the 4 partitions, the event's own at offset + 1.
    const last = (r.body['events'] as Array<{ partition: number; offset: number }>).at(-1)!;
    expect(r.body['position']).toBe([0, 1, 2, 3].map((p) => (p === last.partition ? last.offset + 1 : 0)).join('.'));
    const row = await get(`/views/balances/v-a?position=${r.body['position']}`);
    expect(row.status).toBe(200);
    expect(row.body).toMatchObject({ view: 'balances', id: 'v-a', row: { owner: 'v-a', balance: 70, version: 2 } });
  });

  it('lists a view in pages that visit every row once, with the lag per partition', async () => {
    const first = await get('/views/balances?limit=2');
    expect(first.status).toBe(200);
    expect(first.body['rows']).toHaveLength(2);
    expect(first.body['lag']).toHaveLength(4);
    const second = await get(`/views/balances?limit=2&after=${first.body['next']}`);
    const ids = [...first.body['rows'], ...second.body['rows']].map((r: { id: string }) => r.id);
    expect(ids).toEqual(['v-a', 'v-b', 'v-c']);
    expect(second.body['next']).toBeUndefined();
  });

  it('takes a feed position (every partition) and the older <partition>:<offset> token alike', async () => {
    await command(h.app, 'account', 'v-d', { type: 'Open', data: { owner: 'v-d' } });
    const r = await command(h.app, 'account', 'v-d', { type: 'Deposit', data: { amount: 3 } });
    const last = (r.body['events'] as Array<{ partition: number; offset: number }>).at(-1)!;
    // What a feed message carries after this event: the heads of every partition.
    const feedPosition = h.runtime.partitions().map((p) => p.offset).join('.');
    for (const position of [feedPosition, `${last.partition}:${last.offset}`]) {
      const row = await get(`/views/balances/v-d?position=${position}`);
      expect(row.status, position).toBe(200);
      expect(row.body['row'], position).toMatchObject({ balance: 3, version: 2 });
    }
    // A position past the log is waited for, then answered with the retriable ViewLagging.
    const ahead = await get(`/views/balances/v-d?position=${h.runtime.partitions().map((p) => p.offset + 1).join('.')}&timeoutMs=50`);
    expect(ahead.status).toBe(503);
    expect(ahead.body).toMatchObject({ error: 'ViewLagging', retriable: true });
  });

  it('answers 404 for an unknown view or row and 400 for a malformed position', async () => {
    expect((await get('/views/nope/x')).body['error']).toBe('NotFound');
    expect((await get('/views/balances/zzz')).status).toBe(404);
    for (const position of ['abc', '1.2', '0.0.0.0.0', '4:0', '1:', '0.0.-1.0', '0..0.0']) {
      const bad = await get(`/views/balances/v-a?position=${position}`);
      expect(bad.status, position).toBe(400);
      expect(bad.body['error'], position).toBe('InvalidQuery');
    }
  });

  it('reports and repairs a corrupted row through reconcile, then reports no drift', async () => {
    const gen = h.runtime.log.views.meta('balances').active;
    await h.runtime.log.views.putRow('balances', gen, 'v-b', { owner: 'mallory', balance: 999, open: true, version: 1, updatedAt: 0 });
    const found = await post('/views/balances/reconcile');
    expect(found.status).toBe(200);
    expect(found.body['drift']).toBe(1);
    expect(found.body['mismatches'][0]).toMatchObject({ id: 'v-b', view: { owner: 'mallory' }, truth: { owner: 'v-b', balance: 0 } });
    expect((await post('/views/balances/reconcile?repair=true')).body['repaired']).toBe(1);
    expect((await post('/views/balances/reconcile')).body).toMatchObject({ drift: 0, mismatches: [] });
  });

  it('rebuilds a view in the background (202), shows its progress, and serves the same rows after the swap', async () => {
    const before = (await get('/views/balances?limit=100')).body['rows'];
    const started = await post('/views/balances/rebuild');
    expect(started.status).toBe(202);
    expect(['building', 'swapped']).toContain(started.body['state']);
    let status = started.body;
    // Poll with a pause: inject resolves without yielding to timers, so a tight loop would starve the rebuild.
    while (status['state'] === 'building') {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = (await get('/views/balances/rebuild')).body;
    }
    expect(status).toMatchObject({ state: 'swapped', progress: 1 });
    expect((await get('/views/balances?limit=100')).body['rows']).toEqual(before);
  });

  it('answers 409 RebuildRunning (not VersionConflict) to a rebuild asked for while one of the same view runs', async () => {
    // Enough events that the first rebuild is still catching up when the second request arrives.
    await Promise.all(Array.from({ length: 400 }, (_, k) => h.runtime.execute('account', `rr-${k % 40}`, k < 40 ? { type: 'Open', data: { owner: 'o' } } : { type: 'Deposit', data: { amount: 1 } }).catch(() => undefined)));
    // Both requests are handled before the first rebuild can finish (it needs round trips to the workers).
    const [first, second] = (await Promise.all([post('/views/balances/rebuild'), post('/views/balances/rebuild')])).sort((a, b) => a.status - b.status);
    expect(first!.status).toBe(202);
    expect(second!.status).toBe(409);
    expect(second!.body).toMatchObject({ error: 'RebuildRunning', view: 'balances', generation: first!.body['generation'] });
    let status = first!.body;
    while (status['state'] === 'building') {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = (await get('/views/balances/rebuild')).body;
    }
    expect(status['state']).toBe('swapped');
  });

  it('shows the events between two points and the states at both (versions, times, before the first event)', async () => {
    await command(h.app, 'account', 'v-c', { type: 'Deposit', data: { amount: 5 } });
    await command(h.app, 'account', 'v-c', { type: 'Deposit', data: { amount: 6 } });
    const d = await get('/aggregates/account/v-c/diff?from=1&to=3');
    expect(d.status).toBe(200);
    expect(d.body['from']).toMatchObject({ version: 1, state: { balance: 0 } });
    expect(d.body['to']).toMatchObject({ version: 3, state: { balance: 11 } });
    expect(d.body['events'].map((e: { seq: number }) => e.seq)).toEqual([2, 3]);
    const all = await get('/aggregates/account/v-c/diff?from=0&to=t:' + Date.now());
    expect(all.body['events'].map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3]);
    expect((await get('/aggregates/account/v-c/diff?from=3&to=1')).status).toBe(400);
    expect((await get('/aggregates/account/v-c/diff?from=yesterday&to=1')).body['error']).toBe('InvalidQuery');
  });

  it('exposes the views\' checkpoints and lag in /partitions and /metrics', async () => {
    const p = await get('/partitions');
    expect(p.body['partitions'][0]['views']['balances']).toEqual({ checkpoint: expect.any(Number), lag: expect.any(Number) });
    const m = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(m.body).toContain('eventide_view_lag_events{view="balances",partition="0"}');
  });
});
