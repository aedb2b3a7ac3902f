/**
 * The WebSocket feed over real sockets: catch-up then live with no gap and no duplicate while commands keep
 * flowing, resume with `from`, filters, handshake refusals, and slow readers (paused, then resumed or closed
 * with 4008) that lose nothing.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FEED_CLOSE } from '../../src/server/index.js';
import { assertExactlyOnce, assertPositionsFollowEvents, FeedRecorder, heads, keepWriting, writeAccounts, wsUrl, type FeedEvent } from '../support/feed-recorder.js';
import { harness, type Harness } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('GET /feed (WebSocket)', () => {
  it('catches up from the start and switches to live with no gap and no duplicate while commands keep flowing', async () => {
    // A small catch-up chunk makes the catch-up span many event-loop turns, interleaved with live commits.
    h = await harness({ feed: { catchUpChunk: 8 } }, { partitions: 4, workers: 2 });
    await h.listen();
    await writeAccounts(h.runtime, 'before', 150);
    const writer = keepWriting(h.runtime, 'during');
    const client = new FeedRecorder(wsUrl(h, '?from=start'));
    await client.opened;
    // Let live commits land while the client is still catching up.
    await client.until(() => client.events.length >= 200);
    const written = await writer.stop();
    expect(written).toBeGreaterThan(0);
    await writeAccounts(h.runtime, 'after', 20);
    const end = heads(h.runtime);
    await client.until(() => client.position === end.join('.'));

    expect(client.messages[0]).toMatchObject({ kind: 'hello', position: '0.0.0.0', partitions: 4 });
    assertExactlyOnce(client.events, [0, 0, 0, 0], end);
    // Per-aggregate order: each stream's seqs arrive as 1, 2, 3, ...
    const seqs = new Map<string, number>();
    for (const e of client.events) {
      expect(e.seq).toBe((seqs.get(e.stream!) ?? 0) + 1);
      seqs.set(e.stream!, e.seq!);
    }
    // Each event is the envelope, with the aggregate type and an ISO timestamp.
    expect(client.events[0]).toMatchObject({ aggregateType: 'account', type: 'AccountOpened', seq: 1 });
    expect(client.events[0]!.ts).toMatch(/Z$/);
    // Events arrive in batches, and every message's position is the one just after its events.
    expect(client.batches.length).toBeLessThan(client.events.length);
    assertPositionsFollowEvents(client);
    client.close();
  });

  it('resumes from the position of the last message received, with nothing missed and nothing repeated', async () => {
    h = await harness();
    await h.listen();
    await writeAccounts(h.runtime, 'a', 40);
    const first = new FeedRecorder(wsUrl(h, '?from=start'));
    await first.until(() => first.events.length >= 30);
    first.close();
    await first.closed;
    const resumeAt = first.position;
    await writeAccounts(h.runtime, 'b', 40); // written while disconnected
    const second = new FeedRecorder(wsUrl(h, `?from=${resumeAt}`));
    await second.opened;
    await writeAccounts(h.runtime, 'c', 10); // written after the reconnect
    const end = heads(h.runtime);
    await second.until(() => second.position === end.join('.'));
    assertExactlyOnce([...first.events, ...second.events], [0, 0, 0, 0], end);
    second.close();
  });

  it('resumes in the middle of a batch from the position after one of its events', async () => {
    h = await harness();
    await h.listen();
    await writeAccounts(h.runtime, 'm', 40);
    const first = new FeedRecorder(wsUrl(h, '?from=start'));
    await first.until(() => first.events.length === 80);
    first.close();
    const batch = first.batches.find((m) => m.events.length > 10)!;
    expect(batch).toBeDefined();
    // The client processed the first 7 events of the message, then stopped: the position to resume from is
    // the previous message's, with each processed event's partition set to that event's offset + 1.
    const processed = batch.events.slice(0, 7);
    const previous = first.messages[first.messages.indexOf(batch) - 1]!;
    const resume = previous.position.split('.').map(Number);
    for (const e of processed) resume[e.partition] = e.offset + 1;
    const seen = [...first.events.slice(0, first.events.indexOf(processed[6]!) + 1)];
    const second = new FeedRecorder(wsUrl(h, `?from=${resume.join('.')}`));
    await writeAccounts(h.runtime, 'n', 5);
    const end = heads(h.runtime);
    await second.until(() => second.position === end.join('.'));
    assertExactlyOnce([...seen, ...second.events], [0, 0, 0, 0], end);
    second.close();
  });

  it('sends live commits in batches that keep partition order, one message per batch, filtered per client', async () => {
    // A long interval makes every burst below one batch.
    h = await harness({ feed: { batchIntervalMs: 50 } }, { partitions: 4, workers: 2 });
    await h.listen();
    const depositors = Array.from({ length: 10 }, (_, i) => `mix-${2 * i + 1}`);
    await Promise.all(depositors.map((id) => h!.runtime.execute('account', id, { type: 'Open', data: { owner: id } })));
    const start = heads(h.runtime);
    const all = new FeedRecorder(wsUrl(h));
    const videos = new FeedRecorder(wsUrl(h, '?type=video'));
    const one = new FeedRecorder(wsUrl(h, '?stream=mix-7'));
    await Promise.all([all, videos, one].map((c) => c.until(() => c.messages.length === 1)));
    // One commit each reaches all three: from then on every one of them is live.
    await h.runtime.execute('video', 'probe', { type: 'Upload', data: { path: 'uploads/probe', bytes: 1, sha256: 'a'.repeat(64) } });
    await h.runtime.execute('account', 'mix-7', { type: 'Deposit', data: { amount: 1 } });
    await Promise.all([all, videos, one].map((c) => c.until(() => c.events.length > 0)));
    const live = [all, videos, one].map((c) => c.messages.length);
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2
            ? h!.runtime.execute('account', `mix-${i}`, { type: 'Deposit', data: { amount: round + 1 } })
            : h!.runtime.execute('video', `clip-${round}-${i}`, { type: 'Upload', data: { path: `uploads/clip-${round}-${i}`, bytes: 1, sha256: 'a'.repeat(64) } }),
        ),
      );
    }
    const end = heads(h.runtime);
    await all.until(() => all.position === end.join('.'));
    await videos.until(() => videos.events.length === 51);
    await one.until(() => one.events.length === 6);

    assertExactlyOnce(all.events, start, end);
    assertPositionsFollowEvents(all);
    // 100 commands in 5 bursts: a handful of messages, not one per event.
    expect(all.batches.length).toBeLessThanOrEqual(20);
    expect(all.batches.some((m) => m.events.length >= 10)).toBe(true);
    // The filtered clients get only their events, in the same batches (same positions) as everyone.
    expect(videos.events.every((e) => e.aggregateType === 'video')).toBe(true);
    const key = (e: FeedEvent) => `${e.partition}:${e.offset}`;
    expect(videos.events.map(key)).toEqual(all.events.filter((e) => e.aggregateType === 'video').map(key));
    expect(one.events.map((e) => [e.stream, e.seq])).toEqual([2, 3, 4, 5, 6, 7].map((seq) => ['mix-7', seq]));
    const positions = new Set(all.messages.slice(live[0]).map((m) => m.position));
    for (const m of [...videos.messages.slice(live[1]), ...one.messages.slice(live[2])]) expect(positions.has(m.position)).toBe(true);
    assertPositionsFollowEvents(videos, true);
    assertPositionsFollowEvents(one, true);
    for (const c of [all, videos, one]) c.close();
  });

  it('starts at the current heads without from (or with from=now) and sends only new events', async () => {
    h = await harness();
    await h.listen();
    await writeAccounts(h.runtime, 'old', 10);
    const start = heads(h.runtime);
    const client = new FeedRecorder(wsUrl(h));
    await client.until(() => client.messages.length >= 1);
    expect(client.messages[0]).toMatchObject({ kind: 'hello', position: start.join('.') });
    await writeAccounts(h.runtime, 'new', 5);
    const end = heads(h.runtime);
    await client.until(() => client.position === end.join('.'));
    assertExactlyOnce(client.events, start, end);
    expect(client.events.every((e) => e.stream!.startsWith('new-'))).toBe(true);
    client.close();
  });

  it('filters by aggregate type and by stream', async () => {
    h = await harness();
    await h.listen();
    await writeAccounts(h.runtime, 'acc', 5);
    await h.runtime.execute('video', 'vid-1', { type: 'Upload', data: { path: 'uploads/vid-1', bytes: 100, sha256: 'b'.repeat(64) } });
    await h.runtime.execute('video', 'vid-1', { type: 'StartProcessing', data: { attempt: 1 } });
    await h.runtime.execute('video', 'vid-1', { type: 'ReportProgress', data: { attempt: 1, percent: 40 } });
    const videos = new FeedRecorder(wsUrl(h, '?from=start&type=video'));
    const oneAccount = new FeedRecorder(wsUrl(h, '?from=start&stream=acc-3'));
    await videos.until(() => videos.events.length === 3);
    await oneAccount.until(() => oneAccount.events.length === 2);
    expect(videos.events.map((e) => e.type)).toEqual(['VideoUploaded', 'VideoProcessingStarted', 'VideoProcessingProgressed']);
    expect(oneAccount.events.map((e) => [e.stream, e.type])).toEqual([
      ['acc-3', 'AccountOpened'],
      ['acc-3', 'Deposited'],
    ]);
    await h.runtime.execute('account', 'acc-3', { type: 'Withdraw', data: { amount: 1 } });
    await h.runtime.execute('account', 'acc-4', { type: 'Withdraw', data: { amount: 1 } });
    await oneAccount.until(() => oneAccount.events.length === 3);
    expect(oneAccount.events[2]).toMatchObject({ stream: 'acc-3', type: 'Withdrawn', seq: 3 });
    videos.close();
    oneAccount.close();
  });

  it('refuses bad handshakes before the upgrade, with the JSON error status', async () => {
    h = await harness({ feed: { allowedOrigins: ['https://ops.example.com'] } });
    await h.listen();
    const refused = async (query: string, origin?: string) => {
      const c = new FeedRecorder(wsUrl(h!, query), origin ? { origin } : {});
      const err = await c.opened.then(
        () => null,
        (e: Error) => e,
      );
      return err?.message ?? 'opened';
    };
    expect(await refused('?from=1.2')).toMatch(/400/); // wrong length
    expect(await refused('?from=0.0.0.999999')).toMatch(/400/); // ahead of the log
    expect(await refused('?from=x')).toMatch(/400/);
    expect(await refused('?stream=a%20b')).toMatch(/400/);
    expect(await refused('?type=spaceship')).toMatch(/404/);
    expect(await refused('?from=start', 'https://evil.example')).toMatch(/403/);
    // Same origin and listed origins are accepted; so are clients that send no Origin (not a browser).
    for (const origin of [h.url, 'https://ops.example.com', undefined]) {
      const ok = new FeedRecorder(wsUrl(h, '?from=start'), origin ? { origin } : {});
      await ok.opened;
      ok.close();
    }
  });

  it('closes a client that sends more than the small inbound limit', async () => {
    h = await harness();
    await h.listen();
    const c = new FeedRecorder(wsUrl(h));
    await c.opened;
    c.socket.send('x'.repeat(64 * 1024));
    expect((await c.closed).code).toBe(1009);
  });
});

describe('a slow reader', () => {
  /** Writes video events of ~2 KiB each until the server reports the client paused (a metric). */
  async function fillUntilPaused(h: Harness, action: 'paused' | 'closed'): Promise<void> {
    const reason = 'r'.repeat(2000);
    for (let round = 0; round < 200; round++) {
      const ids = Array.from({ length: 200 }, (_, i) => `v-${round}-${i}`);
      await Promise.all(ids.map((id) => h.runtime.execute('video', id, { type: 'Upload', data: { path: `uploads/${id}`, bytes: 1, sha256: 'c'.repeat(64) } })));
      await Promise.all(ids.map((id) => h.runtime.execute('video', id, { type: 'Fail', data: { attempt: 1, reason, retriable: false } })));
      if ((await slowCount(h, action)) > 0) return;
    }
    throw new Error('the server never reported the slow client');
  }

  async function slowCount(h: Harness, action: 'paused' | 'closed'): Promise<number> {
    const body = (await h.app.inject('/metrics')).body;
    const m = body.match(new RegExp(`eventide_feed_slow_consumers_total\\{action="${action}"\\} (\\d+)`));
    return m ? Number(m[1]) : 0;
  }

  it('is paused past the buffer limit and resumed from its position once it reads again, losing nothing', async () => {
    h = await harness({ feed: { highWaterBytes: 64 * 1024, maxPausedMs: 600_000 } }, { durability: 'commit' });
    await h.listen();
    const start = heads(h.runtime);
    const client = new FeedRecorder(wsUrl(h));
    await client.until(() => client.messages.length === 1);
    client.socket.pause(); // stop reading: the kernel buffers fill, then the server's send buffer
    await fillUntilPaused(h, 'paused');
    // While paused, more commits arrive; they must come later, from the log.
    await h.runtime.execute('account', 'late', { type: 'Open', data: { owner: 'late' } });
    client.socket.resume();
    const end = heads(h.runtime);
    await client.until(() => client.position === end.join('.'));
    assertExactlyOnce(client.events, start, end);
    // Batches before the pause, replayed batches and log pages after it: positions always follow events.
    expect(client.batches.some((m) => m.events.length > 1)).toBe(true);
    assertPositionsFollowEvents(client);
    expect(await slowCount(h, 'closed')).toBe(0);
    client.close();
  });

  it('is closed with 4008 when it stays paused too long, and resumes with from without loss', async () => {
    h = await harness({ feed: { highWaterBytes: 64 * 1024, maxPausedMs: 200 } }, { durability: 'commit' });
    await h.listen();
    const start = heads(h.runtime);
    const client = new FeedRecorder(wsUrl(h));
    await client.until(() => client.messages.length === 1);
    client.socket.pause();
    await fillUntilPaused(h, 'closed');
    client.socket.resume(); // reads what was queued before the close frame, then the close frame
    const { code } = await client.closed;
    expect(code).toBe(FEED_CLOSE.slowConsumer);
    await h.runtime.execute('account', 'after-close', { type: 'Open', data: { owner: 'x' } });
    const again = new FeedRecorder(wsUrl(h, `?from=${client.position}`));
    const end = heads(h.runtime);
    await again.until(() => again.position === end.join('.'));
    assertExactlyOnce([...client.events, ...again.events], start, end);
    again.close();
  });
});

describe('the feed and the server lifecycle', () => {
  it('closes feed clients with 1001 when the server stops', async () => {
    h = await harness();
    await h.listen();
    const c = new FeedRecorder(wsUrl(h));
    await c.opened;
    await vi.waitFor(async () => expect((await h!.app.inject('/health')).json()).toMatchObject({ feedClients: 1 }));
    await h.app.close();
    expect((await c.closed).code).toBe(FEED_CLOSE.goingAway);
  });
});
