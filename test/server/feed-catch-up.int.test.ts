/**
 * The feed's catch-up over real sockets and the LMDB log read by the reader thread: many clients from the
 * start at once, fewer catch-up slots than clients and commands flowing all along, each reach live with no
 * gap and no duplicate; the reader thread sends the same bytes as reading on the main thread; damage it
 * meets closes the client with 1011 and the record's address. The thread starts with the first client,
 * and the main thread reads until it is up: the tests about the thread itself wait for it first.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createEventide } from '../../src/app/index.js';
import { buildServer, FEED_CLOSE } from '../../src/server/index.js';
import { assertExactlyOnce, assertPositionsFollowEvents, FeedRecorder, heads, keepWriting, writeAccounts, wsUrl } from '../support/feed-recorder.js';
import { flipValueByte } from '../support/log-damage.js';
import { harness, tempDir, type Harness } from './helpers.js';
import { builtinDomains } from '../../src/runtime/index.js';
import { partitionOf } from '../../src/partition/index.js';
import { meterDomain } from '../support/meter-domain.js';

let h: Harness | undefined;

/** Connects a client (which starts the reader thread) and waits until the thread reads; returns that client. */
async function readerThreadUp(app: FastifyInstance, url: string): Promise<FeedRecorder> {
  const first = new FeedRecorder(url);
  await first.opened;
  await expect.poll(async () => (await app.inject('/metrics')).body).toMatch(/^eventide_feed_reader_thread 1$/m);
  return first;
}
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('catching up from the log (reader thread)', () => {
  it('passes over what a scavenge removed: a client from the start gets every event still stored, exactly once, then live ones', async () => {
    h = await harness({ feed: { catchUpChunk: 16 } }, { partitions: 2, workers: 1, domains: [...builtinDomains, meterDomain], snapshotEvery: 10, scavengeEveryMs: 0 });
    await h.listen();
    // Two meters of one partition, their events interleaved: the scavenge leaves holes between m2's events.
    const ids = ['m1', ...Array.from({ length: 50 }, (_, i) => `other${i}`).filter((id) => partitionOf(id, 2) === partitionOf('m1', 2))].slice(0, 2) as [string, string];
    for (let v = 0; v < 100; v += 10) {
      for (const id of ids) await h.runtime.execute('meter', id, { type: 'RecordMany', data: { values: Array.from({ length: 10 }, (_, i) => v + i) } });
    }
    await h.runtime.setRetention({ aggregateType: 'meter', id: ids[0] }, { maxCount: 25 });
    for (const view of h.views.names()) await h.views.waitFor(view, heads(h.runtime));
    expect(await h.runtime.scavenge()).toMatchObject({ events: 70 });
    await h.runtime.execute('meter', ids[1], { type: 'Record', data: { value: 7 } });
    const end = heads(h.runtime);
    const first = await readerThreadUp(h.app, wsUrl(h, '?from=start'));
    const second = new FeedRecorder(wsUrl(h, '?from=start'));
    for (const c of [first, second]) {
      await c.until(() => c.position === end.join('.'));
      const p = partitionOf('m1', 2);
      const mine = c.events.filter((e) => e.partition === p);
      expect(mine.filter((e) => e.stream === ids[0]).map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => 71 + i));
      expect(mine.filter((e) => e.stream === ids[1]).map((e) => e.seq)).toEqual(Array.from({ length: 101 }, (_, i) => 1 + i));
      const offsets = mine.map((e) => e.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
      expect(new Set(offsets).size).toBe(offsets.length);
      // A message's position may pass removed offsets after its last event (as a filtered client's does).
      assertPositionsFollowEvents(c, true);
    }
    // Live after the catch-up, past the holes.
    const live = await h.runtime.execute('meter', ids[0], { type: 'Record', data: { value: 1 } });
    await first.until(() => first.events.some((e) => e.stream === ids[0] && e.seq === live.version));
    first.close();
    second.close();
  });

  it('brings 24 clients from the start to live through 3 catch-up slots, no gap and no duplicate, while commands keep flowing', async () => {
    h = await harness({ feed: { maxCatchUps: 3, catchUpChunk: 40 } }, { partitions: 4, workers: 2 });
    await h.listen();
    await writeAccounts(h.runtime, 'before', 300);
    const writer = keepWriting(h.runtime, 'during');
    const clients = Array.from({ length: 24 }, () => new FeedRecorder(wsUrl(h!, '?from=start')));
    await Promise.all(clients.map((c) => c.opened));
    await Promise.all(clients.map((c) => c.until(() => c.events.length >= 600)));
    expect(await writer.stop()).toBeGreaterThan(0);
    await writeAccounts(h.runtime, 'after', 10);
    const end = heads(h.runtime);
    await Promise.all(clients.map((c) => c.until(() => c.position === end.join('.'))));
    for (const c of clients) {
      assertExactlyOnce(c.events, [0, 0, 0, 0], end);
      assertPositionsFollowEvents(c);
    }
    // They read the log's chunks once between them, not once each.
    const metrics = (await h.app.inject('/metrics')).body;
    const reads = Number(/^eventide_feed_chunks_read_total (\d+)/m.exec(metrics)?.[1]);
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThan(clients.length * Math.ceil(600 / 40));
    expect(metrics).toMatch(/^eventide_feed_catch_ups\{state="waiting"\} 0$/m);
    for (const c of clients) c.close();
  });

  it('sends the same bytes whether the reader thread or the main thread read the log', async () => {
    h = await harness({ feed: { catchUpChunk: 64 } });
    await h.listen();
    await writeAccounts(h.runtime, 'a', 200);
    const inline = await buildServer({ runtime: h.runtime, views: h.views, defaultMetrics: false, feed: { catchUpChunk: 64, catchUpThread: false } });
    try {
      const at = await inline.listen({ port: 0, host: '127.0.0.1' });
      const end = heads(h.runtime).join('.');
      const starter = await readerThreadUp(h.app, wsUrl(h, '?from=now'));
      const threaded = new FeedRecorder(wsUrl(h, '?from=start'));
      const onMain = new FeedRecorder(`${at.replace('http', 'ws')}/feed?from=start`);
      await Promise.all([threaded.until(() => threaded.position === end), onMain.until(() => onMain.position === end)]);
      expect(threaded.raw.length).toBeGreaterThan(2);
      expect(threaded.raw.map((b) => b.toString())).toEqual(onMain.raw.map((b) => b.toString()));
      threaded.close();
      onMain.close();
      starter.close();
    } finally {
      await inline.close();
    }
  });

  it('closes a client with 1011 naming the damaged record the reader thread met', async () => {
    const tmp = tempDir();
    try {
      const first = await createEventide({ dataDir: tmp.dir, partitions: 4, workers: 1 });
      await writeAccounts(first.runtime, 'x', 5);
      await first.close();
      await flipValueByte(tmp.dir, 'events', ['account', 'x-2', 1]);
      const eventide = await createEventide({ dataDir: tmp.dir, workers: 1 });
      const app = await buildServer({ runtime: eventide.runtime, views: eventide.views, defaultMetrics: false });
      try {
        const at = await app.listen({ port: 0, host: '127.0.0.1' });
        const starter = await readerThreadUp(app, `${at.replace('http', 'ws')}/feed?from=now`);
        const client = new FeedRecorder(`${at.replace('http', 'ws')}/feed?from=start`);
        const { code, reason } = await client.closed;
        expect(code).toBe(FEED_CLOSE.internalError);
        expect(reason).toMatch(/corrupt record/);
        starter.close();
      } finally {
        await app.close();
        await eventide.close();
      }
    } finally {
      tmp.remove();
    }
  });
});
