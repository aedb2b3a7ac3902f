/**
 * The feed client against a real server over real sockets: it resumes across server-side disconnects
 * (sockets killed, closed with 1001 and 4008) while commands keep flowing, with no gap and no duplicate;
 * a filtered feed does the same; a slow consumer keeps its buffer bounded and still loses nothing; a
 * refused subscription ends with the server's error; a server that stops says 1001 and stops even while
 * the client keeps reconnecting; close() leaves nothing behind on the server.
 * A restart of the server process itself is in feed-restart.e2e.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createClient, type EventJson, type FeedBatch, type FeedStatus, type FeedSubscription } from '../../src/client/index.js';
import { harness, type Harness } from '../server/helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const FAST = { initialDelayMs: 5, maxDelayMs: 50 };

/** Checks `events` are exactly offsets 0..heads[p]-1 of every partition, each once, in order per partition. */
function expectExactlyOnce(events: readonly EventJson[], heads: readonly number[]): void {
  const next = heads.map(() => 0);
  const problems: string[] = [];
  for (const e of events) {
    if (e.offset !== next[e.partition]) problems.push(`partition ${e.partition}: expected offset ${next[e.partition]}, got ${e.offset} (${e.offset < next[e.partition]! ? 'duplicate' : 'gap'})`);
    next[e.partition] = e.offset + 1;
  }
  expect(problems.slice(0, 5)).toEqual([]);
  expect(next).toEqual([...heads]);
}

/** Pulls batches until `done(events)` holds; `each` runs after every batch (to disturb the feed mid-way). */
async function readUntil(feed: FeedSubscription, done: (events: EventJson[]) => boolean, each: (events: EventJson[], batch: FeedBatch) => void | Promise<void> = () => undefined): Promise<EventJson[]> {
  const events: EventJson[] = [];
  while (!done(events)) {
    const r = await feed.next();
    if (r.done) throw new Error('the feed ended');
    events.push(...r.value.events);
    await each(events, r.value);
  }
  return events;
}

const heads = (x: Harness) => x.runtime.partitions().map((p) => p.offset);
const total = (x: Harness) => heads(x).reduce((a, b) => a + b, 0);

describe('the feed client against a server', () => {
  it('resumes across killed and closed sockets while commands flow, with no gap and no duplicate', async () => {
    h = await harness({}, { partitions: 4, workers: 2 });
    const client = createClient({ baseUrl: await h.listen() });
    const statuses: FeedStatus[] = [];
    const feed = client.feed({ from: 'start', WebSocket, reconnect: FAST, onStatus: (s) => statuses.push(s) });

    // Writes go on concurrently through the client itself: 40 accounts, 15 commands each.
    let written = false;
    const writer = (async () => {
      for (let round = 0; round < 15; round++) {
        await Promise.all(Array.from({ length: 40 }, (_, i) => client.execute('account', `f-${i}`, round === 0 ? { type: 'Open', data: { owner: `o${i}` } } : { type: 'Deposit', data: { amount: round } })));
      }
      written = true;
    })();

    // Every 100 events the server drops the client's socket, three ways in turn.
    const disturbances = [(s: import('ws').WebSocket) => s.terminate(), (s: import('ws').WebSocket) => s.close(1001, 'server stopping'), (s: import('ws').WebSocket) => s.close(4008, 'too slow')];
    let dropped = 0;
    // 40 x 15 commands, one event each. Not "until the writer is done and every event is in": the feed may
    // deliver the last events before the writer has its last replies (two channels, no order between
    // them), and then no batch would come to check that condition again.
    const events = await readUntil(
      feed,
      (all) => all.length >= 600,
      (all) => {
        if (dropped < 6 && all.length >= (dropped + 1) * 100) {
          for (const socket of h!.app.websocketServer.clients) disturbances[dropped % 3]!(socket);
          dropped++;
        }
      },
    );
    await writer;
    expect(written).toBe(true);
    expect(total(h)).toBe(600);
    expect(dropped).toBe(6);
    expect(events).toHaveLength(600);
    expectExactlyOnce(events, heads(h));
    expect(statuses.filter((s) => s.state === 'disconnected').map((s) => (s as { code: number }).code)).toEqual(expect.arrayContaining([1006, 1001, 4008]));
    expect(feed.position).toBe(heads(h).join('.'));
    await feed.close();
  });

  it('keeps a filter across reconnections: one stream, every seq once, in order', async () => {
    h = await harness({}, { partitions: 4, workers: 1 });
    const client = createClient({ baseUrl: await h.listen() });
    await client.execute('account', 'mine', { type: 'Open', data: { owner: 'me' } });
    await client.execute('account', 'other', { type: 'Open', data: { owner: 'them' } });
    const feed = client.feed({ from: 'start', stream: 'mine', WebSocket, reconnect: FAST });
    const writes = (async () => {
      for (let i = 0; i < 60; i++) {
        await client.execute('account', i % 2 ? 'mine' : 'other', { type: 'Deposit', data: { amount: 1 } });
      }
    })();
    let killed = false;
    const events = await readUntil(
      feed,
      (all) => all.length === 31,
      (all) => {
        if (!killed && all.length >= 10) {
          killed = true;
          for (const socket of h!.app.websocketServer.clients) socket.terminate();
        }
      },
    );
    await writes;
    expect(killed).toBe(true);
    expect(events.every((e) => e.stream === 'mine')).toBe(true);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
    await feed.close();
  });

  it('bounds its buffer for a slow consumer (stops reading, resumes from its position) and loses nothing', async () => {
    h = await harness({}, { partitions: 4, workers: 1 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => h!.runtime.execute('account', `s-${i}`, { type: 'Open', data: { owner: 'o' } })));
    for (let round = 0; round < 39; round++) await Promise.all(Array.from({ length: 50 }, (_, i) => h!.runtime.execute('account', `s-${i}`, { type: 'Deposit', data: { amount: 1 } })));
    const statuses: FeedStatus[] = [];
    const client = createClient({ baseUrl: await h.listen() });
    const max = 200;
    const feed = client.feed({ from: 'start', WebSocket, maxBufferedEvents: max, reconnect: FAST, onStatus: (s) => statuses.push(s) });
    // The consumer takes one batch, then reads nothing until the client has stopped reading for it.
    const first = await feed.next();
    await expect.poll(() => statuses.some((s) => s.state === 'paused')).toBe(true);
    let most = feed.bufferedEvents;
    const events = [...first.value!.events];
    events.push(
      ...(await readUntil(
        feed,
        (all) => events.length + all.length === 2000,
        () => {
          most = Math.max(most, feed.bufferedEvents);
        },
      )),
    );
    expectExactlyOnce(events, heads(h));
    const paused = statuses.filter((s): s is Extract<FeedStatus, { state: 'paused' }> => s.state === 'paused');
    expect(paused.length).toBeGreaterThan(0);
    // It stops reading once over the bound; what passes it is one message (at most 1 000 events: catchUpChunk).
    expect(Math.max(most, ...paused.map((s) => s.bufferedEvents))).toBeLessThanOrEqual(max + 1000);
    await feed.close();
  });

  it('ends with the server refusal when a subscription cannot be served (bad position, unknown type)', async () => {
    h = await harness({}, { partitions: 4, workers: 1 });
    const client = createClient({ baseUrl: await h.listen() });
    await expect(client.feed({ from: '1.2', WebSocket }).next()).rejects.toMatchObject({ code: 'InvalidQuery', status: 400 });
    await expect(client.feed({ from: '9.0.0.0', WebSocket }).next()).rejects.toMatchObject({ code: 'InvalidQuery', status: 400 });
    await expect(client.feed({ type: 'spaceship', WebSocket }).next()).rejects.toMatchObject({ code: 'UnknownAggregateType', status: 404 });
  });

  it('resumes in another subscription from the position of the last batch processed', async () => {
    h = await harness({}, { partitions: 4, workers: 1 });
    const client = createClient({ baseUrl: await h.listen() });
    for (let i = 0; i < 20; i++) await client.execute('account', `r-${i}`, { type: 'Open', data: { owner: 'o' } });
    const first = client.feed({ from: 'start', WebSocket });
    const before = await readUntil(first, (all) => all.length >= 5);
    const saved = first.position!;
    await first.close();
    for (let i = 20; i < 30; i++) await client.execute('account', `r-${i}`, { type: 'Open', data: { owner: 'o' } });
    const second = client.feed({ from: saved, WebSocket });
    const after = await readUntil(second, (all) => before.length + all.length === 30);
    expectExactlyOnce([...before, ...after], heads(h));
    await second.close();
  });

  it('is told 1001 when the server stops, and the server stops even though the client keeps reconnecting', async () => {
    h = await harness({}, { partitions: 4, workers: 1 });
    const client = createClient({ baseUrl: await h.listen() });
    await client.execute('account', 'z', { type: 'Open', data: { owner: 'o' } });
    const statuses: FeedStatus[] = [];
    const feed = client.feed({ from: 'start', WebSocket, reconnect: FAST, onStatus: (s) => statuses.push(s) });
    expect((await feed.next()).value?.events).toHaveLength(1);
    // Its handshakes during the shutdown must not keep the server open (they did: app.close() never returned).
    const stopping = h;
    h = undefined;
    await stopping.close();
    const closes = statuses.filter((s): s is Extract<FeedStatus, { state: 'disconnected' }> => s.state === 'disconnected');
    expect(closes[0]).toMatchObject({ code: 1001, reason: expect.stringMatching(/^server stopping/) });
    await feed.close();
  });

  it('closes cleanly: the server counts no feed client afterwards and the iteration ends', async () => {
    h = await harness({}, { partitions: 4, workers: 1 });
    const client = createClient({ baseUrl: await h.listen() });
    const feed = client.feed({ WebSocket });
    await expect.poll(async () => (await client.health()).feedClients).toBe(1);
    const pending = feed.next();
    await feed.close();
    expect(await pending).toEqual({ value: undefined, done: true });
    await expect.poll(async () => (await client.health()).feedClients).toBe(0);
  });
});

describe('a quiet feed', () => {
  it('gets heartbeats from the server when it has nothing to send, and the client keeps the connection on them', async () => {
    h = await harness({ feed: { pingIntervalMs: 100 } });
    const url = await h.listen();
    // What the server sends, raw: a heartbeat is `{"kind":"heartbeat"}` after a ping period with nothing sent.
    const raw = new WebSocket(`${url.replace(/^http/, 'ws')}/feed`);
    const texts: string[] = [];
    raw.on('message', (data: Buffer) => texts.push(data.toString()));
    await expect.poll(() => texts.filter((t) => t === '{"kind":"heartbeat"}').length).toBeGreaterThanOrEqual(2);
    expect(JSON.parse(texts[0]!)).toMatchObject({ kind: 'hello' });
    raw.close();

    // The client's dead-connection timeout is 2 s, twenty ping periods; nothing is committed for 3 s:
    // heartbeats keep it.
    const statuses: FeedStatus[] = [];
    const feed = createClient({ baseUrl: url }).feed({ WebSocket, idleTimeoutMs: 2_000, onStatus: (s) => statuses.push(s) });
    await expect.poll(() => statuses.some((s) => s.state === 'open')).toBe(true);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(statuses.filter((s) => s.state !== 'open' && s.state !== 'connecting')).toEqual([]);
    await h.runtime.execute('account', 'quiet-1', { type: 'Open', data: { owner: 'Ada' } });
    const r = await feed.next();
    expect(r.done ? [] : r.value.events.map((e) => e.stream)).toEqual(['quiet-1']);
    await feed.close();
  });
});
