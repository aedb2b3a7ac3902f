/**
 * The feed's catch-up from the log, against a fake runtime and fake sockets (the log is read on the main
 * thread here; the reader thread is covered over real sockets in feed-catch-up.int.test.ts): many clients
 * from the start reach live with every event exactly once; at most `maxCatchUps` read the log at a time,
 * admitted in arrival order; a client that stops reading gives its slot away and its queued bytes stay
 * bounded; clients at the same place are sent the very same bytes, read once, identical to a message
 * built for one client alone; filtered clients, clients of one partition and clients that resume between
 * chunk boundaries get exactly their events; a byte rate spaces the turns of all clients together.
 */
import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/kernel/index.js';
import { buildMessage, eventJson } from '../../src/server/feed/batch.js';
import { CatchUpScheduler } from '../../src/server/feed/catch-up-scheduler.js';
import { FakeSocket, setup, turns } from '../support/feed-fakes.js';

/**
 * Runs event-loop turns until `test()` holds; fails after `max` turns (a count, not a time limit). Every
 * hundredth turn waits for a timer too, so catch-up turns held back by their share of the thread run.
 */
async function until(test: () => boolean, max = 20_000): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (test()) return;
    await new Promise((r) => (i % 100 === 99 ? setTimeout(r, 1) : setImmediate(r)));
  }
  throw new Error('condition never held');
}

/** The offsets a socket received on each partition, in arrival order. */
function perPartition(s: FakeSocket, partitions = 2): number[][] {
  const out: number[][] = Array.from({ length: partitions }, () => []);
  for (const e of s.events()) out[e.partition]!.push(e.offset);
  return out;
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** Whether a socket has been sent every event up to `heads`, each exactly once and in order. */
function complete(s: FakeSocket, heads: readonly number[], from: readonly number[] = [0, 0]): boolean {
  const got = perPartition(s);
  return heads.every((h, p) => got[p]!.length === h - from[p]! && got[p]!.every((o, i) => o === from[p]! + i));
}

/** Event frames only (the first frame is the hello). */
const eventFrames = (s: FakeSocket) => s.frames.slice(1);

describe('catching up from the log', () => {
  it('brings many clients from the start to live, every event exactly once and in order, while commits keep coming', async () => {
    const { rt, hub, connect } = setup({ maxCatchUps: 3, catchUpChunk: 7 });
    rt.commit(0, 120);
    rt.commit(1, 95);
    await turns();
    const clients = Array.from({ length: 20 }, () => connect([0, 0]));
    for (let i = 0; i < 10; i++) {
      rt.commit(i % 2, 3);
      await turns(2);
    }
    await until(() => clients.every((c) => complete(c, rt.heads)) && hub.catchUps.active === 0);
    rt.commit(0, 1);
    rt.commit(1, 1);
    await until(() => clients.every((c) => complete(c, rt.heads)));
    for (const c of clients) expect(perPartition(c)).toEqual([range(0, rt.heads[0]!), range(0, rt.heads[1]!)]);
    // Live again: the last batch is the one message every client was sent.
    for (const c of clients) expect(c.frames.at(-1)!.data).toBe(clients[0]!.frames.at(-1)!.data);
    expect(hub.catchUps.peakActive).toBeLessThanOrEqual(3);
    void hub.close(1001, 'bye');
  });

  it('goes live under a load that never pauses: it aims at a retained batch, not at the moving cursor', async () => {
    const P = 8;
    const { rt, hub, connect } = setup({ catchUpChunk: 20 }, P);
    for (let p = 0; p < P; p++) rt.commit(p, 100);
    await turns(); // flushed with nobody connected: nothing retained, the late client reads the log
    const live = connect();
    const late = connect(new Array<number>(P).fill(0));
    let wentLive = false;
    for (let i = 0; i < 5_000 && !wentLive; i++) {
      // Every partition moves at every flush, faster than reads of them all come back.
      for (let p = 0; p < P; p++) rt.commit(p, 1);
      await new Promise((r) => setImmediate(r));
      // Live: it is sent the very message the live client got.
      wentLive = late.frames.length > 1 && late.frames.at(-1)!.data === live.frames.at(-1)!.data;
    }
    expect(wentLive).toBe(true);
    await turns();
    expect(perPartition(late, P)).toEqual(rt.heads.map((h) => range(0, h)));
    void hub.close(1001, 'bye');
  });

  it('ends a lap where it began even when a kept chunk reaches further (another client read it for a later lap)', async () => {
    const { rt, hub, connect } = setup({ catchUpChunk: 10, highWaterBytes: 1, lowWaterBytes: 0 });
    rt.commit(0, 45);
    rt.commit(1, 10);
    await turns(); // nobody connected: nothing retained
    const slow = connect([0, 0]); // its lap ends at 45.10
    slow.stalled = true; // after the hello: paused after its first catch-up message
    await until(() => hub.pausedCount === 1);
    rt.commit(0, 20);
    await turns();
    const other = connect([40, 10]); // 25 behind: laps to 65.10, reading the chunk 40..50 of partition 0
    await until(() => complete(other, rt.heads, [40, 10]));
    slow.drain();
    await until(() => complete(slow, rt.heads));
    expect(perPartition(slow)).toEqual([range(0, 65), range(0, 10)]);
    expect(slow.messages().map((m) => m.position)).toContain('45.0'); // the message that stopped at 45, in chunk 40..50
    void hub.close(1001, 'bye');
  });

  it('lets at most maxCatchUps clients read the log at once, the others in the order they came', async () => {
    const { rt, hub, connect } = setup({ maxCatchUps: 2, catchUpChunk: 5 });
    rt.commit(0, 60);
    rt.commit(1, 40);
    await turns();
    const clients = Array.from({ length: 8 }, () => connect([0, 0]));
    await until(() => clients.every((c) => complete(c, rt.heads)));
    // Each client's catch-up, as the ranks of its first and last event frames among all frames sent.
    const spans = clients.map((c) => ({ first: c.order[1]!, last: c.order.at(-1)! }));
    const firsts = spans.map((s) => s.first);
    expect([...firsts].sort((a, b) => a - b)).toEqual(firsts); // admitted in arrival order
    for (const { first } of spans) expect(spans.filter((s) => s.first <= first && first <= s.last).length).toBeLessThanOrEqual(2);
    expect(hub.catchUps.peakActive).toBe(2);
    expect(hub.catchUps.waiting).toBe(0);
    void hub.close(1001, 'bye');
  });

  it('does not let a client that stopped reading hold its slot, nor queue more than the high-water mark and one message for it', async () => {
    const { rt, hub, connect } = setup({ maxCatchUps: 1, catchUpChunk: 10, highWaterBytes: 4000, lowWaterBytes: 0 });
    rt.commit(0, 200);
    rt.commit(1, 200);
    await turns();
    const stalled = new FakeSocket();
    stalled.stalled = true;
    connect([0, 0], {}, [0, 1], stalled);
    const others = Array.from({ length: 4 }, () => connect([0, 0]));
    await until(() => others.every((c) => complete(c, rt.heads)));
    expect(hub.pausedCount).toBe(1);
    const largest = Math.max(...stalled.frames.map((f) => Buffer.byteLength(f.data)));
    expect(stalled.bufferedAmount).toBeLessThanOrEqual(4000 + largest);
    expect(complete(stalled, rt.heads)).toBe(false);
    // It reads again: it catches up from where it stopped, losing nothing.
    stalled.drain();
    await until(() => complete(stalled, rt.heads));
    expect(perPartition(stalled)).toEqual([range(0, 200), range(0, 200)]);
    void hub.close(1001, 'bye');
  });

  it('sends clients at the same place the very same bytes, read once, identical to a message built for one client alone', async () => {
    const { rt, hub, connect } = setup({ catchUpChunk: 200 });
    rt.commit(0, 450);
    rt.commit(1, 130);
    await turns();
    const reads = rt.logReads;
    const a = connect([0, 0]);
    const b = connect([0, 0]);
    await until(() => complete(a, rt.heads) && complete(b, rt.heads));
    // Chunks [0,200) [200,400) [400,450) of partition 0 and [0,130) of partition 1: each read once.
    expect(rt.logReads - reads).toBe(4);
    expect(eventFrames(a).map((f) => f.data.toString())).toEqual(eventFrames(b).map((f) => f.data.toString()));
    // The events of a large message are sent as a Buffer shared by both clients, not a copy.
    const shared = a.sends.filter((d) => typeof d !== 'string' && d.length > 16 * 1024);
    expect(shared.length).toBeGreaterThan(0);
    for (const d of shared) expect(b.sends).toContain(d);
    // Each message is exactly what buildMessage makes of those events for that position.
    for (const f of eventFrames(a)) {
      const m = JSON.parse(f.data.toString()) as { position: string; events: EventEnvelope[] };
      const events = m.events.map((e) => rt.logs[e.partition]![e.offset]!);
      expect(f.data.toString()).toBe(buildMessage(m.position, events.map(eventJson)).data.toString());
    }
    void hub.close(1001, 'bye');

    // A lone client of a server that never read these chunks gets the same bytes.
    const alone = setup({ catchUpChunk: 200 });
    alone.rt.commit(0, 450);
    alone.rt.commit(1, 130);
    await turns();
    const c = alone.connect([0, 0]);
    await until(() => complete(c, alone.rt.heads));
    expect(eventFrames(c).map((f) => f.data.toString())).toEqual(eventFrames(a).map((f) => f.data.toString()));
    void alone.hub.close(1001, 'bye');
  });

  it('cuts the messages of filtered clients out of the shared chunks, the same bytes for the same filter', async () => {
    const { rt, hub, connect } = setup({ catchUpChunk: 8 });
    for (let i = 0; i < 10; i++) {
      rt.commit(0, 3);
      rt.commit(0, 2, 'video');
      rt.commit(1, 2, i % 3 === 0 ? 'video' : 'account');
    }
    await turns();
    const everything = connect([0, 0]);
    const videos = [connect([0, 0], { aggregateType: 'video' }), connect([0, 0], { aggregateType: 'video' })];
    const oneStream = connect([0, 0], { stream: 's-1-5' }, [1]);
    await until(() => complete(everything, rt.heads) && hub.catchUps.active === 0 && hub.catchUps.waiting === 0);
    await turns();
    const videoOffsets = rt.logs.map((log) => log.filter((e) => e.aggregateType === 'video').map((e) => e.offset));
    for (const v of videos) expect(perPartition(v)).toEqual(videoOffsets);
    expect(eventFrames(videos[0]!).map((f) => f.data.toString())).toEqual(eventFrames(videos[1]!).map((f) => f.data.toString()));
    expect(oneStream.events().map((e) => `${e.partition}:${e.offset}`)).toEqual(['1:5']);
    void hub.close(1001, 'bye');
  });

  it('brings a client of one partition (a stream filter) to live past retained batches that hold only other partitions', async () => {
    const { rt, hub, connect } = setup({ catchUpChunk: 8 });
    rt.commit(0, 1);
    rt.commit(1, 1);
    await turns();
    const mine = connect([0, 0], {}, [1]);
    // While it reads the log, batches of partition 0 alone and of partition 1 alone are flushed in turn:
    // the replay buffer then holds several batches starting at its offset on partition 1.
    for (let i = 0; i < 6; i++) {
      rt.commit(0, 1);
      await turns(1);
      rt.commit(1, 1);
      await turns(1);
    }
    await until(() => perPartition(mine)[1]!.length === rt.heads[1]);
    rt.commit(1, 2);
    await until(() => perPartition(mine)[1]!.length === rt.heads[1]);
    expect(perPartition(mine)[1]).toEqual(range(0, rt.heads[1]!));
    void hub.close(1001, 'bye');
  });

  it('resumes a client from a position between chunk boundaries with exactly the events after it', async () => {
    const { rt, hub, connect } = setup({ catchUpChunk: 10 });
    rt.commit(0, 35);
    rt.commit(1, 12);
    await turns();
    const first = connect([0, 0]);
    await until(() => complete(first, rt.heads));
    const resumed = connect([13, 4]);
    await until(() => complete(resumed, rt.heads, [13, 4]));
    expect(perPartition(resumed)).toEqual([range(13, 35), range(4, 12)]);
    expect(resumed.messages()[1]!.position).toBe('20.4'); // up to the next boundary, then aligned
    void hub.close(1001, 'bye');
  });
});

describe('the catch-up byte rate', () => {
  it('spaces turns so that catch-ups cover at most catchUpBytesPerSecond, all clients together', async () => {
    const run = async (bytesPerSecond: number): Promise<number> => {
      const scheduler = new CatchUpScheduler({ maxActive: 4, turnBytes: 10_000, share: 1, bytesPerSecond });
      let steps = 0;
      // Two clients with endless work, each step covering 5 000 bytes: a turn takes two steps.
      for (let i = 0; i < 2; i++) scheduler.request({ step: () => (steps++, 5_000) });
      await new Promise((r) => setTimeout(r, 250));
      scheduler.close();
      return steps;
    };
    // 100 000 bytes/s in turns of 10 000: a turn at 0, 100 and 200 ms, two steps each (a slow machine runs fewer, never more).
    expect(await run(100_000)).toBeLessThanOrEqual(8);
    // Unbounded, the same 250 ms run turn after turn (and the closed scheduler above, closed while it
    // waited on a timeout, left the process's immediates working).
    expect(await run(0)).toBeGreaterThan(8);
  });
});
