/**
 * The feed's reader thread (chunk-reader-thread.ts) against a real data dir: short reads made while it
 * starts go to the main thread (a reconnecting client's catch-up does not wait for the thread), long ones
 * wait for it; once it is up it reads the same chunks itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEventide, type Eventide } from '../../src/app/index.js';
import { InlineChunkReader, type ChunkReader } from '../../src/server/feed/chunk-reader.js';
import { FALLBACK_MAX_EVENTS, ThreadChunkReader } from '../../src/server/feed/chunk-reader-thread.js';
import { writeAccounts } from '../support/feed-recorder.js';
import { tempDir } from './helpers.js';

let done: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const d of done.reverse()) await d();
  done = [];
});

/** A reader on this thread that counts the reads it was given. */
function countingInline(log: ConstructorParameters<typeof InlineChunkReader>[0]): ChunkReader & { reads: number } {
  const inline = new InlineChunkReader(log);
  const r = {
    reads: 0,
    onThread: false,
    start: () => undefined,
    read: (p: number, from: number, to: number) => {
      r.reads++;
      return inline.read(p, from, to);
    },
    close: () => inline.close(),
  };
  return r;
}

describe('the feed reader thread', () => {
  it('makes short reads on the main thread while it starts, long ones itself, then all on its own, the same chunks', async () => {
    const tmp = tempDir();
    done.push(() => tmp.remove());
    const eventide: Eventide = await createEventide({ dataDir: tmp.dir, partitions: 4, workers: 1 });
    done.push(() => eventide.close());
    await writeAccounts(eventide.runtime, 'r', 400);
    const { runtime } = eventide;
    const fallback = countingInline(runtime.log);
    const reader = new ThreadChunkReader({ dataDir: runtime.dataDir!, partitions: runtime.partitionCount, domainModules: runtime.domainModules }, fallback);
    done.push(() => reader.close());

    const head = runtime.partitions()[0]!.offset;
    expect(head).toBeGreaterThan(FALLBACK_MAX_EVENTS);
    // Asked before the thread can have opened the log (it starts on the first call): the main thread
    // answers the short read; the long one is the thread's.
    const [early, long] = await Promise.all([reader.read(0, 0, FALLBACK_MAX_EVENTS), reader.read(0, 0, head)]);
    expect(fallback.reads).toBe(1);
    expect(early.end).toBe(FALLBACK_MAX_EVENTS);
    expect(long.end).toBe(head);
    expect(reader.onThread).toBe(true);

    const late = await reader.read(0, 0, FALLBACK_MAX_EVENTS);
    expect(fallback.reads).toBe(1);
    expect(Buffer.from(late.body).equals(Buffer.from(early.body))).toBe(true);
    expect([late.first, late.end]).toEqual([early.first, early.end]);
  });
});
