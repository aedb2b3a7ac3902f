/**
 * The feed client's connection logic against a stand-in WebSocket the test drives message by message:
 * what it hands out, where it reconnects from, when it stops reading (a full buffer) and resumes, which
 * closes end it, and how it learns why a handshake was refused. The real server is in feed.int.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, EventideClientError, type EventJson, type FeedBatch, type FeedOptions, type FeedSocket, type FeedStatus, type FetchFunction } from '../../src/client/index.js';

/** A WebSocket the test drives: `open`, `hello`, `send`, `drop`. */
class FakeSocket implements FeedSocket {
  static made: FakeSocket[] = [];
  static #waiters: Array<() => void> = [];
  onopen: FeedSocket['onopen'] = null;
  onmessage: FeedSocket['onmessage'] = null;
  onclose: FeedSocket['onclose'] = null;
  onerror: FeedSocket['onerror'] = null;
  closedWith: { code: number | undefined; reason: string | undefined } | undefined;
  readonly url: URL;

  constructor(
    url: string,
    readonly protocols?: string | string[],
  ) {
    this.url = new URL(url);
    FakeSocket.made.push(this);
    for (const w of FakeSocket.#waiters.splice(0)) w();
  }

  /** The `n`th socket made (0-based), once it is. */
  static async nth(n: number): Promise<FakeSocket> {
    while (FakeSocket.made.length <= n) await new Promise<void>((resolve) => FakeSocket.#waiters.push(resolve));
    return FakeSocket.made[n]!;
  }

  /** Opens and sends the hello. */
  greet(position: string): this {
    this.onopen?.({});
    this.send({ kind: 'hello', position, partitions: position.split('.').length });
    return this;
  }

  send(message: unknown): void {
    this.onmessage?.({ data: typeof message === 'string' ? message : JSON.stringify(message) });
  }

  batch(position: string, ...events: Array<[partition: number, offset: number]>): void {
    this.send({ kind: 'events', position, events: events.map(([p, o]) => ev(p, o)) });
  }

  drop(code = 1006, reason = ''): void {
    this.onclose?.({ code, reason });
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    queueMicrotask(() => this.onclose?.({ code: code ?? 1005, reason: reason ?? '' }));
  }
}

function ev(partition: number, offset: number): EventJson {
  return { aggregateType: 'account', stream: `a-${partition}`, type: 'Deposited', seq: offset + 1, data: { amount: 1 }, ts: '2026-12-01T00:00:00.000Z', partition, offset, meta: {} };
}

/** What the HTTP probe of a refused handshake answers (426: a handshake would pass). */
let probeAnswer: { status: number; body: unknown; headers?: Record<string, string> } = { status: 426, body: { error: 'UpgradeRequired', message: 'use a WebSocket' } };
let probes: string[] = [];
const fetch: FetchFunction = async (url) => {
  probes.push(url);
  return new Response(JSON.stringify(probeAnswer.body), { status: probeAnswer.status, headers: { 'content-type': 'application/json', ...probeAnswer.headers } });
};

const open: Array<{ close(): Promise<void> }> = [];
function feedOf(options: FeedOptions & { token?: string } = {}) {
  const statuses: FeedStatus[] = [];
  const { token, ...rest } = options;
  const feed = createClient({ baseUrl: 'http://eventide.test:3000', fetch, ...(token ? { token } : {}) }).feed({
    WebSocket: FakeSocket,
    reconnect: { initialDelayMs: 0 },
    onStatus: (s) => statuses.push(s),
    ...rest,
  });
  open.push(feed);
  return { feed, statuses };
}

async function take(feed: AsyncIterator<FeedBatch>, n: number): Promise<FeedBatch[]> {
  const out: FeedBatch[] = [];
  for (let i = 0; i < n; i++) {
    const r = await feed.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

const offsets = (batches: FeedBatch[]) => batches.flatMap((b) => b.events.map((e) => `${e.partition}:${e.offset}`));

afterEach(async () => {
  await Promise.all(open.splice(0).map((f) => f.close()));
  FakeSocket.made = [];
  probes = [];
  probeAnswer = { status: 426, body: { error: 'UpgradeRequired', message: 'use a WebSocket' } };
});

describe('the feed client', () => {
  it('hands out batches in order, and after a drop reconnects from the last position with no duplicate', async () => {
    const { feed } = feedOf({ from: 'start' });
    const s1 = (await FakeSocket.nth(0)).greet('0.0');
    expect(s1.url.pathname).toBe('/feed');
    expect(s1.url.protocol).toBe('ws:');
    expect(s1.url.searchParams.get('from')).toBe('start');
    s1.batch('1.1', [0, 0], [1, 0]);
    s1.batch('2.1', [0, 1]);
    s1.drop(1006);

    const s2 = await FakeSocket.nth(1);
    expect(s2.url.searchParams.get('from')).toBe('2.1');
    s2.greet('2.1');
    // A server that sent an event again would not get it past the client.
    s2.batch('3.1', [0, 1], [0, 2]);
    const batches = await take(feed, 3);
    expect(offsets(batches)).toEqual(['0:0', '1:0', '0:1', '0:2']);
    expect(batches.map((b) => b.position)).toEqual(['1.1', '2.1', '3.1']);
    expect(feed.position).toBe('3.1');
  });

  it('reconnects with `now` while it has no position yet, and from the hello once it has one', async () => {
    const { feed } = feedOf();
    const s1 = await FakeSocket.nth(0);
    expect(s1.url.searchParams.get('from')).toBe('now');
    expect(feed.position).toBeUndefined();
    s1.onopen?.({});
    s1.drop(1001);
    const s2 = await FakeSocket.nth(1);
    expect(s2.url.searchParams.get('from')).toBe('now');
    s2.greet('5.7');
    expect(feed.position).toBe('5.7');
    s2.drop(4008, 'too slow');
    expect((await FakeSocket.nth(2)).url.searchParams.get('from')).toBe('5.7');
  });

  it('passes the filter and sends the token as the subprotocol pair, never in the URL', async () => {
    feedOf({ type: 'account', stream: 'acc-1', from: '3.4', token: 'secret-token-0123456789' });
    const s = await FakeSocket.nth(0);
    expect(Object.fromEntries(s.url.searchParams)).toEqual({ from: '3.4', type: 'account', stream: 'acc-1' });
    expect(s.protocols).toEqual(['eventide.bearer', 'secret-token-0123456789']);
    expect(s.url.href).not.toContain('secret');
  });

  it('stops reading when its buffer is full and resumes from the last batch it queued once half is drained', async () => {
    const { feed, statuses } = feedOf({ from: 'start', maxBufferedEvents: 2 });
    const s1 = (await FakeSocket.nth(0)).greet('0');
    s1.batch('2', [0, 0], [0, 1]);
    expect(s1.closedWith).toBeUndefined();
    s1.batch('3', [0, 2]);
    expect(s1.closedWith).toMatchObject({ code: 1000 });
    expect(statuses.at(-1)).toEqual({ state: 'paused', bufferedEvents: 3, bufferedBytes: expect.any(Number) });
    s1.batch('4', [0, 3]); // in flight when it closed: not taken, it will be read again
    expect(feed.bufferedEvents).toBe(3);
    expect(FakeSocket.made).toHaveLength(1);

    expect(offsets(await take(feed, 1))).toEqual(['0:0', '0:1']);
    const s2 = await FakeSocket.nth(1);
    expect(s2.url.searchParams.get('from')).toBe('3');
    s2.greet('3');
    s2.batch('4', [0, 3]);
    expect(offsets(await take(feed, 2))).toEqual(['0:2', '0:3']);
  });

  it('ends with FeedClosed on close code 1011, after handing out what it already holds', async () => {
    const { feed } = feedOf({ from: 'start' });
    const s = (await FakeSocket.nth(0)).greet('0');
    s.batch('1', [0, 0]);
    s.drop(1011, 'cannot read the log: corrupt record');
    expect(offsets(await take(feed, 1))).toEqual(['0:0']);
    await expect(feed.next()).rejects.toMatchObject({ code: 'FeedClosed', status: 0, details: { closeCode: 1011, reason: 'cannot read the log: corrupt record' } });
    expect(FakeSocket.made).toHaveLength(1);
  });

  it('ends with FeedClosed at the first drop when reconnecting is off', async () => {
    const { feed } = feedOf({ reconnect: false });
    (await FakeSocket.nth(0)).greet('0').drop(1001, 'server stopping');
    await expect(feed.next()).rejects.toMatchObject({ code: 'FeedClosed', details: { closeCode: 1001 } });
  });

  it('asks over HTTP why a handshake failed, and ends with the refusal when retrying cannot help (401)', async () => {
    probeAnswer = { status: 401, body: { error: 'Unauthorized', message: 'a bearer token is required', reason: 'missing_token' } };
    const { feed } = feedOf({ from: '1.2', type: 'account' });
    (await FakeSocket.nth(0)).drop(1006);
    const err = await feed.next().catch((e: unknown) => e);
    expect(EventideClientError.is(err, 'Unauthorized')).toBe(true);
    expect(err).toMatchObject({ status: 401, details: { reason: 'missing_token' } });
    expect(probes).toEqual(['http://eventide.test:3000/feed?from=1.2&type=account']);
  });

  it('retries a refusal that may pass later (503) no sooner than its Retry-After', async () => {
    probeAnswer = { status: 503, body: { error: 'Overloaded', message: 'the feed is full' }, headers: { 'retry-after': '5' } };
    const { statuses } = feedOf();
    (await FakeSocket.nth(0)).drop(1006);
    await expect.poll(() => statuses.find((s) => s.state === 'disconnected')).toEqual({ state: 'disconnected', code: 1006, reason: '', retryInMs: 5000 });
  });

  it('gives up with NetworkError after maxAttempts failed attempts in a row', async () => {
    const { feed } = feedOf({ reconnect: { initialDelayMs: 0, maxAttempts: 2 } });
    for (let i = 0; i < 3; i++) (await FakeSocket.nth(i)).drop(1006);
    await expect(feed.next()).rejects.toMatchObject({ code: 'NetworkError' });
    expect(FakeSocket.made).toHaveLength(3);
  });

  it('ends the iteration on close() and on break, closing the socket with 1000', async () => {
    const { feed } = feedOf({ from: 'start' });
    const s1 = (await FakeSocket.nth(0)).greet('0');
    const pending = feed.next();
    await feed.close();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(s1.closedWith).toMatchObject({ code: 1000 });
    expect(await feed.next()).toEqual({ value: undefined, done: true });

    const second = feedOf({ from: 'start' }).feed;
    const s2 = (await FakeSocket.nth(1)).greet('0');
    s2.batch('1', [0, 0]);
    for await (const batch of second) {
      expect(batch.position).toBe('1');
      break;
    }
    expect(s2.closedWith).toMatchObject({ code: 1000 });
  });

  it('ends with Aborted when its signal fires', async () => {
    const controller = new AbortController();
    const { feed } = feedOf({ signal: controller.signal });
    const s = (await FakeSocket.nth(0)).greet('0');
    const pending = feed.next();
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'Aborted' });
    expect(s.closedWith).toMatchObject({ code: 1000 });
  });

  it('ends with InvalidResponse on a message that is not a feed message, and skips kinds it does not know', async () => {
    const { feed } = feedOf({ from: 'start' });
    const s = (await FakeSocket.nth(0)).greet('0');
    s.send({ kind: 'rebuild-progress', view: 'balances', progress: 0.5 });
    s.batch('1', [0, 0]);
    s.send('not json');
    expect(offsets(await take(feed, 1))).toEqual(['0:0']);
    await expect(feed.next()).rejects.toMatchObject({ code: 'InvalidResponse' });
  });

  it('refuses to start without a WebSocket (Node 20 has none) with InvalidOptions', () => {
    const client = createClient({ baseUrl: 'http://eventide.test', fetch });
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    delete global.WebSocket;
    try {
      expect(() => client.feed()).toThrow(expect.objectContaining({ code: 'InvalidOptions' }));
    } finally {
      if (saved !== undefined) global.WebSocket = saved;
    }
  });
});

describe('the feed client and a connection that says nothing', () => {
  it('takes a connection that brought no message for idleTimeoutMs for dead and resumes from its position; heartbeats keep it', async () => {
    const { feed, statuses } = feedOf({ from: 'start', idleTimeoutMs: 1_000 });
    const s1 = (await FakeSocket.nth(0)).greet('0.0');
    s1.batch('1.0', [0, 0]);
    // Heartbeats (and any message) count as life: 15 x 100 ms is longer than the timeout, and no drop
    // (each gap is a tenth of the timeout: a busy box's late timers do not make it look dead).
    for (let i = 0; i < 15; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s1.send({ kind: 'heartbeat' });
    }
    expect(FakeSocket.made).toHaveLength(1);
    // Then silence: no close, no message. The client gives up on it and reconnects from its position.
    const s2 = await FakeSocket.nth(1);
    expect(s1.closedWith).toEqual({ code: 1000, reason: 'no message for too long' });
    expect(s2.url.searchParams.get('from')).toBe('1.0');
    expect(statuses).toContainEqual({ state: 'disconnected', code: 1006, reason: 'no message from the server for 1000 ms: the connection is taken for dead', retryInMs: expect.any(Number) });
    s2.greet('1.0');
    s2.batch('2.0', [0, 1]);
    expect(offsets(await take(feed, 2))).toEqual(['0:0', '0:1']);
  });

  it('gives up on a handshake that never completes too, and never times out with idleTimeoutMs 0', async () => {
    const { feed, statuses } = feedOf({ idleTimeoutMs: 100 });
    await FakeSocket.nth(0); // never opens
    await FakeSocket.nth(1);
    expect(statuses.some((s) => s.state === 'disconnected' && s.code === 1006)).toBe(true);
    expect(probes.length).toBeGreaterThanOrEqual(1); // a handshake that never opened: the client asks over HTTP why
    await feed.close();
    FakeSocket.made = [];

    const quiet = feedOf({ from: 'start', idleTimeoutMs: 0 });
    (await FakeSocket.nth(0)).greet('0.0');
    await new Promise((r) => setTimeout(r, 300));
    expect(FakeSocket.made).toHaveLength(1);
    expect(quiet.statuses.filter((s) => s.state === 'disconnected')).toEqual([]);
  });

  it('refuses an idleTimeoutMs that is not a whole number of ms', () => {
    expect(() => feedOf({ idleTimeoutMs: -5 })).toThrow(/idleTimeoutMs must be an integer >= 1/);
  });
});
