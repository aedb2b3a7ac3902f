/**
 * The feed hub and its clients against a fake runtime and fake sockets: how commits become batches
 * (split at `maxBatchEvents`, duplicates dropped, skipped offsets read from the log), that clients with
 * the same filter are sent the very same Buffer, and that a paused client resumes from the replay buffer
 * (nothing read from the log) unless the buffer no longer holds its position.
 */
import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/kernel/index.js';
import { setup, turns, type FakeSocket } from '../support/feed-fakes.js';

const offsets = (events: EventEnvelope[]) => events.map((e) => `${e.partition}:${e.offset}`);

describe('the feed hub', () => {
  it('sends what was committed between two flushes as one text message, shared by clients with the same filter', async () => {
    const { rt, hub, connect } = setup();
    const a = connect();
    const b = connect();
    const videos = connect(undefined, { aggregateType: 'video' });
    await turns();
    rt.commit(0, 3);
    rt.commit(1, 2, 'video');
    await turns();
    const batchOf = (s: FakeSocket) => s.frames.slice(1);
    expect(batchOf(a)).toHaveLength(1);
    expect(batchOf(a)[0]!.binary).toBe(false);
    // The very same Buffer, not an equal copy: built once.
    expect(batchOf(a)[0]!.data).toBe(batchOf(b)[0]!.data);
    expect(offsets(a.events())).toEqual(['0:0', '0:1', '0:2', '1:0', '1:1']);
    expect(offsets(videos.events())).toEqual(['1:0', '1:1']);
    expect(a.messages()[1]!.position).toBe('3.2');
    expect(videos.messages()[1]!.position).toBe('3.2');
    hub.close(1001, 'bye');
  });

  it('cuts filtered messages out of the shared one byte-exactly, whatever the characters in the data', async () => {
    const { rt, hub, connect } = setup();
    const all = connect();
    const videos = connect(undefined, { aggregateType: 'video' });
    const one = connect(undefined, { stream: 's-1-1' });
    await turns();
    const events = [...rt.append(0, 2), ...rt.append(1, 3, 'video')];
    events.forEach((e, i) => (e.data = { note: ['é', '🎬 "quoted"', '\u2028', 'plain', 'ß\\'][i] }));
    for (const e of events) rt.announce([e]);
    await turns();
    const data = (s: FakeSocket) => s.events().map((e) => (e.data as { note: string }).note);
    expect(data(all)).toEqual(['é', '🎬 "quoted"', '\u2028', 'plain', 'ß\\']);
    expect(data(videos)).toEqual(['\u2028', 'plain', 'ß\\']);
    expect(data(one)).toEqual(['plain']);
    expect(videos.messages()[1]!.position).toBe(all.messages()[1]!.position);
    hub.close(1001, 'bye');
  });

  it('splits a flush larger than maxBatchEvents and drops events announced twice', async () => {
    const { rt, hub, connect } = setup({ maxBatchEvents: 3 });
    const a = connect();
    await turns();
    const events = rt.append(0, 7);
    rt.announce(events.slice(0, 4));
    rt.announce(events.slice(2, 7)); // 2 and 3 again
    await turns();
    expect(a.messages().slice(1).map((m) => m.events!.length)).toEqual([3, 3, 1]);
    expect(offsets(a.events())).toEqual(['0:0', '0:1', '0:2', '0:3', '0:4', '0:5', '0:6']);
    expect(a.messages().slice(1).map((m) => m.position)).toEqual(['3.0', '6.0', '7.0']);
    hub.close(1001, 'bye');
  });

  it('reads offsets a notification skipped from the log, then goes on live', async () => {
    const { rt, hub, connect } = setup();
    const a = connect();
    await turns();
    rt.commit(0, 2);
    await turns();
    rt.append(0, 2); // committed, never announced (a worker crashed between commit and reply)
    rt.commit(0, 2);
    await turns();
    rt.commit(1, 1);
    await turns();
    expect(offsets(a.events())).toEqual(['0:0', '0:1', '0:2', '0:3', '0:4', '0:5', '1:0']);
    expect(rt.logReads).toBeGreaterThan(0);
    hub.close(1001, 'bye');
  });

  it('makes a client that starts ahead of the cursor (a flush still pending) wait for it, then go live', async () => {
    const { rt, hub, connect } = setup({ batchIntervalMs: 400 });
    const early = connect();
    await turns();
    rt.commit(0, 1);
    await turns(); // flushed at once (the feed was quiet); the next flush waits 400 ms
    rt.commit(0, 2); // announced, not flushed yet
    const late = connect(); // from the runtime's heads: ahead of the hub's cursor
    await turns();
    expect(late.frames).toHaveLength(1); // the hello only
    rt.commit(1, 1);
    await new Promise((r) => setTimeout(r, 450));
    rt.commit(1, 1);
    await new Promise((r) => setTimeout(r, 450));
    expect(offsets(early.events())).toEqual(['0:0', '0:1', '0:2', '1:0', '1:1']);
    expect(offsets(late.events())).toEqual(['1:0', '1:1']);
    expect(late.frames.at(-1)!.data).toBe(early.frames.at(-1)!.data); // live: the shared message
    expect(rt.logReads).toBe(1); // '1:0', flushed with the events before its start, came from the log
    hub.close(1001, 'bye');
  });

  it('resumes a paused client from the replay buffer, sending the same Buffers, without reading the log', async () => {
    const { rt, hub, connect } = setup({ highWaterBytes: 100, lowWaterBytes: 0 });
    const fast = connect();
    const slow = connect();
    await turns();
    slow.stalled = true;
    rt.commit(0, 2);
    await turns();
    expect(hub.pausedCount).toBe(1);
    for (let i = 0; i < 5; i++) {
      rt.commit(i % 2, 3);
      await turns();
    }
    expect(slow.frames).toHaveLength(2); // the hello and the batch that crossed the limit
    slow.drain();
    await turns();
    expect(hub.pausedCount).toBe(0);
    expect(offsets(slow.events())).toEqual(offsets(fast.events()));
    expect(slow.frames.slice(2).map((f) => f.data)).toEqual(fast.frames.slice(2).map((f) => f.data));
    slow.frames.slice(2).forEach((f, i) => expect(f.data).toBe(fast.frames[i + 2]!.data));
    expect(rt.logReads).toBe(0);
    // And it is live again.
    rt.commit(1, 1);
    await turns();
    expect(slow.frames.at(-1)!.data).toBe(fast.frames.at(-1)!.data);
    hub.close(1001, 'bye');
  });

  it('reads the log when the replay buffer no longer holds a paused client position', async () => {
    const { rt, hub, connect } = setup({ highWaterBytes: 100, lowWaterBytes: 0, replayBufferBytes: 1 });
    const fast = connect();
    const slow = connect();
    await turns();
    slow.stalled = true;
    for (let i = 0; i < 4; i++) {
      rt.commit(i % 2, 3);
      await turns();
    }
    slow.drain();
    await turns();
    expect(offsets(slow.events()).sort()).toEqual(offsets(fast.events()).sort());
    expect(rt.logReads).toBeGreaterThan(0);
    expect(hub.replayBytes).toBeGreaterThan(0);
    hub.close(1001, 'bye');
  });

  it('keeps nothing for replay when no client is connected', async () => {
    const { rt, hub, connect } = setup();
    rt.commit(0, 5);
    await turns();
    expect(hub.replayBytes).toBe(0);
    const late = connect([0, 0]);
    await turns();
    expect(offsets(late.events())).toEqual(['0:0', '0:1', '0:2', '0:3', '0:4']);
    late.close();
    rt.commit(0, 1);
    await turns();
    expect(hub.replayBytes).toBe(0);
    hub.close(1001, 'bye');
  });
});
