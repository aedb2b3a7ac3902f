/**
 * `npm start`'s server (a child process) on a data dir written before `Deposited` had a version 2:
 * with `DOMAINS` naming the version-2 decider, the HTTP routes (state, time machine, history, diff) and
 * the WebSocket feed (catch-up from the log, then live) all show version-2 data, `{ amount, currency }`,
 * for the old deposits as for the new ones. The `purse` type is the account decider under another name
 * (DOMAINS adds to the built-in `account`, it cannot replace it).
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { builtinDomains, createRuntime } from '../../src/index.js';
import { purseV1Domain } from '../support/purse-v1-domain.js';
import { purseV2Domain } from '../support/purse-v2-domain.js';
import { postCommand, startServer, type ServerChild } from '../support/server-child.js';
import { useTempDirs } from '../support/temp-dirs.js';

const tempDir = useTempDirs('upcasting-server');
const started: ServerChild[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.kill('SIGTERM')));
});

interface FeedEvent {
  type: string;
  stream: string;
  seq: number;
  data: unknown;
}

/** Collects the feed's events until `count` arrived. */
function feedEvents(url: string, count: number): { events: FeedEvent[]; done: Promise<FeedEvent[]>; close(): void } {
  const socket = new WebSocket(`${url.replace('http', 'ws')}/feed?from=start&type=purse`);
  const events: FeedEvent[] = [];
  const done = new Promise<FeedEvent[]>((resolve, reject) => {
    socket.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { kind: string; events?: FeedEvent[] };
      if (m.kind === 'events') events.push(...m.events!);
      if (events.length >= count) resolve(events);
    });
    socket.once('error', reject);
    socket.once('close', (code) => reject(new Error(`feed closed with ${code} after ${events.length} events`)));
  });
  done.catch(() => undefined);
  return { events, done, close: () => socket.close() };
}

describe('npm start on a data dir with version-1 events, serving their version-2 decider', () => {
  it('answers state, time machine, history, diff and the feed with upcast data', async () => {
    const dataDir = await tempDir();
    // The old build: Deposited { amount }.
    const old = await createRuntime({ dataDir, partitions: 4, workers: 1, domains: [...builtinDomains, purseV1Domain] });
    await old.execute('purse', 'p-1', { type: 'Open', data: { owner: 'Ada' } });
    await old.execute('purse', 'p-1', { type: 'Deposit', data: { amount: 100 } });
    await old.execute('purse', 'p-1', { type: 'Deposit', data: { amount: 250 } });
    await old.close();

    const server = startServer(dataDir, { env: { DOMAINS: fileURLToPath(purseV2Domain) } });
    started.push(server);
    const url = await server.listening;
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    expect(await get('/aggregates/purse/p-1')).toEqual({ status: 200, body: { id: 'p-1', type: 'purse', version: 3, state: { owner: 'Ada', open: true, balances: { EUR: 350 } } } });
    expect(await get('/aggregates/purse/p-1?version=2')).toMatchObject({ status: 200, body: { version: 2, state: { balances: { EUR: 100 } } } });
    const history = await get('/aggregates/purse/p-1/events');
    expect(history.status).toBe(200);
    expect((history.body.events as FeedEvent[]).map((e) => [e.type, e.data])).toEqual([
      ['AccountOpened', { owner: 'Ada' }],
      ['Deposited', { amount: 100, currency: 'EUR' }],
      ['Deposited', { amount: 250, currency: 'EUR' }],
    ]);
    const diff = await get('/aggregates/purse/p-1/diff?from=1&to=3');
    expect(diff).toMatchObject({ status: 200, body: { from: { state: { balances: {} } }, to: { state: { balances: { EUR: 350 } } } } });
    expect((diff.body.events as FeedEvent[]).map((e) => e.data)).toEqual([
      { amount: 100, currency: 'EUR' },
      { amount: 250, currency: 'EUR' },
    ]);

    // The feed: the three old events from the log, then a new one live.
    const feed = feedEvents(url, 4);
    try {
      await expect.poll(() => feed.events.length, { timeout: 10_000 }).toBe(3);
      expect(await postCommand(url, 'purse', 'p-1', { type: 'Deposit', data: { amount: 5, currency: 'USD' } })).toMatchObject({
        status: 200,
        body: { version: 4, events: [{ data: { amount: 5, currency: 'USD' } }], state: { balances: { EUR: 350, USD: 5 } } },
      });
      expect((await feed.done).map((e) => [e.seq, e.data])).toEqual([
        [1, { owner: 'Ada' }],
        [2, { amount: 100, currency: 'EUR' }],
        [3, { amount: 250, currency: 'EUR' }],
        [4, { amount: 5, currency: 'USD' }],
      ]);
    } finally {
      feed.close();
    }
    expect(await server.kill('SIGTERM')).toBe(0);
  });
});
